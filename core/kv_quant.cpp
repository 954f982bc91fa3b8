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
  p.offset = fp16_round(std::fmin(std::fmax(lo, -kFp16Max), kFp16Max), &p.offset_fp16);
  const float s32 = std::fmin(std::fmax((hi - p.offset) / qmax, 0.0f), kFp16Max);
  p.scale = fp16_round(s32, &p.scale_fp16);
  if (p.scale == 0.0f) p.scale = fp16_round(1.0f, &p.scale_fp16);
  return p;
}

int64_t kv_code_bytes(int64_t c, int bits) { return bits == 4 ? int4_row_bytes(c) : c; }

int64_t kv_row_bytes(int64_t c, int64_t group, const KvCacheScheme& s) {
  return kv_code_bytes(c, s.bits) + (c / group) * 2 * (s.symmetric ? 1 : 2);
}

void kv_quantize_row(const float* x, int64_t c, int64_t group, const KvCacheScheme& s, uint8_t* codes,
                     uint16_t* scales, uint16_t* offsets) {
  if (group <= 0 || c % group != 0)
    throw Error("kv cache: group " + std::to_string(group) + " does not divide the row of " + std::to_string(c));
  const QuantRange r = quant_range(s.bits, s.symmetric);
  if (s.bits == 4)
    for (int64_t j = 0; j < int4_row_bytes(c); ++j) codes[j] = 0;  // odd c: the padding nibble is 0
  for (int64_t g = 0; g < c / group; ++g) {
    const float* xg = x + g * group;
    const KvGroupParams p = kv_group_params(xg, group, s);
    scales[g] = p.scale_fp16;
    if (!s.symmetric) offsets[g] = p.offset_fp16;
    for (int64_t i = 0; i < group; ++i) {
      const float v = s.symmetric ? xg[i] / p.scale : (xg[i] - p.offset) / p.scale;
      const float q = std::fmin(std::fmax(round_half_even(v), static_cast<float>(r.qmin)), static_cast<float>(r.qmax));
      const int32_t code = static_cast<int32_t>(q);
      const int64_t k = g * group + i;
      if (s.bits == 8) {
        codes[k] = static_cast<uint8_t>(code);
      } else {
        codes[k / 2] = static_cast<uint8_t>(codes[k / 2] | ((static_cast<uint32_t>(code) & 0xFu) << (4 * (k & 1))));
      }
    }
  }
}

void kv_dequantize_row(const uint8_t* codes, const uint16_t* scales, const uint16_t* offsets, int64_t c0, int64_t n,
                       int64_t group, const KvCacheScheme& s, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = c0 + i, g = k / group;
    const float sc = fp16_to_fp32(scales[g]);
    const float q = static_cast<float>(code_at(codes, k, s));
    y[i] = s.symmetric ? q * sc : q * sc + fp16_to_fp32(offsets[g]);
  }
}

void kv_fake_quantize_row(const float* x, int64_t c, int64_t group, const KvCacheScheme& s, float* y) {
  std::vector<uint8_t> codes(static_cast<size_t>(kv_code_bytes(c, s.bits)));
  std::vector<uint16_t> scales(static_cast<size_t>(c / group)), offsets(scales.size());
  kv_quantize_row(x, c, group, s, codes.data(), scales.data(), offsets.data());
  kv_dequantize_row(codes.data(), scales.data(), offsets.data(), 0, c, group, s, y);
}

}  // namespace qf
