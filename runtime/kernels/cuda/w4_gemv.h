// Small-M W4A16 on the CUDA cores (w4_gemv.cu). Internal to runtime/kernels/cuda: callers use
// w4a16_gemm (cuda_qgemm.h), which dispatches here for small M (dense int4 weights only).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/kernels/cuda/cuda_qgemm.h"

namespace qf::cuda {

// The activation rows at or below which w4a16_gemm picks w4_gemv (measured crossover against the
// tensor-core kernel, docs/RESULTS.md "CUDA deployment GEMMs": on the H200 the CUDA-core kernel
// wins at M = 1 and loses from M = 2, where its per-row FMA work grows and the mma's does not).
constexpr int64_t kW4GemvMaxM = 1;

// y [M, N] = x [M, K] * W^T for a dense W4Device, on the weight layout of w4_prepare (no second
// copy of the weight). tiles_per_warp: 16-row tiles per warp (1 or 2, 0 = pick); warps_k: warps
// per block, splitting K (1..32, at most 16 beyond M = 2; 0 = pick); pipeline: >= 0 double-buffered
// weight loads (the next batch loading while one is multiplied), -1 one batch at a time.
// Arguments are checked by w4a16_gemm.
void w4_gemv(const W4Device& w, int64_t m, const void* x, int64_t ldx, void* y, cudaStream_t stream,
             int tiles_per_warp, int warps_k, int pipeline);

}  // namespace qf::cuda
