// Float entries of the x86 tables. f32 GEMM goes through Eigen, compiled once per ISA (FMA and
// a different summation order: NOT bit-identical to f32_gemm_ref; tests allow a relative
// tolerance of 1e-5 * sqrt(K) on |y| + 1 -- float ops are not part of the integer contract).
// Elementwise entries are exact. For M <= kRowwiseMaxM the GEMM takes a kernel of its own whose
// rows do not depend on M (below).
#pragma once

#include <cstdint>

namespace qf::kernels::x86 {

void f32_gemm__avx512_eigen(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y);
void f32_gemm__avx2_eigen(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y);
// Column blocks [n0, n1) (the ISA files; f32_x86.cpp splits N across threads).
void f32_gemm_cols__avx512_eigen(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias,
                                 float* y, int64_t n0, int64_t n1);
void f32_gemm_cols__avx2_eigen(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias,
                               float* y, int64_t n0, int64_t n1);
// Row-independent small-M columns (f32_gemm__* use them for M <= kRowwiseMaxM): a row's outputs
// are the same bits whatever M is (decoding steps vs speculative verification of k tokens).
constexpr int64_t kRowwiseMaxM = 16;
void f32_gemm_rows_cols__avx512(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias,
                                float* y, int64_t n0, int64_t n1);
void f32_gemm_rows_cols__avx2(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias,
                              float* y, int64_t n0, int64_t n1);
void f32_relu__avx512(const float* x, int64_t n, float* y);
void f32_relu__avx2(const float* x, int64_t n, float* y);

}  // namespace qf::kernels::x86
