// The `cuda` table's activation quantizers, core/quant.h's rules operation for operation
// (x / scale correctly rounded, rint = round half to even, clamp with fmin/fmax), so the codes
// and per-row scales are bit-identical to the reference kernels' (max is order-free).
#include "core/quant.h"
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

using detail::check_launch;
using detail::grid_for;
using detail::kThreads;

__device__ __forceinline__ float quantize_code(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax) {
  float q = rintf(__fdiv_rn(x, scale)) + static_cast<float>(zp);
  return fminf(fmaxf(q, static_cast<float>(qmin)), static_cast<float>(qmax));
}

__global__ void quantize_u8_kernel(const float* x, int64_t n, float s, int32_t zp, int32_t qmin, int32_t qmax,
                                   uint8_t* codes) {
  detail::pdl_entry();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    codes[i] = static_cast<uint8_t>(static_cast<int32_t>(quantize_code(x[i], s, zp, qmin, qmax)));
}
__global__ void quantize_s8_kernel(const float* x, int64_t n, float s, int32_t qmin, int32_t qmax, int8_t* codes) {
  detail::pdl_entry();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    codes[i] = static_cast<int8_t>(static_cast<int32_t>(quantize_code(x[i], s, 0, qmin, qmax)));
}

// One block per row: absmax, symmetric_params (s = absmax / 127, floor kMinScale, 1 for a zero
// row), then the codes.
__global__ void quantize_per_row_s8_kernel(const float* x, int64_t cols, int8_t* codes, float* scales) {
  detail::pdl_entry();
  __shared__ float sh[32];
  const float* xr = x + blockIdx.x * cols;
  float amax = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) amax = fmaxf(amax, fabsf(xr[c]));
  amax = detail::block_reduce(amax, sh, detail::MaxOp{});
  float s = __fdiv_rn(amax, 127.0f);
  if (!(s > kMinScale)) s = amax > 0.0f ? kMinScale : 1.0f;
  if (threadIdx.x == 0) scales[blockIdx.x] = s;
  int8_t* cr = codes + blockIdx.x * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    cr[c] = static_cast<int8_t>(static_cast<int32_t>(quantize_code(xr[c], s, 0, -127, 127)));
}

}  // namespace

void f32_quantize_per_row_s8__cuda(const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales) {
  if (rows <= 0) return;
  if (rows > 0x7fffffff) throw Error("cuda quantize_per_row_s8: too many rows");
  detail::launch_kernel(quantize_per_row_s8_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, nullptr, x,
                        cols, codes, scales);
  check_launch("quantize_per_row_s8");
}
void f32_quantize_u8__cuda(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                           uint8_t* codes) {
  if (n <= 0) return;
  detail::launch_kernel(quantize_u8_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, n, scale, zero_point,
                        qmin, qmax, codes);
  check_launch("quantize_u8");
}
void f32_quantize_s8__cuda(const float* x, int64_t n, float scale, int32_t qmin, int32_t qmax, int8_t* codes) {
  if (n <= 0) return;
  detail::launch_kernel(quantize_s8_kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, x, n, scale, qmin, qmax,
                        codes);
  check_launch("quantize_s8");
}

}  // namespace qf::cuda
