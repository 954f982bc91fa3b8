// Small-M W4A16 on Hopper that streams the weight through shared memory with the bulk copy
// engine (w4_stream_gemm.cu). Internal to runtime/kernels/cuda: callers use w4a16_gemm
// (cuda_qgemm.h), which dispatches here for dense weights at M <= 16 on a 9.x device.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/kernels/cuda/cuda_qgemm.h"

namespace qf::cuda {

// Largest M the streaming kernel runs (two 8-column mma B operands).
constexpr int64_t kW4StreamMaxM = 16;

// True when the current device can run the streaming kernel (compute capability 9.x: bulk
// copies and mbarrier transaction counts) and the call fits it (dense weight, 1 <= m <= 16).
bool w4_stream_usable(const W4Device& w, int64_t m);

// Where w4a16_gemm picks the streaming kernel by itself: only where it measured faster than the
// register-streaming tensor-core kernel on both an H100 and an H200 (docs/RESULTS.md): M = 9..16
// on a large weight (>= 2^17 tile-chunks of 16 rows x 64 k, i.e. >= 64 MB of int4 codes; measured
// at 28672 x 8192, 7 % faster). At M <= 8 and on 4096^2 / 8192^2 the older kernel is faster.
bool w4_stream_pick(const W4Device& w, int64_t m);
constexpr int64_t kW4StreamPickMinTileChunks = int64_t(1) << 17;

// y [M, N] = x [M, K] * W^T for a dense W4Device (the w4_prepare layout, no second copy).
// ctas: the persistent grid (0 = one per SM); tile_rows: rows of W per work unit (64 or 128,
// 0 = pick); cpw: consecutive 64-k chunks per consumer warp per stage (1 or 2, 0 = pick); warps: consumer warps (12 at M <= 8, else 0 = the
// default 8); pdl: launch with programmatic dependent launch (the weight prefetch of the first
// stages overlaps the end of the previous kernel in the stream). Arguments are checked by w4a16_gemm. Uses a workspace owned by `w` (split-K
// partials and per-unit counters): calls on one W4Device must not run concurrently on two
// streams.
void w4_stream_gemm(const W4Device& w, int64_t m, const void* x, int64_t ldx, void* y, cudaStream_t stream,
                    int ctas, int tile_rows, int cpw, int warps, bool pdl);

}  // namespace qf::cuda
