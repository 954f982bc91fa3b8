// The ping-pong schedule of the Hopper 8-bit GEMM (the other schedule, and the `Op` concept --
// operand types, accumulator, epilogue -- are wgmma_mainloop.cuh's; that file launches both).
//
// Why: in the cooperative schedule both consumer warpgroups work on one 128-row tile, so both
// run the epilogue at the same time and the tensor cores idle meanwhile (ncu, docs/RESULTS.md:
// tensor pipe busy 62 % on int8 128 x 256). Here each of the two consumer warpgroups owns a
// whole tile of BM = 64 * kSub rows by BN columns with its own accumulators, and the two take
// turns on the tensor cores: consumer c runs the mainloops of its CTA's tiles number c, c + 2,
// c + 4, ... (persistent CTAs, tile = blockIdx.x + seq * gridDim.x), and starts a mainloop only
// after the other one has issued all of its own (a named barrier per consumer: the other arrives
// on it, this one waits). So while one consumer waits for its last wgmmas and runs its epilogue,
// the other's wgmmas keep the tensor cores busy.
//  * The producer (warpgroup 0, one thread) fills the stage ring in the same tile order, so the
//    next tile's stages are already loading while the current one finishes; each stage is read
//    by exactly one consumer, which releases it (the `empty` barriers count one arrival).
//  * kSub = 2: the tile's two 64-row halves are two m64nBNk32 wgmmas per k32 slice on the same
//    w tile (accumulators 2 x BN / 2 registers per thread).
//  * Promoted accumulation (fp8) works the same way per stage as in the cooperative schedule
//    (wait, add into float32, release), so its results equal those of the cooperative kernel with
//    the same instruction shape bit for bit; the tests check that, and int8 against the reference.
// Learned from the idea of CUTLASS's sm90 "pingpong" warp-specialized kernels (ordered math
// warpgroups); written from scratch here.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "runtime/kernels/cuda/wgmma_ptx.cuh"

namespace qf::cuda::wgmma {

// Shared memory of the ping-pong kernel: kStages stages of one tile's x rows and w rows.
template <int kSub, int BN, int kStages>
constexpr int pingpong_smem_bytes() {
  return kStages * (64 * kSub + BN) * 128 + 2 * kStages * 8 + 1024;
}
template <int kSub, int BN>
constexpr int pingpong_stages() {
  return (200 * 1024) / ((64 * kSub + BN) * 128) < 8 ? (200 * 1024) / ((64 * kSub + BN) * 128) : 8;
}

template <class Op, int kSub, int BN, int kStages>
__global__ void __launch_bounds__(384, 1)
    gemm_kernel_pingpong(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw,
                         const typename Op::Args a) {
#ifdef QF_WGMMA
  static_assert(kSub == 1 || kSub == 2, "tiles of 64 or 128 rows");
  static_assert(!Op::kPromote || kSub * BN <= 192, "promotion holds two accumulators: at most 2 x 96 registers");
  using Acc = typename Op::Acc;
  constexpr int kBK = 128;  // codes per stage (one 128-byte swizzle row)
  constexpr int BM = 64 * kSub;
  constexpr int kABytes = BM * kBK, kStageBytes = kABytes + BN * kBK;
  constexpr int kTurn = 1;  // named barriers kTurn + c: consumer c's turn on the tensor cores
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + kStages * kStageBytes);
  uint64_t* empty = full + kStages;

  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  const int m_tiles = (a.m + BM - 1) / BM;
  const int tiles = m_tiles * ((a.n + BN - 1) / BN);
  const int k_steps = (a.k + kBK - 1) / kBK;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], 1);  // one consumer warpgroup reads a stage
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
    if (t == 0) {
      int it = 0;
      for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int tile_m = tile % m_tiles, tile_n = tile / m_tiles;
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
          const int s = it % kStages;
          mbar_wait(&empty[s], ((it / kStages) & 1) ^ 1);
          mbar_expect_tx(&full[s], kStageBytes);
          uint8_t* st = smem + s * kStageBytes;
          tma_load_2d(st, &tx, &full[s], ks * kBK, tile_m * BM);
          tma_load_2d(st + kABytes, &tw, &full[s], ks * kBK, tile_n * BN);
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;");
    const int c = wg - 1;
    auto release = [&](int it) { mbar_arrive_if(&empty[it % kStages], t == 0); };
    // Stage use `it`: its k32 slices (kk outer, the 64-row halves inner: both halves use the same
    // w slice) into dd as one commit group; `first`: the first slice overwrites dd.
    auto issue = [&](int it, Acc(&dd)[kSub][BN / 2], bool first) {
      const int s = it % kStages;
      mbar_wait(&full[s], (it / kStages) & 1);
      const uint8_t* sa = smem + s * kStageBytes;
      const uint8_t* sb = sa + kABytes;
      if constexpr (Op::kPromote) {
#pragma unroll
        for (int j = 0; j < kSub; ++j) fence_regs(dd[j]);
      }
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kBK / 32; ++kk)
#pragma unroll
        for (int j = 0; j < kSub; ++j)
          wgmma_k32<Op::kMma, BN>(dd[j], smem_desc<kBK>(sa + j * 64 * kBK + kk * 32), smem_desc<kBK>(sb + kk * 32),
                                  !(first && kk == 0));
      wgmma_commit();
    };
    for (int seq = c;; seq += 2) {
      const int tile = blockIdx.x + seq * static_cast<int>(gridDim.x);
      if (tile >= tiles) break;
      const int tile_m = tile % m_tiles, tile_n = tile / m_tiles;
      const int row0 = tile_m * BM, col0 = tile_n * BN;
      // The other consumer runs the next tile of this CTA if there is one; it waits for this
      // one's hand-over (every wait below has exactly one arrival: the turns alternate).
      const bool hand_over = tile + static_cast<int>(gridDim.x) < tiles;
      int it = seq * k_steps;
      if (seq > 0) named_bar_sync(kTurn + c, 256);
      if constexpr (Op::kPromote) {
        Acc d[kSub][BN / 2], acc[kSub][BN / 2];
#pragma unroll
        for (int j = 0; j < kSub; ++j)
#pragma unroll
          for (int i = 0; i < BN / 2; ++i) d[j][i] = acc[j][i] = Acc(0);
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
          issue(it, d, true);
          wgmma_wait<0>();
#pragma unroll
          for (int j = 0; j < kSub; ++j) {
            fence_regs(d[j]);
#pragma unroll
            for (int i = 0; i < BN / 2; ++i) acc[j][i] = __fadd_rn(acc[j][i], d[j][i]);
          }
          release(it);
        }
        if (hand_over) named_bar_arrive(kTurn + (c ^ 1), 256);
#pragma unroll
        for (int j = 0; j < kSub; ++j)
          if (row0 + 64 * j < a.m) Op::template epilogue<BN>(a, acc[j], row0 + 64 * j, col0, t);
      } else {
        // All of K in the tensor core's accumulators, one group in flight behind the newest; the
        // turn passes as soon as the last group is issued, before waiting for it.
        Acc d[kSub][BN / 2];
#pragma unroll
        for (int j = 0; j < kSub; ++j)
#pragma unroll
          for (int i = 0; i < BN / 2; ++i) d[j][i] = Acc(0);
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
          issue(it, d, ks == 0);
          if (ks > 0) {
            wgmma_wait<1>();
            release(it - 1);
          }
        }
        if (hand_over) named_bar_arrive(kTurn + (c ^ 1), 256);
        wgmma_wait<0>();
        release(it - 1);
#pragma unroll
        for (int j = 0; j < kSub; ++j) {
          fence_regs(d[j]);
          if (row0 + 64 * j < a.m) Op::template epilogue<BN>(a, d[j], row0 + 64 * j, col0, t);
        }
      }
    }
  }
#endif
}

}  // namespace qf::cuda::wgmma
