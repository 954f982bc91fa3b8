// Causal attention entries of the x86 tables over a float or a quantized (kv_cache_int4) cache
// (attention_x86.cpp threads them; attention_avx512.cpp / attention_avx2.cpp compute a block of
// queries x heads). Not bit-identical to the reference: vector FMAs over the head dimension, a
// polynomial exp and a lane-wise softmax sum (tolerance stated in
// tests/runtime/attention_kernels_test.cpp). The quantized kernels equal the float kernels of the
// same ISA on the dequantized cache bit for bit, and every (query, head) is computed the same
// way whatever the thread count or the other rows of a batch.
#pragma once

#include <cstdint>

#include "runtime/kernels/kernels.h"

namespace qf::kernels::x86 {

// Table entries (AttentionFn / QkvAttentionFn contracts, kernels.h).
void f32_causal_attention__avx512(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                  int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y);
void f32_causal_attention__avx2(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y);
void f32_qkv_causal_attention__avx512(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                                      int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y);
void f32_qkv_causal_attention__avx2(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                                    int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y);
// QuantizeKvRowsFn: core/kv_quant.h's rule, exactly (the same codes and fp16 scales). AVX-512:
// symmetric schemes whose group is a multiple of 16 values in vectors; anything else (and the
// AVX2 table) runs the reference.
void f32_quantize_kv_rows__avx512(const float* x, int64_t rows, int64_t x_stride, int64_t c, const KvQuant& q,
                                  uint8_t* codes, int64_t code_stride, uint16_t* scales, uint16_t* offsets,
                                  int64_t scale_stride);

// One block of work for the ISA files: queries [i0, i1) x heads [h0, h1) of one batch element.
struct AttentionBlock {
  const float* q;
  int64_t q_stride, t, l, c, heads;
  int64_t i0, i1, h0, h1;
  float* y;
};
// sc: >= (h1 - h0) * l floats; lane_groups: >= 2 * ceil(d / lanes) * lanes floats.
void f32_causal_attention_block__avx512(const AttentionBlock& a, const float* k, const float* v, int64_t kv_stride,
                                        float* sc);
void f32_causal_attention_block__avx2(const AttentionBlock& a, const float* k, const float* v, int64_t kv_stride,
                                      float* sc);
void f32_qkv_causal_attention_block__avx512(const AttentionBlock& a, const QuantKvRows& k, const QuantKvRows& v,
                                            float* sc, float* lane_groups);
void f32_qkv_causal_attention_block__avx2(const AttentionBlock& a, const QuantKvRows& k, const QuantKvRows& v,
                                          float* sc, float* lane_groups);
void f32_quantize_kv_rows_sym__avx512(const float* x, int64_t rows, int64_t x_stride, int64_t c, const KvQuant& q,
                                      uint8_t* codes, int64_t code_stride, uint16_t* scales, int64_t scale_stride);
int attention_lanes__avx512();  // W: floats per vector
int attention_lanes__avx2();

}  // namespace qf::kernels::x86
