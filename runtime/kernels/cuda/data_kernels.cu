// The `cuda` table's data movement and elementwise entries: grid-stride loops, one output
// element per iteration, each the reference kernel's single float operation (bit-identical;
// the library is built with -fmad=false), gelu with CUDA's erff (within 2 ulp of the host's).
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

using detail::check_launch;
using detail::grid_for;
using detail::kThreads;

#define QF_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void add_kernel(const float* a, const float* b, int64_t n, float* y) {
  detail::pdl_entry();
  QF_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}
__global__ void add_rows_kernel(const float* x, int64_t n, int64_t period, int64_t d, const float* rows, float* y) {
  detail::pdl_entry();
  QF_GRID_STRIDE(i, n) {
    const int64_t r = i / d, e = i - r * d;
    y[i] = x[i] + rows[(r % period) * d + e];
  }
}
__global__ void gather_rows_kernel(const float* table, int64_t d, const int64_t* ids, int64_t n, float* y) {
  detail::pdl_entry();
  QF_GRID_STRIDE(i, n) {
    const int64_t r = i / d, e = i - r * d;
    y[i] = table[ids[r] * d + e];
  }
}
__global__ void transpose_kernel(const float* x, int64_t rows, int64_t cols, float* y) {
  detail::pdl_entry();
  QF_GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i - r * cols;
    y[c * rows + r] = x[i];
  }
}
__global__ void copy_rows_kernel(const float* src, int64_t ss, int64_t rows, int64_t cols, float* dst, int64_t ds) {
  detail::pdl_entry();
  QF_GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i - r * cols;
    dst[r * ds + c] = src[r * ss + c];
  }
}
__global__ void relu_kernel(const float* x, int64_t n, float* y) {
  detail::pdl_entry();
  QF_GRID_STRIDE(i, n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
__global__ void gelu_kernel(const float* x, int64_t n, float* y) {
  detail::pdl_entry();
  const float inv_sqrt2 = 0.70710678118654752440f;
  QF_GRID_STRIDE(i, n) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * inv_sqrt2));  // the ref's order
}

}  // namespace

void f32_add__cuda(const float* a, const float* b, int64_t n, float* y) {
  if (n <= 0) return;
  detail::launch_kernel(add_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, a, b, n, y);
  check_launch("add");
}
void f32_add_rows__cuda(const float* x, int64_t n_rows, int64_t period, int64_t d, const float* rows, float* y) {
  const int64_t n = n_rows * d;
  if (n <= 0) return;
  detail::launch_kernel(add_rows_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, n, period, d, rows, y);
  check_launch("add_rows");
}
void f32_gather_rows__cuda(const float* table, int64_t d, const int64_t* ids, int64_t n, float* y) {
  if (n * d <= 0) return;
  detail::launch_kernel(gather_rows_kernel, dim3(grid_for(n * d)), dim3(kThreads), 0, nullptr, table, d, ids, n * d, y);
  check_launch("gather_rows");
}
void f32_transpose__cuda(const float* x, int64_t rows, int64_t cols, float* y) {
  if (rows * cols <= 0) return;
  detail::launch_kernel(transpose_kernel, dim3(grid_for(rows * cols)), dim3(kThreads), 0, nullptr, x, rows, cols, y);
  check_launch("transpose");
}
void f32_copy_rows__cuda(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                         int64_t dst_stride) {
  if (rows * cols <= 0) return;
  // A kernel even for contiguous rows: flatten may copy a buffer onto itself, which memcpy forbids.
  detail::launch_kernel(copy_rows_kernel, dim3(grid_for(rows * cols)), dim3(kThreads), 0, nullptr, src, src_stride,
                        rows, cols, dst, dst_stride);
  check_launch("copy_rows");
}
void f32_relu__cuda(const float* x, int64_t n, float* y) {
  if (n <= 0) return;
  detail::launch_kernel(relu_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, n, y);
  check_launch("relu");
}
void f32_gelu__cuda(const float* x, int64_t n, float* y) {
  if (n <= 0) return;
  detail::launch_kernel(gelu_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, n, y);
  check_launch("gelu");
}

}  // namespace qf::cuda
