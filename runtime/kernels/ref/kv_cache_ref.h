// Reference kernels of the quantized KV cache (format feature kv_cache_int4): quantizing rows
// into the cache with core/kv_quant.h's rule, and attention reading the cache dequantized row
// by row. The oracle for any optimized variant. Contracts: kernels.h.
#pragma once

#include "core/kv_quant.h"
#include "runtime/kernels/kernels.h"

namespace qf::kernels {

// The core/kv_quant.h scheme a kernel-table KvQuant describes (the rule both sides follow).
KvCacheScheme kv_scheme_of(const KvQuant& q);

void f32_quantize_kv_rows_ref(const float* x, int64_t rows, int64_t x_stride, int64_t c, const KvQuant& q,
                              uint8_t* codes, int64_t code_stride, uint16_t* scales, uint16_t* offsets,
                              int64_t scale_stride);
void f32_qkv_causal_attention_ref(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                                  int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y);
void f32_qkv_gqa_attention_ref(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                               int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                               float scale, float* scratch, float* y);

}  // namespace qf::kernels
