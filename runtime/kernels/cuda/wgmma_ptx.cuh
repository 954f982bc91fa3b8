// PTX wrappers of the Hopper GEMM mainloop (wgmma_mainloop.cuh): mbarriers, the bulk tensor copy
// engine (TMA, multicast included), cluster barriers, wgmma shared-memory descriptors and the
// m64nNk32 warpgroup MMAs on 8-bit operands -- E4M3 x E4M3 into float32, s8 x s8 and u8 x s8
// into int32 (exact). Device code for the sm_90a target only: include it from files of the
// qforge_cuda_fp8_sm90a library, inside `#if QF_WGMMA` (defined below).
#pragma once

#include <cstdint>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define QF_WGMMA 1
#endif

namespace qf::cuda::wgmma {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// The operand types of an 8-bit wgmma (x, w): E4M3 x E4M3 -> f32, s8 x s8 / u8 x s8 -> s32.
enum class Mma { kE4M3, kS8, kU8S8 };

#ifdef QF_WGMMA
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_u32(bar)), "r"(parity)
        : "memory");
  } while (!done);
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
// 2-D tile (c0 = column in bytes along K, c1 = row) of `map` into shared memory at dst.
__device__ __forceinline__ void tma_load_2d(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(
          smem_u32(dst)),
      "l"(map), "r"(c0), "r"(c1), "r"(smem_u32(bar))
      : "memory");
}

// The same, multicast: the tile lands at dst's offset in every CTA of `mask` (of this cluster),
// completing on the mbarrier at bar's offset in each.
__device__ __forceinline__ void tma_load_2d_multicast(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1,
                                                      uint16_t mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, "
      "%3}], [%4], %5;" ::"r"(smem_u32(dst)),
      "l"(map), "r"(c0), "r"(c1), "r"(smem_u32(bar)), "h"(mask)
      : "memory");
}
// Arrive on the mbarrier at bar's offset in CTA `cta` of this cluster when `pred` -- a predicate
// inside the asm, not a branch: a divergent branch between wgmmas makes ptxas serialize them.
__device__ __forceinline__ void mbar_arrive_cluster_if(uint64_t* bar, uint32_t cta, bool pred) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(smem_u32(bar)), "r"(cta));
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %1, 0;\n@p mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];\n}\n" ::"r"(
          remote),
      "r"(static_cast<int>(pred))
      : "memory");
}
// The same arrival with the PTX default semantics (.release at .cta scope), as CUTLASS's
// ClusterBarrier::arrive(cta_id, pred) does: the stage's reads were wgmma (async proxy) reads,
// complete at the wgmma wait before this, and the peer's producer only refills the stage through
// the copy engine, so no ordering of this thread's generic-proxy stores (the epilogue's y) at
// cluster scope is needed. `.release.cluster` (above) asks for that ordering on every stage:
// ptxas puts a MEMBAR before it, and the multicast kernels ran 1.3-1.9x slower with it than with
// this form (H100; docs/RESULTS.md, "Multicast, deeper rings and persistent pairs").
__device__ __forceinline__ void mbar_arrive_remote_cta_if(uint64_t* bar, uint32_t cta, bool pred) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(smem_u32(bar)), "r"(cta));
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %1, 0;\n@p mbarrier.arrive.shared::cluster.b64 _, [%0];\n}\n" ::"r"(remote),
               "r"(static_cast<int>(pred))
               : "memory");
}
// Releases stage barrier `bar` to the peer CTA of a pair: kClusterScope picks the form above.
template <bool kClusterScope>
__device__ __forceinline__ void mbar_arrive_peer_if(uint64_t* bar, uint32_t cta, bool pred) {
  if constexpr (kClusterScope)
    mbar_arrive_cluster_if(bar, cta, pred);
  else
    mbar_arrive_remote_cta_if(bar, cta, pred);
}
__device__ __forceinline__ void mbar_arrive_if(uint64_t* bar, bool pred) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %1, 0;\n@p mbarrier.arrive.shared::cta.b64 _, [%0];\n}\n" ::"r"(
                   smem_u32(bar)),
               "r"(static_cast<int>(pred))
               : "memory");
}
__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// Named barriers (ids 1..15; 0 is __syncthreads'): `threads` threads of the CTA meet there, some
// waiting (sync), some only counting themselves in (arrive). The ping-pong consumers
// (wgmma_pingpong.cuh) hand the tensor cores to each other with them.
__device__ __forceinline__ void named_bar_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_bar_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

// wgmma shared-memory descriptor of a K-major tile written with the kRowBytes-byte swizzle (128:
// rows of 128 bytes, 8-row core groups 1024 bytes apart; 64: rows of 64 bytes, groups 512 apart;
// 32: rows of 32 bytes, groups 256 apart -- the stride byte offset), leading byte offset unused
// for these layouts (1 by convention), swizzle mode in bits 62-63 (1 = 128B, 2 = 64B, 3 = 32B).
template <int kRowBytes = 128>
__device__ __forceinline__ uint64_t smem_desc(const void* p) {
  static_assert(kRowBytes == 128 || kRowBytes == 64 || kRowBytes == 32, "128-, 64- or 32-byte swizzle rows");
  const uint64_t a = smem_u32(p);
  return ((a & 0x3FFFF) >> 4) | (uint64_t(1) << 16) | (uint64_t(8 * kRowBytes >> 4) << 32) |
         (uint64_t(kRowBytes == 128 ? 1 : kRowBytes == 64 ? 2 : 3) << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory"); }
// Pins an accumulator register at this point of the instruction stream: without it the compiler
// may read a wgmma result register before the wait that makes it valid (or write one while a
// wgmma is in flight), since the asm statements above do not name them.
template <int N>
__device__ __forceinline__ void fence_regs(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void fence_regs(int32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i])::"memory");
}

// The m64nNk32 MMAs. Inline asm takes no register arrays, so every accumulator register is an
// operand: QF_WGMMA_ACC_N(c) lists d[0..N) with constraint c ("+f" or "+r"), QF_WGMMA_REGS_N
// names them in the instruction ({%0, ..., %N-1}, then the two descriptors %N, %N+1), and the
// predicate comes from scale_d, operand %N+2 (0: d = a * b, else d += a * b).
#define QF_WGMMA_ACC8(c, b)                                                                          \
  c(d[(b) + 0]), c(d[(b) + 1]), c(d[(b) + 2]), c(d[(b) + 3]), c(d[(b) + 4]), c(d[(b) + 5]), c(d[(b) + 6]), \
      c(d[(b) + 7])
#define QF_WGMMA_ACC32(c, b) \
  QF_WGMMA_ACC8(c, b), QF_WGMMA_ACC8(c, (b) + 8), QF_WGMMA_ACC8(c, (b) + 16), QF_WGMMA_ACC8(c, (b) + 24)
#define QF_WGMMA_ACC_16(c) QF_WGMMA_ACC8(c, 0), QF_WGMMA_ACC8(c, 8)
#define QF_WGMMA_ACC_32(c) QF_WGMMA_ACC32(c, 0)
#define QF_WGMMA_ACC_64(c) QF_WGMMA_ACC32(c, 0), QF_WGMMA_ACC32(c, 32)
#define QF_WGMMA_ACC_96(c) QF_WGMMA_ACC32(c, 0), QF_WGMMA_ACC32(c, 32), QF_WGMMA_ACC32(c, 64)
#define QF_WGMMA_ACC_128(c) QF_WGMMA_ACC32(c, 0), QF_WGMMA_ACC32(c, 32), QF_WGMMA_ACC32(c, 64), QF_WGMMA_ACC32(c, 96)
#define QF_WGMMA_REGS_16 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17"
#define QF_WGMMA_PRED_16 "%18"
#define QF_WGMMA_REGS_32 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33"
#define QF_WGMMA_PRED_32 "%34"
#define QF_WGMMA_REGS_64 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65"
#define QF_WGMMA_PRED_64 "%66"
#define QF_WGMMA_REGS_96 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95}, %96, %97"
#define QF_WGMMA_PRED_96 "%98"
#define QF_WGMMA_REGS_128 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129"
#define QF_WGMMA_PRED_128 "%130"
// One wrapper: NAME(d, da, db, scale_d) runs `wgmma.mma_async.sync.aligned.SHAPE_TYPES` on the
// N accumulators d of type ACC (constraint C); TAIL follows the predicate (E4M3: the operands'
// scale immediates 1, 1).
#define QF_WGMMA_K32(NAME, ACC, N, SHAPE_TYPES, C, TAIL)                                                   \
  __device__ __forceinline__ void NAME(ACC(&d)[N], uint64_t da, uint64_t db, int scale_d) {                \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " QF_WGMMA_PRED_##N ", 0;\n"                             \
                 "wgmma.mma_async.sync.aligned." SHAPE_TYPES " " QF_WGMMA_REGS_##N ", p" TAIL ";\n}\n"        \
                 : QF_WGMMA_ACC_##N(C)                                                                     \
                 : "l"(da), "l"(db), "r"(scale_d));                                                          \
  }

QF_WGMMA_K32(wgmma_m64n64k32_e4m3, float, 32, "m64n64k32.f32.e4m3.e4m3", "+f", ", 1, 1")
QF_WGMMA_K32(wgmma_m64n128k32_e4m3, float, 64, "m64n128k32.f32.e4m3.e4m3", "+f", ", 1, 1")
QF_WGMMA_K32(wgmma_m64n192k32_e4m3, float, 96, "m64n192k32.f32.e4m3.e4m3", "+f", ", 1, 1")
QF_WGMMA_K32(wgmma_m64n256k32_e4m3, float, 128, "m64n256k32.f32.e4m3.e4m3", "+f", ", 1, 1")
QF_WGMMA_K32(wgmma_m64n32k32_s8, int32_t, 16, "m64n32k32.s32.s8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n64k32_s8, int32_t, 32, "m64n64k32.s32.s8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n128k32_s8, int32_t, 64, "m64n128k32.s32.s8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n192k32_s8, int32_t, 96, "m64n192k32.s32.s8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n256k32_s8, int32_t, 128, "m64n256k32.s32.s8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n32k32_u8s8, int32_t, 16, "m64n32k32.s32.u8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n64k32_u8s8, int32_t, 32, "m64n64k32.s32.u8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n128k32_u8s8, int32_t, 64, "m64n128k32.s32.u8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n192k32_u8s8, int32_t, 96, "m64n192k32.s32.u8.s8", "+r", "")
QF_WGMMA_K32(wgmma_m64n256k32_u8s8, int32_t, 128, "m64n256k32.s32.u8.s8", "+r", "")
#undef QF_WGMMA_K32
#undef QF_WGMMA_ACC8
#undef QF_WGMMA_ACC32
#undef QF_WGMMA_ACC_16
#undef QF_WGMMA_ACC_32
#undef QF_WGMMA_ACC_64
#undef QF_WGMMA_ACC_96
#undef QF_WGMMA_ACC_128
#undef QF_WGMMA_REGS_32
#undef QF_WGMMA_REGS_64
#undef QF_WGMMA_REGS_96
#undef QF_WGMMA_REGS_128
#undef QF_WGMMA_PRED_32
#undef QF_WGMMA_PRED_64
#undef QF_WGMMA_PRED_96
#undef QF_WGMMA_PRED_128

// d += a * b for one k32 slice of a BN-wide tile, by operand type.
template <Mma kMma, int BN, class Acc>
__device__ __forceinline__ void wgmma_k32(Acc (&d)[BN / 2], uint64_t da, uint64_t db, int scale_d) {
  if constexpr (kMma == Mma::kE4M3) {
    if constexpr (BN == 64) wgmma_m64n64k32_e4m3(d, da, db, scale_d);
    else if constexpr (BN == 128) wgmma_m64n128k32_e4m3(d, da, db, scale_d);
    else if constexpr (BN == 192) wgmma_m64n192k32_e4m3(d, da, db, scale_d);
    else wgmma_m64n256k32_e4m3(d, da, db, scale_d);
  } else if constexpr (kMma == Mma::kS8) {
    if constexpr (BN == 64) wgmma_m64n64k32_s8(d, da, db, scale_d);
    else if constexpr (BN == 128) wgmma_m64n128k32_s8(d, da, db, scale_d);
    else if constexpr (BN == 192) wgmma_m64n192k32_s8(d, da, db, scale_d);
    else wgmma_m64n256k32_s8(d, da, db, scale_d);
  } else {
    if constexpr (BN == 64) wgmma_m64n64k32_u8s8(d, da, db, scale_d);
    else if constexpr (BN == 128) wgmma_m64n128k32_u8s8(d, da, db, scale_d);
    else if constexpr (BN == 192) wgmma_m64n192k32_u8s8(d, da, db, scale_d);
    else wgmma_m64n256k32_u8s8(d, da, db, scale_d);
  }
}
#endif  // QF_WGMMA

}  // namespace qf::cuda::wgmma
