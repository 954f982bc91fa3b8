// Scaled FP8 E4M3 quantization (core/fp8_e4m3.h) of weights and activations, and the exact
// E4M3 dot product: the arithmetic of the checkpoint feature `fp8_e4m3` (export/FORMAT.md),
// shared by the fake quantizer (qat/), the exporter, the contract and the runtime's kernels.
//
//  * Scale from a range: s = amax / 448 in float32 (core/quant.h's symmetric rule with 448 in
//    place of qmax: an all-zero range gives 1, a positive scale below 1e-12 becomes 1e-12).
//  * Quantize:   code = fp32_to_e4m3(x / s)   (one float32 division, then RNE + saturation)
//    Dequantize: x = e4m3_to_fp32(code) * s   (one float32 multiply)
//  * Exact dot product of two rows of codes: the real sum of e4m3(a[k]) * e4m3(b[k]) is
//    computed exactly (int64 over the values times 2^9) and rounded once to float32.
#pragma once

#include <cstdint>

#include "core/fp8_e4m3.h"
#include "core/quantize_rows.h"

namespace qf {

// The longest FP8 dot product (K) the checkpoint format allows on the E4M3 x E4M3 path: below
// it, products (multiples of 2^-18 up to 448^2) sum exactly in float64 in any order (K * 448^2 <
// 2^35), so every implementation -- the int64 kernels, a BLAS in double -- gets the same sum.
inline constexpr int64_t kFp8MaxK = 131072;

// amax / 448 with core's floor rules.
float e4m3_scale(float absmax);

// Per tensor (layout granularity kTensor: one scale) or per channel (kChannel: one per row);
// kGroup is not an FP8 granularity (throws qf::Error). Scales from the data when `given` is
// null, else `given` (e.g. the exact scales training used, finite and > 0).
void quantize_e4m3_matrix(const float* x, const QuantLayout& layout, const float* given, float* scales,
                          uint8_t* codes);
// x[i] = e4m3_to_fp32(codes[i]) * scale of i.
void dequantize_e4m3_matrix(const uint8_t* codes, const QuantLayout& layout, const float* scales, float* x);

// Activations: static per-tensor codes with a given scale; dynamic per-row (per-token) scales
// amax(row) / 448 and codes.
void quantize_e4m3_tensor(const float* x, int64_t n, float scale, uint8_t* codes);
void quantize_e4m3_per_row(const float* x, int64_t rows, int64_t cols, uint8_t* codes, float* scales);

// The exact sum over k < n of e4m3(a[k]) * e4m3(b[k]), rounded once to float32 (nearest even);
// NaN when a code of `a` is a NaN pattern (weights never hold one: the reader rejects them).
// Exact for any n below 2^27 (int64 accumulation of products below 2^36).
float e4m3_dot_exact(const uint8_t* a, const uint8_t* b, int64_t n);

}  // namespace qf
