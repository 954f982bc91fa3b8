// Data-touching entries of the x86 tables: pooling, activation quantization, im2col, transpose.
// All bit-identical to their reference kernels (kernels/ref/), for any thread count.
//
// data_x86.cpp (baseline flags) holds the table entries: it splits the work over threads
// (independent outputs only) and calls the range kernels of data_avx512.cpp / data_avx2.cpp,
// each compiled with its own -m flags. Only plain structs and raw pointers cross that boundary
// (see x86_kernels.h for why).
#pragma once

#include <cstdint>

#include "runtime/kernels/kernels.h"

namespace qf::kernels::x86 {

// ---- table entries (data_x86.cpp) ----
void f32_maxpool2d__avx512(const float* x, int64_t planes, const Conv2dGeom& g, float* y);
void f32_maxpool2d_nhwc__avx512(const float* x, int64_t images, int64_t channels, const Conv2dGeom& g, bool relu_first,
                                float* y);
void f32_quantize_u8__avx512(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                             uint8_t* codes);
void f32_quantize_s8__avx512(const float* x, int64_t n, float scale, int32_t qmin, int32_t qmax, int8_t* codes);
void f32_quantize_per_row_s8__avx512(const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales);
void f32_im2col__avx512(const float* x, const Conv2dGeom& g, float pad, float* col);
void x8_im2col_u8__avx512(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col);
void x8_im2col_s8__avx512(const int8_t* x, const Conv2dGeom& g, int8_t pad, int8_t* col);
void x8_im2col_nhwc__avx512(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col);
void f32_transpose__avx512(const float* x, int64_t rows, int64_t cols, float* y);

void f32_maxpool2d__avx2(const float* x, int64_t planes, const Conv2dGeom& g, float* y);
void f32_maxpool2d_nhwc__avx2(const float* x, int64_t images, int64_t channels, const Conv2dGeom& g, bool relu_first,
                              float* y);
void f32_quantize_u8__avx2(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                           uint8_t* codes);
void f32_quantize_s8__avx2(const float* x, int64_t n, float scale, int32_t qmin, int32_t qmax, int8_t* codes);
void f32_quantize_per_row_s8__avx2(const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales);
void f32_im2col__avx2(const float* x, const Conv2dGeom& g, float pad, float* col);
void x8_im2col_u8__avx2(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col);
void x8_im2col_s8__avx2(const int8_t* x, const Conv2dGeom& g, int8_t pad, int8_t* col);
void x8_im2col_nhwc__avx2(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col);
void f32_transpose__avx2(const float* x, int64_t rows, int64_t cols, float* y);

// ---- range kernels (one set per ISA file) ----
// Planes [p0, p1) of maxpool2d.
void f32_maxpool2d_planes__avx512(const float* x, int64_t p0, int64_t p1, const Conv2dGeom& g, float* y);
void f32_maxpool2d_planes__avx2(const float* x, int64_t p0, int64_t p1, const Conv2dGeom& g, float* y);
// Output rows [r0, r1) (r = image * oh + oy) of maxpool2d_nhwc.
void f32_maxpool2d_nhwc_rows__avx512(const float* x, int64_t channels, const Conv2dGeom& g, bool relu_first, float* y,
                                     int64_t r0, int64_t r1);
void f32_maxpool2d_nhwc_rows__avx2(const float* x, int64_t channels, const Conv2dGeom& g, bool relu_first, float* y,
                                   int64_t r0, int64_t r1);
// codes[i] = clamp(round_half_even(x[i] / scale) + zero_point, qmin, qmax) for i < n, stored as
// the low byte of the int32 (what the reference's static_cast does).
void f32_quantize_x8__avx512(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                             uint8_t* codes);
void f32_quantize_x8__avx2(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                           uint8_t* codes);
// Rows [r0, r1) of quantize_per_row_s8.
void f32_quantize_rows_s8__avx512(const float* x, int64_t r0, int64_t r1, int64_t cols, int8_t* codes, float* scales);
void f32_quantize_rows_s8__avx2(const float* x, int64_t r0, int64_t r1, int64_t cols, int8_t* codes, float* scales);
// Output rows [oy0, oy1) of im2col.
void f32_im2col_rows__avx512(const float* x, const Conv2dGeom& g, float pad, float* col, int64_t oy0, int64_t oy1);
void x8_im2col_rows__avx512(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col, int64_t oy0, int64_t oy1);
void f32_im2col_rows__avx2(const float* x, const Conv2dGeom& g, float pad, float* col, int64_t oy0, int64_t oy1);
void x8_im2col_rows__avx2(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col, int64_t oy0, int64_t oy1);
// Output rows [oy0, oy1) of im2col_nhwc_x8.
void x8_im2col_nhwc_rows__avx512(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col, int64_t oy0,
                                 int64_t oy1);
void x8_im2col_nhwc_rows__avx2(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col, int64_t oy0,
                               int64_t oy1);
// Output rows [c0, c1) of y = x^T (columns of x).
void f32_transpose_cols__avx512(const float* x, int64_t rows, int64_t cols, float* y, int64_t c0, int64_t c1);
void f32_transpose_cols__avx2(const float* x, int64_t rows, int64_t cols, float* y, int64_t c0, int64_t c1);

}  // namespace qf::kernels::x86
