#include "core/kv_quant.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/int4_pack.h"
#include "core/quant.h"

namespace qf {
namespace {

constexpr float kFp16Max = 65504.0f;
constexpr float kFp16MinSubnormal = 5.9604644775390625e-08f;  // 2^-24

float fp16_round(float x, uint16_t* bits) {
  *bits = fp32_to_fp16(x);
  return fp16_to_fp32(*bits);
}

int32_t qmax_of(const KvCacheScheme& s) { return quant_range(s.bits, s.symmetric).qmax; }

int32_t code_at(const uint8_t* codes, int64_t i, const KvCacheScheme& s) {
  if (s.bits == 8) return s.symmetric ? static_cast<int8_t>(codes[i]) : codes[i];
  const uint8_t b = codes[i / 2];
  if (s.symmetric) return (i & 1) ? int4_hi_signed(b) : int4_lo_signed(b);
  return (i & 1) ? int4_hi_unsigned(b) : int4_lo_unsigned(b);
}

}  // namespace

std::string kv_scheme_error(const KvCacheScheme& s, int64_t head_dim) {
  if (s.bits != 4 && s.bits != 8) return "bits must be 4 or 8, got " + std::to_string(s.bits);
  if (s.group_size < 0) return "group_size must be >= 0 (0 = the whole head), got " + std::to_string(s.group_size);
  if (!(s.clip > 0.0f && s.clip <= 1.0f)) return "clip must be in (0, 1], got " + std::to_string(s.clip);
  if (!s.symmetric && s.clip != 1.0f) return "clip applies to symmetric schemes only";
  if (s.symmetric && s.int_zero_point) return "an integer zero point needs an asymmetric scheme (symmetric: false)";
  if (head_dim > 0 && s.group_size > 0 && head_dim % s.group_size != 0)
    return "group_size " + std::to_string(s.group_size) + " does not divide the head dimension " +
           std::to_string(head_dim);
  return "";
}

int64_t kv_group(const KvCacheScheme& s, int64_t head_dim) { return s.group_size > 0 ? s.group_size : head_dim; }

KvGroupParams kv_group_params(const float* x, int64_t n, const KvCacheScheme& s) {
  KvGroupParams p;
  const float qmax = static_cast<float>(qmax_of(s));
  if (s.symmetric) {
    float absmax = 0.0f;
    for (int64_t i = 0; i < n; ++i) absmax = std::fmax(absmax, std::fabs(x[i]));
    const float s32 = std::fmin((absmax * s.clip) / qmax, kFp16Max);
    p.scale = fp16_round(s32, &p.scale_fp16);
    if (p.scale == 0.0f) p.scale = fp16_round(absmax > 0.0f ? kFp16MinSubnormal : 1.0f, &p.scale_fp16);
    return p;
  }
  float lo = x[0], hi = x[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::fmin(lo, x[i]);
    hi = std::fmax(hi, x[i]);
  }
  if (s.int_zero_point) {
    lo = std::fmin(lo, 0.0f);
    hi = std::fmax(hi, 0.0f);
    const float s32 = std::fmin((hi - lo) / qmax, kFp16Max);
    p.scale = fp16_round(s32, &p.scale_fp16);
    if (p.scale == 0.0f) p.scale = fp16_round(hi > lo ? kFp16MinSubnormal : 1.0f, &p.scale_fp16);
    p.zero = static_cast<int32_t>(std::fmin(std::fmax(round_half_even(-lo / p.scale), 0.0f), qmax));
    return p;
  }
  p.offset = fp16_round(std::fmin(std::fmax(lo, -kFp16Max), kFp16Max), &p.offset_fp16);
  const float s32 = std::fmin(std::fmax((hi - p.offset) / qmax, 0.0f), kFp16Max);
  p.scale = fp16_round(s32, &p.scale_fp16);
  if (p.scale == 0.0f) p.scale = fp16_round(1.0f, &p.scale_fp16);
  return p;
}

int64_t kv_code_bytes(int64_t c, int bits) { return bits == 4 ? int4_row_bytes(c) : c; }

int64_t kv_row_code_bytes(int64_t c, int64_t group, const KvCacheScheme& s) {
  return kv_code_bytes(c, s.bits) + (s.int_zero_point ? kv_code_bytes(c / group, s.bits) : 0);
}

int64_t kv_row_bytes(int64_t c, int64_t group, const KvCacheScheme& s) {
  return kv_row_code_bytes(c, group, s) + (c / group) * 2 * (kv_has_fp16_offset(s) ? 2 : 1);
}

void kv_quantize_row(const float* x, int64_t c, int64_t group, const KvCacheScheme& s, uint8_t* codes,
                     uint16_t* scales, uint16_t* offsets) {
  if (group <= 0 || c % group != 0)
    throw Error("kv cache: group " + std::to_string(group) + " does not divide the row of " + std::to_string(c));
  const QuantRange r = quant_range(s.bits, s.symmetric);
  if (s.bits == 4)  // odd counts: the padding nibbles are 0
    for (int64_t j = 0; j < kv_row_code_bytes(c, group, s); ++j) codes[j] = 0;
  auto put = [&](uint8_t* dst, int64_t k, int32_t code) {
    if (s.bits == 8) dst[k] = static_cast<uint8_t>(code);
    else dst[k / 2] = static_cast<uint8_t>(dst[k / 2] | ((static_cast<uint32_t>(code) & 0xFu) << (4 * (k & 1))));
  };
  uint8_t* zeros = codes + kv_code_bytes(c, s.bits);
  for (int64_t g = 0; g < c / group; ++g) {
    const float* xg = x + g * group;
    const KvGroupParams p = kv_group_params(xg, group, s);
    scales[g] = p.scale_fp16;
    if (kv_has_fp16_offset(s)) offsets[g] = p.offset_fp16;
    if (s.int_zero_point) put(zeros, g, p.zero);
    const float z = static_cast<float>(p.zero);
    for (int64_t i = 0; i < group; ++i) {
      float q;
      if (s.int_zero_point) {
        q = round_half_even(xg[i] / p.scale) + z;
      } else {
        q = round_half_even(s.symmetric ? xg[i] / p.scale : (xg[i] - p.offset) / p.scale);
      }
      q = std::fmin(std::fmax(q, static_cast<float>(r.qmin)), static_cast<float>(r.qmax));
      put(codes, g * group + i, static_cast<int32_t>(q));
    }
  }
}

void kv_dequantize_row(const uint8_t* codes, const uint16_t* scales, const uint16_t* offsets, int64_t c0, int64_t n,
                       int64_t group, const KvCacheScheme& s, float* y, const uint8_t* zeros) {
  if (s.int_zero_point && !zeros) throw Error("kv cache: an integer-zero-point row read without its zero points");
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = c0 + i, g = k / group;
    const float sc = fp16_to_fp32(scales[g]);
    const float q = static_cast<float>(code_at(codes, k, s));
    if (s.int_zero_point) y[i] = (q - static_cast<float>(code_at(zeros, g, s))) * sc;
    else y[i] = s.symmetric ? q * sc : q * sc + fp16_to_fp32(offsets[g]);
  }
}

void kv_fake_quantize_row(const float* x, int64_t c, int64_t group, const KvCacheScheme& s, float* y) {
  std::vector<uint8_t> codes(static_cast<size_t>(kv_row_code_bytes(c, group, s)));
  std::vector<uint16_t> scales(static_cast<size_t>(c / group)), offsets(scales.size());
  kv_quantize_row(x, c, group, s, codes.data(), scales.data(), offsets.data());
  kv_dequantize_row(codes.data(), scales.data(), offsets.data(), 0, c, group, s, y,
                    codes.data() + kv_code_bytes(c, s.bits));
}

}  // namespace qf
