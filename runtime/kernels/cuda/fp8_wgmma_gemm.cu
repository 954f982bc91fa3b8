// The Hopper FP8 GEMM (fp8_gemm.h): wgmma.mma_async on E4M3 x E4M3 with float32 accumulators,
// operand tiles in shared memory written by the bulk tensor copy engine (TMA, 128-byte swizzle)
// and read by the tensor cores through wgmma shared-memory descriptors. Compiled for sm_90a
// only (its own library, see CMakeLists.txt); the host side checks the device before launching.
//
// One CTA computes a BM x BN tile of y, BM = 64 * consumers (1 or 2), BN in {64, 128} and the wide
// 192 (promoted) / 256 (fast accumulation):
//  * warpgroup 0 is the producer: one thread walks K in 128-byte steps (128 codes), waits for a
//    free stage (mbarrier `empty`), and asks the copy engine for the x tile [BM, 128] and the w
//    tile [BN, 128] of that step, completing on the stage's `full` mbarrier. Rows past M or N and
//    columns past K are filled with zeros by the copy engine (zero codes add nothing).
//  * warpgroups 1..consumers each own 64 rows: per stage, four m64nBNk32 wgmmas (32 codes = 32
//    bytes each: the descriptor's start address moves 32 bytes inside the swizzled 128-byte row).
//    Promoted: wait, add the tensor-core partial sum into float32 registers -- the fp8
//    accumulator inside the tensor core keeps fewer bits than float32, so it never sees more than
//    128 products -- and release the stage; the other consumer's group keeps the tensor cores
//    busy meanwhile. Fast: all of K in the tensor core, one group kept in flight.
//  * epilogue: y = P * (sx[m] * sw[n]) + bias[n] with explicit _rn operations (no FMA), the
//    contract's order.
//  * optional (Fp8Tiles::cluster = 2): CTA pairs multicast the w tile. Correct but measured
//    slower on the H100 (docs/RESULTS.md), so the launcher never picks it.
// Why this shape: both operands must be K-major for 8-bit wgmma (no transpose), which is exactly
// the format's [M, K] and [N, K] layouts; 128 codes per stage is one 128-byte swizzle row, so a
// stage is one TMA box per operand. Learned from the public CUTLASS sm90 mainloops, DeepGEMM's
// promotion scheme and Hopper GEMM write-ups; written from scratch here.
#include <cuda.h>  // CUtensorMap and cuTensorMapEncodeTiled's type (no libcuda link: entry point)
#include <cuda_runtime.h>

#include <cstdio>
#include <mutex>
#include <string>

#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/fp8_gemm.h"

namespace qf::cuda {
namespace {

constexpr int kBK = 128;  // codes (bytes) per stage along K: one 128-byte swizzle row

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define QF_FP8_WGMMA 1
#endif

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

#ifdef QF_FP8_WGMMA
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

// wgmma shared-memory descriptor of a K-major tile written with the 128-byte swizzle: rows of
// 128 bytes, 8-row core groups 1024 bytes apart (stride byte offset), leading byte offset unused
// for this layout (1 by convention), swizzle mode 1 = 128B in bits 62-63.
__device__ __forceinline__ uint64_t smem_desc(const void* p) {
  const uint64_t a = smem_u32(p);
  return ((a & 0x3FFFF) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
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

__device__ __forceinline__ void wgmma_m64n64k32_e4m3(float (&d)[32], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
      "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
      "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
      "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
      "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
      "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
      "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_m64n192k32_e4m3(float (&d)[96], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %98, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n192k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95}, %96, %97, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
      "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
      "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
      "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
      "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
      "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
      "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
      "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
      "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
      "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95])
      : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_m64n256k32_e4m3(float (&d)[128], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
      "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
      "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
      "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
      "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
      "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
      "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
      "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
      "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
      "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
      "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
      "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
      "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
      "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "l"(da), "l"(db), "r"(scale_d));
}
template <int BN>
__device__ __forceinline__ void wgmma_e4m3(float (&d)[BN / 2], uint64_t da, uint64_t db, int scale_d) {
  if constexpr (BN == 64)
    wgmma_m64n64k32_e4m3(d, da, db, scale_d);
  else if constexpr (BN == 128)
    wgmma_m64n128k32_e4m3(d, da, db, scale_d);
  else if constexpr (BN == 192)
    wgmma_m64n192k32_e4m3(d, da, db, scale_d);
  else
    wgmma_m64n256k32_e4m3(d, da, db, scale_d);
}
#endif  // QF_FP8_WGMMA

struct KernelArgs {
  int m, n, k;
  const float* sx;
  int sx_stride;
  const float* sw;
  const float* bias;
  float* y;
};

template <int kConsumers, int BN, int kStages>
constexpr int smem_bytes() {
  return kStages * (64 * kConsumers + BN) * kBK + 2 * kStages * 8 + 1024;  // + alignment slack
}

template <int kConsumers, int BN, int kStages, bool kPromote, int kCluster>
__global__ void __launch_bounds__((kConsumers + 1) * 128, 1)
    fp8_wgmma_kernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw, KernelArgs a) {
#ifdef QF_FP8_WGMMA
  constexpr int BM = 64 * kConsumers;
  constexpr int kABytes = BM * kBK, kBBytes = BN * kBK, kStageBytes = kABytes + kBBytes;
  extern __shared__ uint8_t smem_raw[];
  // Swizzled tiles must start on 1024-byte boundaries (the swizzle pattern repeats every 8 rows).
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + kStages * kStageBytes);
  uint64_t* empty = full + kStages;

  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  // kCluster == 2: the two CTAs of a cluster take neighbouring M tiles of one N tile, so they
  // need the same w tile: each loads half of its rows and multicasts it to both, halving the w
  // bytes read from L2 per product. M tiles are padded to an even count (a tile past M computes
  // zeros and stores nothing).
  const uint32_t rank = kCluster == 2 ? cluster_rank() : 0;
  const int m_tiles = ((a.m + BM - 1) / BM + kCluster - 1) / kCluster * kCluster;
  // M tiles fastest: CTAs running together share w tiles... and the whole x of a wave (M <= ~1k)
  // stays in L2 while w streams once.
  const int tile_m = blockIdx.x % m_tiles, tile_n = blockIdx.x / m_tiles;
  const int k_steps = (a.k + kBK - 1) / kBK;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], kCluster * kConsumers);  // one arrival per consumer warpgroup of each CTA
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  if constexpr (kCluster == 2)
    cluster_sync();  // the peer's barriers exist before any multicast reaches them
  else
    __syncthreads();

  if (wg == 0) {
    // The producer needs few registers; the consumers' accumulators get them (2 consumers:
    // 128 x 40 + 256 x 232 <= 64K registers).
    if constexpr (kConsumers == 2) asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
    if (t == 0) {
      for (int ks = 0; ks < k_steps; ++ks) {
        const int s = ks % kStages;
        mbar_wait(&empty[s], ((ks / kStages) & 1) ^ 1);  // the first pass finds every stage free
        mbar_expect_tx(&full[s], kStageBytes);            // zero-filled parts count too
        uint8_t* st = smem + s * kStageBytes;
        tma_load_2d(st, &tx, &full[s], ks * kBK, tile_m * BM);
        if constexpr (kCluster == 2)
          tma_load_2d_multicast(st + kABytes + rank * (BN / 2) * kBK, &tw, &full[s], ks * kBK,
                                tile_n * BN + static_cast<int>(rank) * (BN / 2), 0x3);
        else
          tma_load_2d(st + kABytes, &tw, &full[s], ks * kBK, tile_n * BN);
      }
    }
  } else {
    if constexpr (kConsumers == 2) asm volatile("setmaxnreg.inc.sync.aligned.u32 232;");
    const int c = wg - 1;  // this consumer's 64 rows of the tile
    // A stage is free once every consumer warpgroup of this CTA (and, multicasting, of the peer,
    // whose producer writes half of the w tile here) is past the wgmma wait that completes its
    // reads: a wgmma is one operation of the whole warpgroup, so its first thread arrives for all.
    // (Every thread arriving -- 256 arrivals per stage, remote ones across the cluster -- made
    // the multicast kernel twice as slow as the plain one.)
    auto release = [&](int ks) {
      mbar_arrive_if(&empty[ks % kStages], t == 0);
      if constexpr (kCluster == 2) mbar_arrive_cluster_if(&empty[ks % kStages], rank ^ 1, t == 0);
    };
    // Waits for stage ks, issues its four k32 wgmmas into dd and commits them as one group.
    auto issue = [&](int ks, float(&dd)[BN / 2]) {
      const int s = ks % kStages;
      mbar_wait(&full[s], (ks / kStages) & 1);
      const uint8_t* sa = smem + s * kStageBytes + c * 64 * kBK;
      const uint8_t* sb = smem + s * kStageBytes + kABytes;
      // (Fast accumulation: d stays untouched by other code until the end; pinning it here while
      // the previous group is in flight made ptxas serialize the wgmmas, C7515.)
      if constexpr (kPromote) fence_regs(dd);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kBK / 32; ++kk)
        wgmma_e4m3<BN>(dd, smem_desc(sa + kk * 32), smem_desc(sb + kk * 32),
                       kPromote ? (kk > 0) : (ks > 0 || kk > 0));
      wgmma_commit();
    };
    // Accumulator layout of m64nNk32 (f32): thread t of the warpgroup holds rows
    // 16 * (t / 32) + (t % 32) / 4 + {0, 8} and columns 8 * j + 2 * (t % 4) + {0, 1}.
    auto epilogue = [&](const float(&p)[BN / 2]) {
      const int warp = t / 32, lane = t % 32;
      const int row0 = tile_m * BM + c * 64 + warp * 16 + lane / 4;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = row0 + 8 * h;
        if (row >= a.m) continue;
        const float sx = a.sx[static_cast<int64_t>(row) * a.sx_stride];
        float* yr = a.y + static_cast<int64_t>(row) * a.n;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int col = tile_n * BN + 8 * j + 2 * (lane % 4) + e;
            if (col >= a.n) continue;
            float v = __fmul_rn(p[4 * j + 2 * h + e], __fmul_rn(sx, a.sw[col]));
            if (a.bias) v = __fadd_rn(v, a.bias[col]);
            yr[col] = v;
          }
        }
      }
    };
    if constexpr (kPromote) {
      // Per stage: its four wgmmas into d (the first overwrites), wait for them, add d into the
      // float32 sum, free the stage. The wait drains this warpgroup's tensor-core queue; the other
      // consumer warpgroup's group runs meanwhile. (Two alternating accumulators, to keep a group
      // queued across the addition, made ptxas serialize every wgmma -- C7514 -- and were slower.)
      float d[BN / 2], acc[BN / 2];
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) d[i] = acc[i] = 0.0f;
      for (int ks = 0; ks < k_steps; ++ks) {
        issue(ks, d);
        wgmma_wait<0>();
        fence_regs(d);
#pragma unroll
        for (int i = 0; i < BN / 2; ++i) acc[i] = __fadd_rn(acc[i], d[i]);
        release(ks);
      }
      epilogue(acc);
    } else {
      // All of K in the tensor core's accumulator; one group in flight behind the newest.
      float d[BN / 2];
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) d[i] = 0.0f;
      for (int ks = 0; ks < k_steps; ++ks) {
        issue(ks, d);
        if (ks > 0) {
          wgmma_wait<1>();
          release(ks - 1);
        }
      }
      wgmma_wait<0>();
      fence_regs(d);
      epilogue(d);
    }
  }
  // No CTA of a cluster leaves while its peer may still multicast into it or arrive on it.
  if constexpr (kCluster == 2) cluster_sync();
#endif
}

// ---- host side ----

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// The driver's tensor-map encoder through the runtime's entry-point query (no libcuda link).
EncodeTiledFn encode_fn() {
  static EncodeTiledFn fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      p = nullptr;
    return reinterpret_cast<EncodeTiledFn>(p);
  }();
  return fn;
}

// [rows, k] bytes, row-major, boxes of [box_rows, 128] with the 128-byte swizzle.
CUtensorMap make_map(const uint8_t* base, int64_t rows, int64_t k, int box_rows) {
  CUtensorMap m;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k)};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(kBK), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t estr[2] = {1, 1};
  const CUresult r = encode_fn()(&m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<uint8_t*>(base), dims, strides, box,
                                 estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                 CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw Error("cuda fp8 GEMM: cuTensorMapEncodeTiled failed (" + std::to_string(int(r)) + ")");
  return m;
}

struct DeviceInfo {
  bool ok = false;
  const char* why = "";
  int sms = 0;
};

const DeviceInfo& device_info() {
  static DeviceInfo info = [] {
    DeviceInfo d;
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      cudaGetLastError();
      d.why = "no CUDA device";
      return d;
    }
    if (major != 9 || minor != 0) {
      d.why = "not a compute capability 9.0 (Hopper) GPU";
      return d;
    }
    if (!encode_fn()) {
      d.why = "the driver has no cuTensorMapEncodeTiled";
      return d;
    }
    d.ok = true;
    return d;
  }();
  return info;
}

template <int kConsumers, int BN, int kStages, bool kPromote, int kCluster = 1>
void launch(const Fp8Gemm& g) {
  constexpr int BM = 64 * kConsumers;
  constexpr int smem = smem_bytes<kConsumers, BN, kStages>();
  auto kernel = fp8_wgmma_kernel<kConsumers, BN, kStages, kPromote, kCluster>;
  static std::once_flag once;
  std::call_once(once, [&] { QF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)); });
  const CUtensorMap tx = make_map(g.x, g.m, g.k, BM), tw = make_map(g.w, g.n, g.k, BN / kCluster);
  KernelArgs a{static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), g.sx, static_cast<int>(g.sx_stride),
               g.sw, g.bias, g.y};
  const int64_t m_tiles = ((g.m + BM - 1) / BM + kCluster - 1) / kCluster * kCluster;
  const int64_t blocks = m_tiles * ((g.n + BN - 1) / BN);
  cudaError_t e;
  if constexpr (kCluster == 1) {
    kernel<<<static_cast<unsigned>(blocks), (kConsumers + 1) * 128, smem>>>(tx, tw, a);
    e = cudaGetLastError();
  } else {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(static_cast<unsigned>(blocks));
    cfg.blockDim = dim3((kConsumers + 1) * 128);
    cfg.dynamicSmemBytes = smem;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = kCluster;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    e = cudaLaunchKernelEx(&cfg, kernel, tx, tw, a);
  }
  if (e != cudaSuccess) throw Error(std::string("CUDA error: ") + cudaGetErrorString(e) + " launching fp8 wgmma GEMM");
}

template <bool kPromote>
void launch_tiles(const Fp8Gemm& g, int consumers, int bn, int cluster) {
  // Stages: as many as fit in ~200 KB of shared memory, at most 8.
  if (cluster == 2) {  // w multicast over CTA pairs: the 128-row tiles only
    if (consumers == 2 && bn == 128) return launch<2, 128, 6, kPromote, 2>(g);
    if constexpr (kPromote) {
      if (consumers == 2 && bn == 192) return launch<2, 192, 5, true, 2>(g);
    } else {
      if (consumers == 2 && bn == 256) return launch<2, 256, 4, false, 2>(g);
    }
  } else {
    if (consumers == 1 && bn == 64) return launch<1, 64, 8, kPromote>(g);
    if (consumers == 1 && bn == 128) return launch<1, 128, 8, kPromote>(g);
    if (consumers == 2 && bn == 64) return launch<2, 64, 8, kPromote>(g);
    if (consumers == 2 && bn == 128) return launch<2, 128, 6, kPromote>(g);
    // The widest tiles: 192 columns with promotion (two 96-register accumulators per thread),
    // 256 without (one of 128).
    if constexpr (kPromote) {
      if (consumers == 2 && bn == 192) return launch<2, 192, 5, true>(g);
    } else {
      if (consumers == 2 && bn == 256) return launch<2, 256, 4, false>(g);
    }
  }
  throw Error("cuda fp8 GEMM: no kernel for tiles of " + std::to_string(64 * consumers) + " x " + std::to_string(bn) +
              (kPromote ? " with promoted accumulation" : " with fast accumulation") +
              (cluster == 2 ? ", multicast" : ""));
}

}  // namespace

bool fp8_wgmma_available(const char** why) {
  const DeviceInfo& d = device_info();
  if (why) *why = d.why;
  return d.ok;
}

bool fp8_gemm_wgmma(const Fp8Gemm& g, Fp8Accum accum, Fp8Tiles tiles) {
  if (!device_info().ok) return false;
  if (g.k % 16 != 0 || reinterpret_cast<uintptr_t>(g.x) % 16 != 0 || reinterpret_cast<uintptr_t>(g.w) % 16 != 0)
    return false;
  if (g.m <= 0 || g.n <= 0) return true;
  if (g.m > 0x7fffffff || g.n > 0x7fffffff || g.k > 0x7fffffff)
    throw Error("cuda fp8 GEMM: a dimension exceeds 2^31 - 1");
  int consumers = tiles.consumers, bn = tiles.block_n, cluster = tiles.cluster;
  if (consumers == 0 || bn == 0) {
    // The widest tiles that still fill the chip (wider tiles read fewer bytes per product from
    // L2); narrower ones otherwise, for more CTAs (the small-M cases are weight-bandwidth bound:
    // every SM should be streaming w). 128 x 256 needs the registers of one accumulator: fast
    // accumulation only.
    const int64_t sms = device_info().sms;
    const int wide = accum == Fp8Accum::kFast ? 256 : 192;
    const int64_t t128 = ((g.m + 127) / 128) * ((g.n + 127) / 128),
                  twide = ((g.m + 127) / 128) * ((g.n + wide - 1) / wide);
    consumers = 2;
    if (g.m > 64 && 2 * twide >= 3 * sms)  // 1.5 waves of wide tiles (H100, cuda_fp8_bench)
      bn = wide;
    else if (t128 >= 2 * sms)
      bn = 128;
    else {
      consumers = g.m <= 64 ? 1 : 2;
      bn = 64;
    }
  }
  if ((consumers != 1 && consumers != 2) || (bn != 64 && bn != 128 && bn != 192 && bn != 256))
    throw Error("cuda fp8 GEMM: tiles are 64 or 128 rows by 64, 128, 192 (promoted) or 256 (fast) columns");
  if (accum == Fp8Accum::kPromoted)
    launch_tiles<true>(g, consumers, bn, cluster);
  else
    launch_tiles<false>(g, consumers, bn, cluster);
  return true;
}

}  // namespace qf::cuda
