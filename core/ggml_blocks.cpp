#include "core/ggml_blocks.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"

namespace qf {
namespace {

void check_k(int64_t k, const char* what) {
  if (k < 0 || k % kGgmlBlock != 0)
    throw Error(std::string(what) + ": row length " + std::to_string(k) +
                " is not a multiple of the block size 32");
}

}  // namespace

void quantize_row_q4_0(const float* x, int64_t k, BlockQ4_0* y) {
  check_k(k, "Q4_0");
  for (int64_t b = 0; b < k / kGgmlBlock; ++b) {
    const float* xb = x + b * kGgmlBlock;
    float amax = 0.0f, m = 0.0f;
    for (int j = 0; j < kGgmlBlock; ++j)
      if (amax < std::fabs(xb[j])) {  // strict: the first element of largest magnitude wins
        amax = std::fabs(xb[j]);
        m = xb[j];
      }
    const float d = m / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    uint8_t c[kGgmlBlock];
    for (int j = 0; j < kGgmlBlock; ++j) {
      const float t = xb[j] * id + 8.5f;  // two roundings (no FMA: -ffp-contract=off)
      const int v = static_cast<int>(std::trunc(t));  // C's float -> int conversion truncates
      c[j] = static_cast<uint8_t>(v < 15 ? v : 15);
    }
    for (int j = 0; j < 16; ++j) y[b].qs[j] = static_cast<uint8_t>(c[j] | (c[j + 16] << 4));
  }
}

void dequantize_row_q4_0(const BlockQ4_0* y, int64_t k, float* x) {
  check_k(k, "Q4_0");
  for (int64_t b = 0; b < k / kGgmlBlock; ++b) {
    const float d = fp16_to_fp32(y[b].d);
    for (int j = 0; j < 16; ++j) {
      x[b * kGgmlBlock + j] = static_cast<float>((y[b].qs[j] & 0x0F) - 8) * d;
      x[b * kGgmlBlock + j + 16] = static_cast<float>((y[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void quantize_row_q8_0(const float* x, int64_t k, BlockQ8_0* y) {
  check_k(k, "Q8_0");
  for (int64_t b = 0; b < k / kGgmlBlock; ++b) {
    const float* xb = x + b * kGgmlBlock;
    float amax = 0.0f;
    for (int j = 0; j < kGgmlBlock; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kGgmlBlock; ++j)
      y[b].qs[j] = static_cast<int8_t>(std::round(xb[j] * id));  // roundf: half away from zero
  }
}

void dequantize_row_q8_0(const BlockQ8_0* y, int64_t k, float* x) {
  check_k(k, "Q8_0");
  for (int64_t b = 0; b < k / kGgmlBlock; ++b) {
    const float d = fp16_to_fp32(y[b].d);
    for (int j = 0; j < kGgmlBlock; ++j)
      x[b * kGgmlBlock + j] = static_cast<float>(y[b].qs[j]) * d;
  }
}

void fake_quantize_ggml(GgmlFormat f, const float* x, int64_t rows, int64_t k, float* out) {
  if (f == GgmlFormat::kNone) throw Error("fake_quantize_ggml: no block format given");
  check_k(k, ggml_format_name(f));
  const int64_t nb = k / kGgmlBlock;
  std::vector<BlockQ4_0> b4(static_cast<size_t>(f == GgmlFormat::kQ4_0 ? nb : 0));
  std::vector<BlockQ8_0> b8(static_cast<size_t>(f == GgmlFormat::kQ8_0 ? nb : 0));
  for (int64_t r = 0; r < rows; ++r) {
    if (f == GgmlFormat::kQ4_0) {
      quantize_row_q4_0(x + r * k, k, b4.data());
      dequantize_row_q4_0(b4.data(), k, out + r * k);
    } else {
      quantize_row_q8_0(x + r * k, k, b8.data());
      dequantize_row_q8_0(b8.data(), k, out + r * k);
    }
  }
}

int ggml_storage_bits(GgmlFormat f) {
  if (f == GgmlFormat::kNone) throw Error("ggml_storage_bits: no block format given");
  return f == GgmlFormat::kQ4_0 ? 5 : 8;
}

void ggml_blocks_as_codes(GgmlFormat f, const float* x, int64_t rows, int64_t k, int32_t* codes, float* scales) {
  if (f == GgmlFormat::kNone) throw Error("ggml_blocks_as_codes: no block format given");
  check_k(k, ggml_format_name(f));
  const int64_t nb = k / kGgmlBlock;
  std::vector<BlockQ4_0> b4(static_cast<size_t>(f == GgmlFormat::kQ4_0 ? nb : 0));
  std::vector<BlockQ8_0> b8(static_cast<size_t>(f == GgmlFormat::kQ8_0 ? nb : 0));
  for (int64_t r = 0; r < rows; ++r) {
    if (f == GgmlFormat::kQ4_0) quantize_row_q4_0(x + r * k, k, b4.data());
    else quantize_row_q8_0(x + r * k, k, b8.data());
    for (int64_t b = 0; b < nb; ++b) {
      const float d = fp16_to_fp32(f == GgmlFormat::kQ4_0 ? b4[b].d : b8[b].d);
      if (!std::isfinite(d)) throw Error(std::string(ggml_format_name(f)) + ": a block scale overflowed fp16");
      int32_t* c = codes + r * k + b * kGgmlBlock;
      scales[r * nb + b] = d != 0.0f ? std::fabs(d) : 1.0f;
      const int32_t sign = d > 0.0f ? 1 : d < 0.0f ? -1 : 0;  // 0: every value is 0
      for (int j = 0; j < kGgmlBlock; ++j) {
        const int32_t v = f == GgmlFormat::kQ8_0 ? b8[b].qs[j]
                          : j < 16                ? (b4[b].qs[j] & 0x0F) - 8
                                                  : (b4[b].qs[j - 16] >> 4) - 8;
        c[j] = v * sign;
      }
    }
  }
}

}  // namespace qf
