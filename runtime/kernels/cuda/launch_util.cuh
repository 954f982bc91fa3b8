// Launch shapes and block reductions shared by the table's simple kernels (cuda_table.h).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "runtime/kernels/cuda/cuda_check.h"

namespace qf::cuda::detail {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (n > 0).
inline unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 16384));
}

// Launch error check: a bad launch must fail here, not poison a later call.
inline void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("CUDA error: ") + cudaGetErrorString(e) + " launching " + what);
}

// ---- Programmatic dependent launch (PDL, compute capability 9.0+) ----
// A kernel launched with the PDL attribute may start while the previous kernel of the stream is
// still running, once every block of that kernel has called pdl_launch_dependents() (at its end
// if it never does): its blocks get scheduled, and it can load what no kernel writes (weights),
// while the previous kernel finishes. Launched without the attribute, a kernel starts after the
// previous one has finished, as usual. The contract of every kernel that launch_kernel() may launch with
// the attribute: call pdl_wait() before touching memory that another kernel writes or reads
// (pdl_entry() at the top does it for kernels with nothing to load early).

// Lets the next kernel of the stream (if launched with the attribute) start once every block of
// this one has called it or exited.
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
// Blocks until the previous kernel of the stream has finished and its writes are visible; returns
// at once when this kernel was launched without the attribute.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
// Both, at a kernel's entry: the next kernel may start, this one waits for the previous.
__device__ __forceinline__ void pdl_entry() {
  pdl_launch_dependents();
  pdl_wait();
}

// Whether launch_kernel() uses the attribute: on a 9.0+ device unless QF_CUDA_PDL=0 (read once per
// process; docs/RESULTS.md has the measurements behind the default).
bool pdl_enabled();

// kernel<<<grid, block, smem, s>>>(args...), with the PDL attribute when `pdl` (launch errors throw).
template <class... KArgs, class... Args>
void launch_pdl(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, bool pdl,
                Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute at[1];
  at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  at[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = at;
  cfg.numAttrs = pdl ? 1 : 0;
  QF_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}
// The table's launches: with the attribute where pdl_enabled(). `kernel` must keep the contract above.
template <class... KArgs, class... Args>
void launch_kernel(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args&&... args) {
  launch_pdl(kernel, grid, block, smem, s, pdl_enabled(), std::forward<Args>(args)...);
}

// Sum / max of one value per thread over a block of blockDim.x (a multiple of 32, <= 1024)
// threads; every thread gets the result. `sh` holds >= 32 T.
template <class T, class Op>
__device__ __forceinline__ T block_reduce(T v, T* sh, Op op) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();  // sh may still be read by a previous reduction
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  T r = sh[0];
  for (int w = 1; w < warps; ++w) r = op(r, sh[w]);
  return r;
}

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

}  // namespace qf::cuda::detail
