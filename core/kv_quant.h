// The quantized KV cache's arithmetic (format feature `kv_cache_int4`, export/FORMAT.md "KV cache
// quantization"): one rule, used by training's fake quantization (train/kv_fake_quant.h, which
// reproduces it with LibTorch ops and is tested against this file bit for bit), by the exporter's
// contract and by the runtime's cache kernels.
//
// A cache row is one token's K (or V) for all kv heads, C = kv_heads * head_dim floats. It is cut
// into groups of `group_size` consecutive values (group_size divides head_dim, so a group never
// spans two heads); each (token, group) has its own scale, stored as IEEE binary16:
//
//   symmetric (codes [-qmax, qmax], qmax = 2^(bits-1) - 1: int4 [-7, 7], int8 [-127, 127]):
//     s32 = min((absmax * clip) / qmax, 65504)       absmax = max |x| over the group
//     s   = fp16(s32)  (round to nearest even; stored)
//           if s == 0: s = 2^-24 when absmax > 0 (underflow), 1 when the group is all zeros
//     q   = clamp(round_half_even(x / s), -qmax, qmax),   x' = q * s
//   asymmetric (codes [0, 2^bits - 1], an fp16 offset m per group, stored beside the scale):
//     m   = fp16(clamp(min, -65504, 65504))
//     s   = fp16(min(max((max - m) / qmax, 0), 65504)),  if s == 0: s = 1
//     q   = clamp(round_half_even((x - m) / s), 0, qmax),  x' = q * s + m
//   asymmetric with an integer zero point (`int_zero_point`, feature kv_cache_zero_point: codes
//   [0, qmax], qmax = 2^bits - 1, and z in [0, qmax] stored as one more code of the same width,
//   after the row's codes; the range is widened to hold 0, so that z exists):
//     lo  = min(min, 0),  hi = max(max, 0)
//     s   = fp16(min((hi - lo) / qmax, 65504)),  if s == 0: s = 2^-24 when hi > lo, else 1
//     z   = clamp(round_half_even(-lo / s), 0, qmax)
//     q   = clamp(round_half_even(x / s) + z, 0, qmax),  x' = (q - z) * s
//
// Every step is one IEEE float32 operation (division, not a reciprocal multiply), so LibTorch's
// `round(x / s)` computes the same codes. The scale is rounded to fp16 *before* the codes are
// computed: what is stored is exactly what was used. `clip` (symmetric only, in (0, 1]) is a
// calibrated clipping ratio; 1 keeps every value in range. NaN inputs are undefined.
#pragma once

#include <cstdint>
#include <string>

namespace qf {

struct KvCacheScheme {
  int bits = 4;             // 4 (two codes per byte) or 8 (one per byte)
  int64_t group_size = 32;  // values per scale along the head dimension; 0 = the whole head
  bool symmetric = true;    // false: unsigned codes + an fp16 offset per group
  float clip = 1.0f;        // symmetric clipping ratio, (0, 1]
  // Asymmetric only: the offset is an integer zero point of `bits` bits (4.625 bits per value at
  // int4 g32, against 5 with the fp16 offset), stored after the row's codes.
  bool int_zero_point = false;
};

// "" when `s` is valid for heads of `head_dim` values, else what is wrong.
std::string kv_scheme_error(const KvCacheScheme& s, int64_t head_dim);
// The group size the scheme means for heads of `head_dim` (group_size 0 -> head_dim).
int64_t kv_group(const KvCacheScheme& s, int64_t head_dim);

// Per (token, group) parameters as used and as stored.
struct KvGroupParams {
  float scale = 1.0f;
  float offset = 0.0f;  // asymmetric with an fp16 offset only (m); 0 otherwise
  int32_t zero = 0;     // integer zero point (int_zero_point) only
  uint16_t scale_fp16 = 0x3C00, offset_fp16 = 0;
};
KvGroupParams kv_group_params(const float* x, int64_t n, const KvCacheScheme& s);

// Bytes of codes of one row of c values: ceil(c / 2) for 4 bits (core/int4_pack.h layout: value
// 2j in the low nibble of byte j), c for 8 bits (int8 symmetric, uint8 asymmetric).
int64_t kv_code_bytes(int64_t c, int bits);
// Whether the scheme stores an fp16 offset per group (asymmetric without an integer zero point).
inline bool kv_has_fp16_offset(const KvCacheScheme& s) { return !s.symmetric && !s.int_zero_point; }
// Bytes of one row's code part: kv_code_bytes(c) codes, then (int_zero_point) the c / group zero
// points packed the same way (kv_code_bytes(c / group)), starting at byte kv_code_bytes(c).
int64_t kv_row_code_bytes(int64_t c, int64_t group, const KvCacheScheme& s);
// Cache bytes per token per row of c values: codes (+ integer zero points) + fp16 scales (+ fp16
// offsets).
int64_t kv_row_bytes(int64_t c, int64_t group, const KvCacheScheme& s);

// Quantizes one row of c values in groups of `group` (must divide c): codes [kv_row_code_bytes]
// (the zero points too, with int_zero_point), scales [c / group] fp16 bits, offsets [c / group]
// fp16 bits (fp16 offsets only; may be null otherwise).
void kv_quantize_row(const float* x, int64_t c, int64_t group, const KvCacheScheme& s, uint8_t* codes,
                     uint16_t* scales, uint16_t* offsets);
// The inverse for values [c0, c0 + n) of a row (c0 and n multiples of `group`): y[i] = q * s (+ m),
// or (q - z) * s. `zeros` (int_zero_point only): the row's zero points, group g's at code index g
// (codes + kv_code_bytes(c, bits) for a row written by kv_quantize_row).
void kv_dequantize_row(const uint8_t* codes, const uint16_t* scales, const uint16_t* offsets, int64_t c0, int64_t n,
                       int64_t group, const KvCacheScheme& s, float* y, const uint8_t* zeros = nullptr);
// quantize then dequantize (what training's fake quantization computes), row of c values.
void kv_fake_quantize_row(const float* x, int64_t c, int64_t group, const KvCacheScheme& s, float* y);

}  // namespace qf
