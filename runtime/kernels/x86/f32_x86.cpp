// Threading of the x86 float GEMMs (baseline flags): column blocks of N across threads, each
// block computed by the ISA file's Eigen product.
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_float_kernels.h"

namespace qf::kernels::x86 {
namespace {

using ColsFn = void (*)(int64_t, int64_t, int64_t, const float*, const float*, const float*, float*, int64_t, int64_t);

void gemm(ColsFn cols, int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y) {
  if (m <= 0 || n <= 0) return;
  constexpr int64_t kCols = 64;
  const int64_t blocks = (n + kCols - 1) / kCols;
  parallel_for(blocks, static_cast<double>(m) * kCols * static_cast<double>(k), [&](int64_t b0, int64_t b1) {
    cols(m, n, k, x, w, bias, y, b0 * kCols, b1 * kCols < n ? b1 * kCols : n);
  });
}

}  // namespace

// Small M (decoding, speculative verification): the row-independent kernel, so one token's
// outputs are the same whether a step runs 1 or k + 1 tokens; Eigen above that (prompts).
void f32_gemm__avx512_eigen(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y) {
  gemm(m <= kRowwiseMaxM ? f32_gemm_rows_cols__avx512 : f32_gemm_cols__avx512_eigen, m, n, k, x, w, bias, y);
}
void f32_gemm__avx2_eigen(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y) {
  gemm(m <= kRowwiseMaxM ? f32_gemm_rows_cols__avx2 : f32_gemm_cols__avx2_eigen, m, n, k, x, w, bias, y);
}

}  // namespace qf::kernels::x86
