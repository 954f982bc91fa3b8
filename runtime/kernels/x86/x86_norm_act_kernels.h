// GELU and layernorm entries of the x86 tables (norm_act_avx512.cpp / norm_act_avx2.cpp; GELU
// through Eigen compiled per ISA with its namespace renamed, as f32_*.cpp, layernorm in
// intrinsics). Not bit-identical to the
// reference; tolerances in tests/runtime/attention_kernels_test.cpp:
//   gelu: 0.5 x (1 + erf(x / sqrt 2)) with Eigen's vectorized float erf (a rational
//     approximation on [-4, 4], +-1 outside) instead of libm's erff;
//   layernorm: the mean and variance still in double (8 lanes x 2 accumulators, FMA: another
//     order), rounded once
//     to float, then the reference's float epilogue op for op ((x - mu) * rstd * gamma + beta,
//     no FMA), so the output differs only where mu or rstd rounds to a neighbouring float.
#pragma once

#include <cstdint>

namespace qf::kernels::x86 {

void f32_gelu__avx512(const float* x, int64_t n, float* y);
void f32_gelu__avx2(const float* x, int64_t n, float* y);
void f32_layernorm__avx512(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                           float* y);
void f32_layernorm__avx2(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                         float* y);

}  // namespace qf::kernels::x86
