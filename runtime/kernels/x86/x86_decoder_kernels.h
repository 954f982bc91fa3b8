// Decoder entries of the x86 tables (decoder_x86.cpp, baseline flags): bit-identical to the
// reference kernels of kernels/ref/decoder_ref.h, threaded. Tests: tests/runtime/decoder_kernels_test.cpp.
#pragma once

#include <cstdint>

namespace qf::kernels::x86 {

// One block of gqa_attention: queries [i0, i1) of query heads [h0, h1), all reading kv head g;
// output row i of head h at y + (i - i0) * y_stride + (h - h0) * d. The other fields are the
// kernel's arguments.
struct GqaBlock {
  const float *q, *k, *v;
  int64_t q_stride, kv_stride, t, l, d, window;
  float scale;
  int64_t g, h0, h1, i0, i1;
  float* y;
  int64_t y_stride;
};
// The AVX-512 block (decoder_avx512.cpp, 8 doubles per vector) and the scratch it needs.
void gqa_block__avx512(const GqaBlock& b, double* scratch);
int64_t gqa_block_scratch_doubles__avx512(int64_t t_block, int64_t group, int64_t l, int64_t d);

// f32_gqa_attention_ref's contract and bits (float KV cache), split over (query block, kv head):
// __x86 with scalar blocks (four keys' chains interleaved), __avx512 with gqa_block__avx512.
void f32_gqa_attention__avx512(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                               int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                               float scale, float* scratch, float* y);
void f32_gqa_attention__x86(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                            int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                            float scale, float* scratch, float* y);

// f32_gated_act_ref on chunks of the elements, over the pool (same bits).
void f32_gated_act__x86(const float* g, const float* u, int64_t n, int act, float* y);

}  // namespace qf::kernels::x86
