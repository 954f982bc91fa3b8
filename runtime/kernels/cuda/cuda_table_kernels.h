// The entries of the `cuda` kernel table (cuda_table.h), one declaration per KernelTable slot
// they fill, with kernels.h's signatures: device pointers in, device pointers out, queued on the
// default stream. Names follow kernels/README.md with the `__cuda` suffix.
#pragma once

#include <memory>

#include "runtime/kernels/kernels.h"

namespace qf::cuda {

// qgemm_exact.cu: int8 / int4 weights, per channel or per group, qu8 / qs8 activations.
std::unique_ptr<kernels::PreparedQWeights> prepare_qweights__cuda(const kernels::QWeights& w);
void qu8_qs8w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias, float* y);
void qs8_qs8w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias, float* y);
void qu8_qs4w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias, float* y);
void qs8_qs4w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias, float* y);
void qu8_qs8nmw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                               float* y);
void qs8_qs8nmw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                               float* y);

// block_sparse_gemm.cu: block-sparse (BSR) int8 / int4 weights; prepare_qweights__cuda hands them
// to prepare_block_sparse__cuda.
std::unique_ptr<kernels::PreparedQWeights> prepare_block_sparse__cuda(const kernels::QWeights& w);
void qu8_qs8bsw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                               float* y);
void qs8_qs8bsw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                               float* y);
void qu8_qs4bsw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                               float* y);
void qs8_qs4bsw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                               float* y);

// f32_gemm.cu
void f32_gemm__cuda(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y);

// data_kernels.cu
void f32_add__cuda(const float* a, const float* b, int64_t n, float* y);
void f32_add_rows__cuda(const float* x, int64_t n_rows, int64_t period, int64_t d, const float* rows, float* y);
void f32_gather_rows__cuda(const float* table, int64_t d, const int64_t* ids, int64_t n, float* y);
void f32_transpose__cuda(const float* x, int64_t rows, int64_t cols, float* y);
void f32_copy_rows__cuda(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                         int64_t dst_stride);
void f32_relu__cuda(const float* x, int64_t n, float* y);
void f32_gelu__cuda(const float* x, int64_t n, float* y);

// quantize_kernels.cu
void f32_quantize_per_row_s8__cuda(const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales);
void f32_quantize_u8__cuda(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                           uint8_t* codes);
void f32_quantize_s8__cuda(const float* x, int64_t n, float scale, int32_t qmin, int32_t qmax, int8_t* codes);

// norm_kernels.cu
void f32_layernorm__cuda(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                         float* y);
void f32_softmax__cuda(const float* x, int64_t rows, int64_t cols, float* y);

// attention_kernel.cu
void f32_causal_attention__cuda(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y);

// decoder_kernels.cu (Hugging Face decoder ops)
void f32_rms_norm__cuda(const float* x, int64_t n, int64_t d, const float* w, float eps, int plus_one, float* y);
void f32_rope__cuda(const float* x, int64_t rows, int64_t period, int64_t p0, int64_t heads, int64_t h2,
                    const float* inv_freq, float* y);
void f32_gqa_attention__cuda(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                             int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                             float scale, float* scratch, float* y);
void f32_gated_act__cuda(const float* g, const float* u, int64_t n, int act, float* y);
void f32_scale__cuda(const float* x, int64_t n, float s, float* y);

// conv_kernels.cu (CNN data entries)
void f32_im2col__cuda(const float* x, const kernels::Conv2dGeom& g, float pad, float* col);
void x8_im2col_u8__cuda(const uint8_t* x, const kernels::Conv2dGeom& g, uint8_t pad, uint8_t* col);
void x8_im2col_s8__cuda(const int8_t* x, const kernels::Conv2dGeom& g, int8_t pad, int8_t* col);
void x8_im2col_nhwc__cuda(const uint8_t* x, const kernels::Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col);
void f32_maxpool2d__cuda(const float* x, int64_t planes, const kernels::Conv2dGeom& g, float* y);
void f32_avgpool2d__cuda(const float* x, int64_t planes, const kernels::Conv2dGeom& g, float* y);
void f32_maxpool2d_nhwc__cuda(const float* x, int64_t images, int64_t channels, const kernels::Conv2dGeom& g,
                              bool relu_first, float* y);

// quantized KV cache (kv_quantize_kernel.cu, attention_kernel.cu, decoder_kernels.cu)
void f32_quantize_kv_rows__cuda(const float* x, int64_t rows, int64_t x_stride, int64_t c, const kernels::KvQuant& q,
                                uint8_t* codes, int64_t code_stride, uint16_t* scales, uint16_t* offsets,
                                int64_t scale_stride);
void f32_qkv_causal_attention__cuda(const float* q, int64_t q_stride, const kernels::QuantKvRows& k,
                                    const kernels::QuantKvRows& v, int64_t t, int64_t l, int64_t c, int64_t heads,
                                    float* scratch, float* y);
void f32_qkv_gqa_attention__cuda(const float* q, int64_t q_stride, const kernels::QuantKvRows& k,
                                 const kernels::QuantKvRows& v, int64_t t, int64_t l, int64_t heads, int64_t kv_heads,
                                 int64_t d, int64_t window, float scale, float* scratch, float* y);

// fp8_kernels.cu (FP8 E4M3): the GEMM (Hopper tensor cores where possible, else exact) and the
// exact activation quantizers.
std::unique_ptr<kernels::PreparedQWeights> prepare_qf8_weights__cuda(const kernels::QWeights& w);
void qf8_qf8w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                             float* y);
void f32_quantize_e4m3__cuda(const float* x, int64_t n, float scale, uint8_t* codes);
void f32_quantize_per_row_e4m3__cuda(const float* x, int64_t rows, int64_t cols, uint8_t* codes, float* scales);

}  // namespace qf::cuda
