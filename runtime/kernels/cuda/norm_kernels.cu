// The `cuda` table's row reductions: layernorm (mean and variance in double like the reference,
// reduced across the block in another order, then the reference's float formula) and softmax
// (max, float sum of exp, divide). One block per row.
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

using detail::check_launch;
using detail::kThreads;

__global__ void layernorm_kernel(const float* x, int64_t cols, const float* gamma, const float* beta, float eps,
                                 float* y) {
  detail::pdl_entry();
  __shared__ double sh[32];
  const float* xr = x + blockIdx.x * cols;
  double s = 0.0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += xr[c];
  const double mean = detail::block_reduce(s, sh, detail::SumOp{}) / static_cast<double>(cols);
  double v = 0.0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) v += (xr[c] - mean) * (xr[c] - mean);
  const double var = detail::block_reduce(v, sh, detail::SumOp{}) / static_cast<double>(cols);
  const float rstd = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  const float mu = static_cast<float>(mean);
  float* yr = y + blockIdx.x * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = (xr[c] - mu) * rstd * gamma[c] + beta[c];
}

__global__ void softmax_kernel(const float* x, int64_t cols, float* y) {
  detail::pdl_entry();
  __shared__ float sh[32];
  const float* xr = x + blockIdx.x * cols;
  float* yr = y + blockIdx.x * cols;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, xr[c]);
  m = detail::block_reduce(m, sh, detail::MaxOp{});
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += (yr[c] = expf(xr[c] - m));
  s = detail::block_reduce(s, sh, detail::SumOp{});
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] /= s;
}

}  // namespace

void f32_layernorm__cuda(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                         float* y) {
  if (rows <= 0 || cols <= 0) return;
  if (rows > 0x7fffffff) throw Error("cuda layernorm: too many rows");
  detail::launch_kernel(layernorm_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, nullptr, x, cols, gamma,
                        beta, eps, y);
  check_launch("layernorm");
}
void f32_softmax__cuda(const float* x, int64_t rows, int64_t cols, float* y) {
  if (rows <= 0 || cols <= 0) return;
  if (rows > 0x7fffffff) throw Error("cuda softmax: too many rows");
  detail::launch_kernel(softmax_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, nullptr, x, cols, y);
  check_launch("softmax");
}

}  // namespace qf::cuda
