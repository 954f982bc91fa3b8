// llama.cpp's (ggml's) Q4_0 and Q8_0 block formats and their reference quantizers
// (`quantize_row_q4_0_ref`, `quantize_row_q8_0_ref`), re-implemented from their documented
// arithmetic so that QAT can train against exactly what a GGUF file will hold.
//
// Both quantize a row in blocks of 32 consecutive elements along K, one fp16 scale d per block:
//  * Q4_0: m = the element of largest |x| (the first one on ties), d = m / -8 (float32),
//          codes c = min(15, trunc(x * (1/d) + 8.5)) in [0, 15] (value c - 8 in [-8, 7]),
//          stored d = fp16(d); dequantized (c - 8) * float(fp16(d)). The block's extreme element
//          maps to -8 exactly; the opposite side reaches +7 (clamped from +8).
//  * Q8_0: d = max|x| / 127 (float32), codes c = roundf(x * (1/d)) (half away from zero) in
//          [-127, 127], stored d = fp16(d); dequantized c * float(fp16(d)).
// Note the codes use the reciprocal of the *float32* d and the dequantization the fp16-rounded
// d: that is ggml's arithmetic, and the fake quantizer (qat/) reproduces it bit for bit.
// An all-zero block gets d = 0 (1/d taken as 0) and codes for 0.
#pragma once

#include <cstdint>
#include <string>

#include "core/quant_scheme.h"

namespace qf {

inline constexpr int64_t kGgmlBlock = 32;  // QK4_0 == QK8_0

// Byte layouts as in a GGUF file (little-endian; no padding: 18 and 34 bytes).
struct BlockQ4_0 {
  uint16_t d;       // fp16 scale
  uint8_t qs[16];   // qs[j] = c[j] | c[j + 16] << 4
};
struct BlockQ8_0 {
  uint16_t d;      // fp16 scale
  int8_t qs[32];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must be 18 bytes");
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes");

// k must be a multiple of 32 (qf::Error otherwise). y holds k / 32 blocks.
void quantize_row_q4_0(const float* x, int64_t k, BlockQ4_0* y);
void dequantize_row_q4_0(const BlockQ4_0* y, int64_t k, float* x);
void quantize_row_q8_0(const float* x, int64_t k, BlockQ8_0* y);
void dequantize_row_q8_0(const BlockQ8_0* y, int64_t k, float* x);

// x -> dequantize(quantize(x)), row by row ([rows, k]); what QAT's fake quantizer computes.
void fake_quantize_ggml(GgmlFormat f, const float* x, int64_t rows, int64_t k, float* out);

}  // namespace qf
