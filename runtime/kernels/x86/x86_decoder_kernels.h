// Decoder entries of the x86 tables (decoder_x86.cpp, baseline flags): bit-identical to the
// reference kernels of kernels/ref/decoder_ref.h, threaded. Tests: tests/runtime/decoder_kernels_test.cpp.
#pragma once

#include <cstdint>

namespace qf::kernels::x86 {

// f32_gqa_attention_ref's contract and bits (float KV cache), split over (query block, kv head).
void f32_gqa_attention__x86(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                            int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                            float scale, float* scratch, float* y);

// f32_gated_act_ref on chunks of the elements, over the pool (same bits).
void f32_gated_act__x86(const float* g, const float* u, int64_t n, int act, float* y);

}  // namespace qf::kernels::x86
