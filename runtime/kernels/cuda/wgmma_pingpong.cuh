// The ping-pong schedule of the Hopper 8-bit GEMM (the other schedule, and the `Op` concept --
// operand types, accumulator, epilogue -- are wgmma_mainloop.cuh's; that file launches both).
//
// Why: in the cooperative schedule both consumer warpgroups work on one 128-row tile, so both
// run the epilogue at the same time and the tensor cores idle meanwhile (ncu, docs/RESULTS.md:
// tensor pipe busy 62 % on int8 128 x 256). Here each of the two consumer warpgroups owns a
// whole tile of BM = 64 * kSub rows by BN columns with its own accumulators, and the two take
// turns on the tensor cores: consumer c runs the mainloops of its CTA's tiles number c, c + 2,
// c + 4, ... (persistent CTAs, item seq of a CTA = blockIdx.x / kCluster + seq * gridDim.x /
// kCluster, an item a tile or, with kCluster = 2, a pair of M-neighbouring tiles; M fastest),
// and starts a mainloop only
// after the other one has issued all of its own (a named barrier per consumer: the other arrives
// on it, this one waits). So while one consumer waits for its last wgmmas and runs its epilogue,
// the other's wgmmas keep the tensor cores busy.
//  * The producer (warpgroup 0, one thread) fills the stage ring in the same tile order, so the
//    next tile's stages are already loading while the current one finishes; each stage is read
//    by exactly one consumer, which releases it (the `empty` barriers count one arrival).
//  * kSub = 2: the tile's two 64-row halves are two m64nBNk32 wgmmas per k32 slice on the same
//    w tile (accumulators 2 x BN / 2 registers per thread).
//  * kCluster = 2: CTA pairs take M-neighbouring tiles of the same N tile at the same time (the
//    pair walks tile pairs in lockstep) and share the w tile: each CTA's producer loads half of
//    its rows and multicasts them to both, halving the w bytes read from L2 -- the ping-pong
//    tiles (64 rows) read w twice as often per product as the cooperative 128-row ones. A stage
//    is free once the consumers of both CTAs released it (the peer's producer writes into it).
//    Measured 7-13 % slower than without multicast on the H100 (docs/RESULTS.md, "Multicast,
//    deeper rings and persistent pairs"; the lockstep pair needs 22 % more cycles), so not picked.
//  * kBK = 64 (no promotion): 64-code stages, twice as many; measured 1.8x slower (the L2 traffic
//    doubles with the 64-row x boxes; not understood), kept as a forced option.
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

template <class Op, int kSub, int BN, int kStages, int kCluster, int kBK = 128, bool kClusterScope = false>
__global__ void __launch_bounds__(384, 1)
    gemm_kernel_pingpong(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw,
                         const typename Op::Args a) {
#ifdef QF_WGMMA
  static_assert(kSub == 1 || kSub == 2, "tiles of 64 or 128 rows");
  static_assert(!Op::kPromote || kSub * BN <= 192, "promotion holds two accumulators: at most 2 x 96 registers");
  using Acc = typename Op::Acc;
  // kBK: codes per stage, one swizzle row: 128, or 64 without promotion (twice the stages in the
  // same shared memory: a deeper ring ahead of the consumers).
  static_assert(kBK == 128 || (kBK == 64 && !Op::kPromote), "64-code stages: not with promotion");
  constexpr int BM = 64 * kSub;
  constexpr int kABytes = BM * kBK, kStageBytes = kABytes + BN * kBK;
  constexpr int kTurn = 1;  // named barriers kTurn + c: consumer c's turn on the tensor cores
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + kStages * kStageBytes);
  uint64_t* empty = full + kStages;

  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  // Work items: tiles, or (kCluster = 2) pairs of M-neighbouring tiles, M tiles padded to an
  // even count (a tile past M computes zeros and stores nothing). CTA rank r of a pair takes
  // M tile 2 * pm + r. Items in M-fastest order; this CTA (pair) takes items
  // first + seq * stride, seq = 0, 1, 2, ...
  const uint32_t rank = kCluster == 2 ? cluster_rank() : 0;
  const int m_tiles = ((a.m + BM - 1) / BM + kCluster - 1) / kCluster * kCluster;
  const int m_items = m_tiles / kCluster;
  const int items = m_items * ((a.n + BN - 1) / BN);
  const int first = static_cast<int>(blockIdx.x) / kCluster, stride = static_cast<int>(gridDim.x) / kCluster;
  const int k_steps = (a.k + kBK - 1) / kBK;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], kCluster);  // one consumer warpgroup per CTA of the pair reads a stage
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  if constexpr (kCluster == 2)
    cluster_sync();  // the peer's barriers exist before any multicast or remote arrival reaches them
  else
    __syncthreads();

  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
    if (t == 0) {
      int it = 0;
      for (int item = first; item < items; item += stride) {
        const int tile_m = (item % m_items) * kCluster + static_cast<int>(rank), tile_n = item / m_items;
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
          const int s = it % kStages;
          mbar_wait(&empty[s], ((it / kStages) & 1) ^ 1);
          mbar_expect_tx(&full[s], kStageBytes);  // both halves of w land here
          uint8_t* st = smem + s * kStageBytes;
          tma_load_2d(st, &tx, &full[s], ks * kBK, tile_m * BM);
          if constexpr (kCluster == 2)
            tma_load_2d_multicast(st + kABytes + rank * (BN / 2) * kBK, &tw, &full[s], ks * kBK,
                                  tile_n * BN + static_cast<int>(rank) * (BN / 2), 0x3);
          else
            tma_load_2d(st + kABytes, &tw, &full[s], ks * kBK, tile_n * BN);
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;");
    const int c = wg - 1;
    auto release = [&](int it) {
      mbar_arrive_if(&empty[it % kStages], t == 0);
      if constexpr (kCluster == 2) mbar_arrive_peer_if<kClusterScope>(&empty[it % kStages], rank ^ 1, t == 0);
    };
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
      const int item = first + seq * stride;
      if (item >= items) break;
      const int tile_m = (item % m_items) * kCluster + static_cast<int>(rank), tile_n = item / m_items;
      const int row0 = tile_m * BM, col0 = tile_n * BN;
      // The other consumer runs the next item of this CTA if there is one; it waits for this
      // one's hand-over (every wait below has exactly one arrival: the turns alternate).
      const bool hand_over = item + stride < items;
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
        // All of K in the tensor core's accumulators, kDepth groups in flight behind the newest
        // (8 k32 wgmmas either way: one group of 4 with 128-code stages, three of 2 with 64 --
        // only one consumer is on the tensor cores at a time, so its own queue must stay full;
        // with one group behind at 64 codes the ping-pong kernel ran 1.9x slower, run 1); the
        // turn passes as soon as the last group is issued, before waiting for it.
        constexpr int kDepth = kBK == 64 ? 3 : 1;
        Acc d[kSub][BN / 2];
#pragma unroll
        for (int j = 0; j < kSub; ++j)
#pragma unroll
          for (int i = 0; i < BN / 2; ++i) d[j][i] = Acc(0);
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
          issue(it, d, ks == 0);
          if (ks >= kDepth) {
            wgmma_wait<kDepth>();
            release(it - kDepth);
          }
        }
        if (hand_over) named_bar_arrive(kTurn + (c ^ 1), 256);
        wgmma_wait<0>();
        for (int r = k_steps < kDepth ? k_steps : kDepth; r > 0; --r) release(it - r);
#pragma unroll
        for (int j = 0; j < kSub; ++j) {
          fence_regs(d[j]);
          if (row0 + 64 * j < a.m) Op::template epilogue<BN>(a, d[j], row0 + 64 * j, col0, t);
        }
      }
    }
  }
  // No CTA of a pair leaves while its peer may still multicast into it or arrive on it.
  if constexpr (kCluster == 2) cluster_sync();
#endif
}

}  // namespace qf::cuda::wgmma
