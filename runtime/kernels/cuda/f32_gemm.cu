// The `cuda` table's float GEMM y = x w^T + bias: 16 x 16 output tiles through shared memory,
// each thread one output accumulated in increasing k with separately rounded multiply and add
// (-fmad=false), i.e. the reference's exact sequence of float operations: bit-identical to
// f32_gemm_ref. Correct before fast (the float path carries only unquantized layers, e.g. a
// float lm_head); cuBLAS would be faster but sums in another order.
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

constexpr int T = 16;

__global__ void f32_gemm_kernel(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias,
                                float* y) {
  detail::pdl_entry();
  __shared__ float xs[T][T + 1], ws[T][T + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t row = blockIdx.y * static_cast<int64_t>(T) + ty;  // i
  const int64_t col = blockIdx.x * static_cast<int64_t>(T) + tx;  // o
  const int64_t wrow = blockIdx.x * static_cast<int64_t>(T) + ty;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < k; k0 += T) {
    xs[ty][tx] = row < m && k0 + tx < k ? x[row * k + k0 + tx] : 0.0f;
    ws[ty][tx] = wrow < n && k0 + tx < k ? w[wrow * k + k0 + tx] : 0.0f;
    __syncthreads();
    const int kn = static_cast<int>(k - k0 < T ? k - k0 : T);
    for (int kk = 0; kk < kn; ++kk) acc += xs[ty][kk] * ws[tx][kk];
    __syncthreads();
  }
  if (row < m && col < n) y[row * n + col] = bias ? acc + bias[col] : acc;
}

}  // namespace

void f32_gemm__cuda(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y) {
  if (m <= 0 || n <= 0) return;
  if ((m + T - 1) / T > 65535) throw Error("cuda f32_gemm: M too large for one launch");
  const dim3 grid(static_cast<unsigned>((n + T - 1) / T), static_cast<unsigned>((m + T - 1) / T));
  detail::launch_kernel(f32_gemm_kernel, grid, dim3(dim3(T, T)), 0, nullptr, m, n, k, x, w, bias, y);
  detail::check_launch("f32_gemm");
}

}  // namespace qf::cuda
