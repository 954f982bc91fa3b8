// FP8 E4M3 x E4M3 GEMMs on the GPU (plain C++ header: no CUDA types), behind the cuda table's
// qf8_gemm entry and benchmarked by bench/cuda/cuda_gemm_bench:
//   y[m, n] = P[m, n] * (sx[m] * sw[n]) + bias[n]   (float32, that order; bias may be null)
// with P the dot product of the E4M3 codes x[m, :] and w[n, :] (both K-major, [M, K] and [N, K]).
//
// Two kernels:
//  * fp8_gemm_exact: P is the exact sum rounded once (int64 over the values times 2^9, as
//    core's e4m3_dot_exact), bit-identical to the reference kernel; any GPU, any shape; slow.
//  * fp8_gemm_wgmma: Hopper's FP8 tensor cores (wgmma.mma_async ... .e4m3.e4m3, sm_90a), tiles
//    fed by the bulk tensor copy engine (TMA). The tensor cores do not sum exactly (their fp8
//    accumulator keeps fewer bits than float32), so P is *bounded*, not bit-exact:
//      |P - P_exact| <= kFp8TensorCoreRelBound * sum_k |x[m, k] * w[n, k]|
//    (kernels.h, "FP8 E4M3"; tests/runtime_cuda/cuda_fp8_test.cpp). kPromoted (the default and the
//    table's path) moves the tensor-core sum into a float32 register sum every 128 values of K,
//    as cuBLASLt does without its fast-accumulation flag; kFast accumulates all of K in the
//    tensor core (benchmarked only, no bound claimed).
#pragma once

#include <cstdint>

namespace qf::cuda {

struct Fp8Gemm {
  int64_t m = 0, n = 0, k = 0;
  const uint8_t* x = nullptr;  // device, [M, K] E4M3 codes
  const float* sx = nullptr;   // device, per-row scales (sx_stride 1) or one scale (sx_stride 0)
  int64_t sx_stride = 0;
  const uint8_t* w = nullptr;  // device, [N, K] E4M3 codes
  const float* sw = nullptr;   // device, [N]
  const float* bias = nullptr; // device, [N] or null
  float* y = nullptr;          // device, [M, N]
};

enum class Fp8Accum { kPromoted, kFast };

// Tile shape: block_m = 64 * consumers (1 or 2 consumer warpgroups), block_n in {64, 128}, or
// with 2 consumers 192 (promoted only) / 256 (fast only); 0 = the launcher's rule (fast
// accumulation at M > 128: ping-pong 64 x 256 from 1.5 waves of CTAs; then wide tiles from 1.5
// waves of them, then 128 x 128 from 1.5 waves, then at M <= 64 64 x 128 from 1.5 waves, else
// 64-column tiles; measured on the H100).
// cluster = 2: CTA pairs along M share the w tile through the copy engine's multicast (the
// cooperative 128-row tiles, and ping-pong 64 x 256 fast); 1: each CTA loads its own. Applies when consumers and block_n are set.
// persistent = 0 or 1: one CTA per SM walks the tiles (wgmma_mainloop.cuh), the next tile's loads
// overlapping this one's epilogue (measured faster); -1: one CTA per tile. With cluster = 2 only
// persistent = 1 walks (pairs of CTAs, widest tiles), 0 and -1 run one CTA per tile.
// block_k: codes per pipeline stage, 128 (0 = 128) or 64 (fast accumulation, 128-row tiles
// without multicast, or ping-pong 64 x 256 with or without: twice the stages in the same shared
// memory).
// release_cluster_scope = 1 (multicast, 128-code stages, widest cooperative tiles one CTA per tile
// or ping-pong 64 x 256): the first form of the peer's stage release (`.release.cluster`), kept to
// measure against the default-semantics release that runs otherwise.
// pingpong = 1: the forced shape on the ping-pong schedule (wgmma_pingpong.cuh: each of two
// consumer warpgroups owns a whole tile of 64 * consumers x block_n rows and columns, the two take
// turns on the tensor cores so one's epilogue runs under the other's MMAs; always persistent,
// 128-code stages; cluster = 2 with 64 x 256 fast): 64 x 128 or 64 x 192 promoted, 64 x 256 or
// 128 x 128 fast.
// 0: forced shapes cooperative, the pick's choice otherwise; -1: the pick never chooses it.
struct Fp8Tiles {
  int consumers = 0;
  int block_n = 0;
  int cluster = 1;
  int persistent = 0;
  int block_k = 0;
  int pingpong = 0;
  int release_cluster_scope = 0;
};

// True when this process's GPU runs the wgmma kernel (compute capability 9.0, a binary built with
// the sm_90a kernel) -- the reason in *why otherwise.
bool fp8_wgmma_available(const char** why = nullptr);
// The wgmma path; returns false (launching nothing) when it cannot take the operands: no sm_90a
// GPU, K not a multiple of 16 or a code pointer not 16-byte aligned (the copy engine's rules).
bool fp8_gemm_wgmma(const Fp8Gemm& g, Fp8Accum accum = Fp8Accum::kPromoted, Fp8Tiles tiles = {});
// Whether this build has the wgmma kernel for these tiles: the pick always; a forced shape that
// the pick could choose, or any with the CMake option QFORGE_CUDA_KERNEL_VARIANTS.
bool fp8_wgmma_tiles_built(const Fp8Tiles& tiles, Fp8Accum accum);
void fp8_gemm_exact(const Fp8Gemm& g);

}  // namespace qf::cuda
