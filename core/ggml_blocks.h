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

// The blocks as a .qf.h5 checkpoint stores them (export/FORMAT.md: weight_format int8, group 32;
// the format wants symmetric codes and positive scales): per element an integer code, per block
// a float32 scale > 0, with code * scale == ggml's dequantized value exactly (a small integer
// times an fp16 value is exact in float32). Q4_0: scale |fp16(d)|, code (c - 8) * sign(d), so
// codes lie in [-8, 8]: [-8, 7] where d > 0, [-7, 8] where d < 0 (5 bits); Q8_0: scale fp16(d),
// code c in [-127, 127] (8 bits). A block whose fp16 d is 0 (all zero, or d below fp16's range)
// gets codes 0 and scale 1. Throws qf::Error when an fp16 scale overflowed to infinity.
int ggml_storage_bits(GgmlFormat f);  // 5 (Q4_0) | 8 (Q8_0)
void ggml_blocks_as_codes(GgmlFormat f, const float* x, int64_t rows, int64_t k, int32_t* codes, float* scales);

// x -> dequantize(quantize(x)), row by row ([rows, k]); what QAT's fake quantizer computes.
void fake_quantize_ggml(GgmlFormat f, const float* x, int64_t rows, int64_t k, float* out);

}  // namespace qf
