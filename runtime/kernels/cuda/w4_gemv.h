// Small-M W4A16 on the CUDA cores (w4_gemv.cu). Internal to runtime/kernels/cuda: callers use
// w4a16_gemm (cuda_qgemm.h), which dispatches here for small M (dense int4 weights only).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/kernels/cuda/cuda_qgemm.h"

namespace qf::cuda {

// The activation rows at or below which w4a16_gemm picks w4_gemv on its own: none. On the H200 the
// CUDA-core kernel wins only at M = 1, by 0-11 % (docs/RESULTS.md "CUDA deployment GEMMs"), and
// its fp16 path sums 8 products in fp16, which overflows for |x| >= 1023 (outlier activations of
// large models reach that); the tensor-core kernel has no such limit. W4Config::gemv = 1 runs it.
constexpr int64_t kW4GemvMaxM = 0;

// y [M, N] = x [M, K] * W^T for a dense W4Device, on the weight layout of w4_prepare (no second
// copy of the weight). tiles_per_warp: 16-row tiles per warp (1 or 2, 0 = pick); warps_k: warps
// per block, splitting K (1..32, at most 16 beyond M = 2; 0 = pick); pipeline: >= 0 double-buffered
// weight loads (the next batch loading while one is multiplied), -1 one batch at a time.
// Arguments are checked by w4a16_gemm.
void w4_gemv(const W4Device& w, int64_t m, const void* x, int64_t ldx, void* y, cudaStream_t stream,
             int tiles_per_warp, int warps_k, int pipeline);

}  // namespace qf::cuda
