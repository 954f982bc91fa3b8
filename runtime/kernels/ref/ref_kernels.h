// Scalar reference kernels: obviously correct loops, the oracle every optimized kernel is
// tested against. Names follow kernels/README.md: <input types>_<op>_<output>_ref.
#pragma once

#include "runtime/kernels/kernels.h"

namespace qf::kernels {

void qu8_qs8w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void qu8_qs4w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void qu8_qs8nmw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void qs8_qs8w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void qs8_qs4w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void qs8_qs8nmw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
// Block-sparse weights (kBSInt8 / kBSInt4): only kept blocks are visited.
void qu8_qs8bsw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void qu8_qs4bsw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void qs8_qs8bsw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void qs8_qs4bsw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
// FP8 E4M3 activations times E4M3 weights, the exact sum rounded once (kernels.h, "FP8").
void qf8_qf8w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);
void f32_gemm_ref(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y);

void f32_im2col_ref(const float* x, const Conv2dGeom& g, float pad, float* col);
void x8_im2col_u8_ref(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col);
void x8_im2col_s8_ref(const int8_t* x, const Conv2dGeom& g, int8_t pad, int8_t* col);
void x8_im2col_nhwc_ref(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col);
void f32_maxpool2d_ref(const float* x, int64_t planes, const Conv2dGeom& g, float* y);
void f32_maxpool2d_nhwc_ref(const float* x, int64_t images, int64_t channels, const Conv2dGeom& g, bool relu_first,
                            float* y);
void f32_avgpool2d_ref(const float* x, int64_t planes, const Conv2dGeom& g, float* y);

void f32_relu_ref(const float* x, int64_t n, float* y);
void f32_gelu_ref(const float* x, int64_t n, float* y);
void f32_softmax_ref(const float* x, int64_t rows, int64_t cols, float* y);
void f32_layernorm_ref(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                       float eps, float* y);
void f32_causal_attention_ref(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                              int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y);

void f32_add_ref(const float* a, const float* b, int64_t n, float* y);
void f32_add_rows_ref(const float* x, int64_t n_rows, int64_t period, int64_t d, const float* rows, float* y);
void f32_gather_rows_ref(const float* table, int64_t d, const int64_t* ids, int64_t n, float* y);
void f32_transpose_ref(const float* x, int64_t rows, int64_t cols, float* y);
void f32_copy_rows_ref(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                       int64_t dst_stride);
void f32_quantize_per_row_s8_ref(const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales);
void f32_quantize_u8_ref(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                         uint8_t* codes);
void f32_quantize_e4m3_ref(const float* x, int64_t n, float scale, uint8_t* codes);
void f32_quantize_per_row_e4m3_ref(const float* x, int64_t rows, int64_t cols, uint8_t* codes, float* scales);
void f32_quantize_s8_ref(const float* x, int64_t n, float scale, int32_t qmin, int32_t qmax, int8_t* codes);
// conv GEMM + relu / 2x2 max pool / quantize epilogue (kernels.h, QConvPoolArgs), composed of the
// reference GEMM, pooling and quantizer: the oracle of every fused variant.
void x8_conv2d_pool_ref(const QConvPoolArgs& a, const QWeights& w, const float* bias);

}  // namespace qf::kernels
