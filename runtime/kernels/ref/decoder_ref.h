// Reference kernels of the decoder ops (RMSNorm, rotary embedding, grouped-query attention,
// gated activations, scale): the oracle for any optimized variant. Contracts: kernels.h.
#pragma once

#include "runtime/kernels/kernels.h"

namespace qf::kernels {

void f32_rms_norm_ref(const float* x, int64_t n, int64_t d, const float* w, float eps, int plus_one, float* y);
void f32_rope_ref(const float* x, int64_t rows, int64_t period, int64_t p0, int64_t heads, int64_t h2,
                  const float* inv_freq, float* y);
void f32_gqa_attention_ref(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                           int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                           float scale, float* scratch, float* y);
void f32_gated_act_ref(const float* g, const float* u, int64_t n, int act, float* y);
void f32_scale_ref(const float* x, int64_t n, float s, float* y);

}  // namespace qf::kernels
