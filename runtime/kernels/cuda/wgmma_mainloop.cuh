// The Hopper GEMM mainloop shared by the FP8 E4M3 GEMM (fp8_wgmma_gemm.cu) and the W8A8 int8 GEMM
// (w8a8_wgmma_gemm.cu): y[m, n] = epilogue(sum_k x[m, k] * w[n, k]) with both operands 8-bit codes,
// K-major ([M, K] and [N, K], the checkpoint's layouts), on wgmma.mma_async (sm_90a) fed by the
// bulk tensor copy engine (TMA, 128-byte swizzle). Only the MMA's operand/accumulator types and the
// epilogue differ between the two: they come in as the `Op` template parameter
//   struct Op {
//     using Acc = float | int32_t;                 // accumulator registers
//     static constexpr wgmma::Mma kMma;            // operand types of the wgmma
//     static constexpr bool kPromote;              // float only: see below
//     struct Args { int m, n, k; ... };            // kernel parameter (by value)
//     template <int BN> __device__ static void epilogue(const Args&, const Acc (&)[BN / 2],
//                                                       int row0, int col0, int t);
//   };
// (epilogue: the 64 x BN accumulator block of one warpgroup whose first row is row0 and first
// column col0, thread t of 128, in wgmma's accumulator layout: thread t holds rows
// 16 * (t / 32) + (t % 32) / 4 + {0, 8} and columns 8 * j + 2 * (t % 4) + {0, 1}, element
// 4 * j + 2 * h + e for row +8h, column +e).
//
// One CTA computes BM x BN tiles of y, BM = 64 * consumers (1 or 2), BN in {64, 128, 192, 256}:
//  * warpgroup 0 is the producer: one thread walks K in 128-byte steps (128 codes), waits for a
//    free stage (mbarrier `empty`), and asks the copy engine for the x tile [BM, 128] and the w
//    tile [BN, 128] of that step, completing on the stage's `full` mbarrier. Rows past M or N and
//    columns past K are filled with zeros by the copy engine (zero codes add nothing).
//  * warpgroups 1..consumers each own 64 rows: per stage, four m64nBNk32 wgmmas (32 codes = 32
//    bytes each: the descriptor's start address moves 32 bytes inside the swizzled 128-byte row).
//    kPromote (fp8): wait, add the tensor-core partial sum into float32 registers -- the fp8
//    accumulator inside the tensor core keeps fewer bits than float32, so it never sees more than
//    128 products -- and release the stage. Otherwise all of K stays in the tensor core's
//    accumulator, one group kept in flight behind the newest (int32: exact in any order).
//  * kPersistent: gridDim.x CTAs (one per SM) walk the tiles with a stride; the stage ring and its
//    barrier phases run on across tiles, so the producer loads the next tile's first stages while
//    the consumers are still in the previous tile's epilogue (the epilogue overlaps the copies).
//    Otherwise one CTA per tile.
//  * kCluster = 2: CTA pairs multicast the w tile (persistent or not). Correct, but 1-4 % slower
//    than the plain kernel on the H100 (docs/RESULTS.md, "Multicast, deeper rings and persistent
//    pairs": under the power cap the pair's lockstep costs more than the halved w reads save), so
//    no launcher picks it by default. kClusterScope: the peer's stage release as
//    `.release.cluster` (the first form: ptxas puts a MEMBAR before it, once per stage, 1.3-1.9x
//    slower) instead of CUTLASS's default-semantics remote arrive.
// Tile order: M tiles fastest, so CTAs running together share w tiles and the whole x of a wave
// (M <= ~1k rows) stays in L2 while w streams once.
// Learned from the public CUTLASS sm90 mainloops, DeepGEMM's promotion scheme and Hopper GEMM
// write-ups; written from scratch here.
#pragma once

#include <cuda.h>  // CUtensorMap and cuTensorMapEncodeTiled's type (no libcuda link: entry point)
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <string>

#include "core/error.h"
#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/wgmma_pingpong.cuh"
#include "runtime/kernels/cuda/wgmma_ptx.cuh"

namespace qf::cuda::wgmma {

// kBK: codes (bytes) per stage along K, one swizzle row: 128 (the default) or 64 (twice the
// stages in the same shared memory, so the consumers' two held stages pin less of it; not with
// promotion, which sums the tensor core's partials every 128 values).

template <int kConsumers, int BN, int kBK, int kStages>
constexpr int smem_bytes() {
  return kStages * (64 * kConsumers + BN) * kBK + 2 * kStages * 8 + 1024;  // + alignment slack
}

// Stages: as many as fit in ~200 KB of shared memory, at most 8 of 128 codes (16 of 64).
template <int kConsumers, int BN, int kBK>
constexpr int stages_for() {
  return std::min(8 * 128 / kBK, (200 * 1024) / ((64 * kConsumers + BN) * kBK));
}

template <class Op, int kConsumers, int BN, int kBK, int kStages, int kCluster, bool kPersistent,
          bool kClusterScope = false>
__global__ void __launch_bounds__((kConsumers + 1) * 128, 1)
    gemm_kernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw,
                const typename Op::Args a) {
#ifdef QF_WGMMA
  // kPersistent with kCluster = 2: gridDim.x is even and the tile count is even (M tiles padded
  // to an even count), so CTAs 2p and 2p + 1 of a pair walk tiles 2p + j * gridDim.x and
  // 2p + 1 + j * gridDim.x -- neighbouring M tiles of one N tile -- in lockstep, the same number.
  static_assert(kBK == 128 || (kBK == 64 && !Op::kPromote), "64-code stages: not with promotion");
  using Acc = typename Op::Acc;
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
  const int tiles = m_tiles * ((a.n + BN - 1) / BN);
  const int tile_stride = kPersistent ? static_cast<int>(gridDim.x) : tiles;  // one tile per CTA otherwise
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
      int it = 0;  // stage uses of this CTA, across its tiles
      for (int tile = blockIdx.x; tile < tiles; tile += tile_stride) {
        const int tile_m = tile % m_tiles, tile_n = tile / m_tiles;
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
          const int s = it % kStages;
          mbar_wait(&empty[s], ((it / kStages) & 1) ^ 1);  // the first pass finds every stage free
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
    }
  } else {
    if constexpr (kConsumers == 2) asm volatile("setmaxnreg.inc.sync.aligned.u32 232;");
    const int c = wg - 1;  // this consumer's 64 rows of the tile
    // A stage is free once every consumer warpgroup of this CTA (and, multicasting, of the peer,
    // whose producer writes half of the w tile here) is past the wgmma wait that completes its
    // reads: a wgmma is one operation of the whole warpgroup, so its first thread arrives for all.
    // (Every thread arriving -- 256 arrivals per stage, remote ones across the cluster -- made
    // the multicast kernel twice as slow as the plain one.)
    auto release = [&](int it) {
      mbar_arrive_if(&empty[it % kStages], t == 0);
      if constexpr (kCluster == 2) mbar_arrive_peer_if<kClusterScope>(&empty[it % kStages], rank ^ 1, t == 0);
    };
    // Waits for stage use `it`, issues its four k32 wgmmas into dd and commits them as one group;
    // `first`: the first wgmma overwrites dd.
    auto issue = [&](int it, Acc(&dd)[BN / 2], bool first) {
      const int s = it % kStages;
      mbar_wait(&full[s], (it / kStages) & 1);
      const uint8_t* sa = smem + s * kStageBytes + c * 64 * kBK;
      const uint8_t* sb = smem + s * kStageBytes + kABytes;
      // (Fast accumulation: d stays untouched by other code inside the K loop; pinning it here
      // while the previous group is in flight made ptxas serialize the wgmmas, C7515.)
      if constexpr (Op::kPromote) fence_regs(dd);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kBK / 32; ++kk)
        wgmma_k32<Op::kMma, BN>(dd, smem_desc<kBK>(sa + kk * 32), smem_desc<kBK>(sb + kk * 32),
                                !(first && kk == 0));
      wgmma_commit();
    };
    int it = 0;
    for (int tile = blockIdx.x; tile < tiles; tile += tile_stride) {
      const int tile_m = tile % m_tiles, tile_n = tile / m_tiles;
      const int row0 = tile_m * BM + c * 64, col0 = tile_n * BN;
      if constexpr (Op::kPromote) {
        // Per stage: its four wgmmas into d (the first overwrites), wait for them, add d into the
        // float32 sum, free the stage. The wait drains this warpgroup's tensor-core queue; the
        // other consumer warpgroup's group runs meanwhile. (Two alternating accumulators, to keep
        // a group queued across the addition, made ptxas serialize every wgmma -- C7514 -- and
        // were slower.)
        Acc d[BN / 2], acc[BN / 2];
#pragma unroll
        for (int i = 0; i < BN / 2; ++i) d[i] = acc[i] = Acc(0);
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
          issue(it, d, true);
          wgmma_wait<0>();
          fence_regs(d);
#pragma unroll
          for (int i = 0; i < BN / 2; ++i) acc[i] = __fadd_rn(acc[i], d[i]);
          release(it);
        }
        if (row0 < a.m) Op::template epilogue<BN>(a, acc, row0, col0, t);
      } else {
        // All of K in the tensor core's accumulator; one group in flight behind the newest.
        Acc d[BN / 2];
#pragma unroll
        for (int i = 0; i < BN / 2; ++i) d[i] = Acc(0);
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
          issue(it, d, ks == 0);
          if (ks > 0) {
            wgmma_wait<1>();
            release(it - 1);
          }
        }
        wgmma_wait<0>();
        release(it - 1);  // the producer may refill it (the next tile) during the epilogue
        fence_regs(d);
        if (row0 < a.m) Op::template epilogue<BN>(a, d, row0, col0, t);
      }
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
inline EncodeTiledFn encode_fn() {
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

// An 8-bit operand in device memory: `rows` rows of `k` codes, `ld` bytes apart (ld % 16 == 0,
// base 16-byte aligned: the copy engine's rules).
struct Operand {
  const void* base = nullptr;
  int64_t rows = 0, k = 0, ld = 0;
};

// Boxes of [box_rows, bk] codes with the bk-byte swizzle (bk = 128 or 64); reads past `rows` or
// `k` give zeros.
inline CUtensorMap make_map(const Operand& o, int box_rows, int bk) {
  CUtensorMap m;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(o.k), static_cast<cuuint64_t>(o.rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(o.ld)};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(bk), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t estr[2] = {1, 1};
  const CUresult r = encode_fn()(&m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(o.base), dims, strides, box,
                                 estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                 bk == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B,
                                 CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw Error("cuda wgmma GEMM: cuTensorMapEncodeTiled failed (" + std::to_string(int(r)) + ")");
  return m;
}

struct DeviceInfo {
  bool ok = false;
  const char* why = "";
  int sms = 0;
};

inline const DeviceInfo& device_info() {
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

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The tile shape a launcher runs: consumers (BM / 64), BN, cluster, persistent, codes per stage;
// pingpong: the ping-pong schedule (wgmma_pingpong.cuh: two consumer warpgroups, each owning a
// whole tile of 64 * consumers x block_n, taking turns on the tensor cores; always persistent).
struct Tiles {
  int consumers = 0, block_n = 0, cluster = 1;
  bool persistent = false;
  int block_k = 128;
  bool pingpong = false;
  bool cluster_scope = false;  // multicast: the peer's stage release as .release.cluster (the first form)
};

// The widest tiles that still give 1.5 waves (wider tiles read fewer bytes per product from L2):
// 128 x `wide` (the widest BN the accumulation allows), else 128 x 128, else (M <= 64) 64 x 128,
// else 64-column tiles for more CTAs (the small-M cases are weight-bandwidth bound: every SM
// should be streaming w).
// Measured on the H100 (cuda_fp8_bench; docs/RESULTS.md, "W8A8 on Hopper's int8 wgmma").
// Ping-pong (when `pingpong`; without promotion, wide = 256): 64 x 256 tiles, two in flight per
// CTA, where they give 1.5 waves of CTAs at M > 128. Measured on the H100 (docs/RESULTS.md,
// "Ping-pong consumers"): W8A8 as fast or faster than the cooperative pick wherever this
// chooses it (28672 x 8192: M = 512 +9-19 %, M = 1024 -2..+7 %; 8192^2, M = 1024: even); promoted
// accumulation stays cooperative (ping-pong leaves the tensor cores idle during each promotion).
inline Tiles pick_tiles(int64_t m, int64_t n, int wide, bool pingpong = true) {
  const int64_t sms = device_info().sms, m_tiles = (m + 127) / 128;
  auto fills = [&](int bn) { return m > 64 && 2 * m_tiles * ((n + bn - 1) / bn) >= 3 * sms; };
  Tiles t;
  t.consumers = 2;
  if (pingpong && wide == 256 && m > 128 && (m + 63) / 64 * ((n + 255) / 256) >= 3 * sms) {
    t.consumers = 1;
    t.block_n = 256;
    t.pingpong = true;
  } else if (fills(wide))
    t.block_n = wide;
  else if (fills(128))
    t.block_n = 128;
  else if (m <= 64) {  // one 64-row tile: 64 x 128 where those give 1.5 waves, else 64 x 64
    t.consumers = 1;
    t.block_n = 2 * ((m + 63) / 64) * ((n + 127) / 128) >= 3 * sms ? 128 : 64;
  } else {
    t.block_n = 64;
  }
  return t;
}

// A launcher's tiles: the forced shape of `req` (consumers and block_n both set) or pick_tiles';
// persistent unless asked otherwise (persistent < 0; measured faster on the H100: docs/RESULTS.md)
// -- multicast (cluster = 2) only when asked (persistent > 0); block_k 128 unless set. Req: W8Config or Fp8Tiles (the same fields).
// Forced shapes run cooperative unless req.pingpong > 0; the pick may choose ping-pong unless
// req.pingpong < 0 or the stages are asked to hold other than 128 codes (ping-pong has only those).
template <class Req>
inline Tiles resolve_tiles(const Req& req, int64_t m, int64_t n, int wide) {
  Tiles t;
  if (req.consumers == 0 || req.block_n == 0) {
    t = pick_tiles(m, n, wide, req.pingpong >= 0 && (req.block_k <= 0 || req.block_k == 128));
  } else {
    t.consumers = req.consumers;
    t.block_n = req.block_n;
    t.cluster = req.cluster;
    t.pingpong = req.pingpong > 0;
  }
  // Multicast runs persistent only when asked (persistent > 0); one CTA per tile otherwise.
  t.persistent = t.pingpong || (t.cluster == 1 ? req.persistent >= 0 : req.persistent > 0);
  t.block_k = req.block_k > 0 ? req.block_k : 128;
  t.cluster_scope = req.release_cluster_scope > 0;
  return t;
}

// The shapes pick_tiles can choose: cooperative tiles walked by persistent CTAs with 128-code
// stages and no multicast, and (without promotion) ping-pong 64 x 256. Every build has their
// kernels. The other forced shapes -- one CTA per tile, 64-code stages, multicast pairs, the other
// ping-pong tiles -- are variants that benchmarks measure the pick against: three quarters of the
// instantiations and of this library's compile time, built only with the CMake option
// QFORGE_CUDA_KERNEL_VARIANTS (which defines QF_WGMMA_VARIANTS).
#ifdef QF_WGMMA_VARIANTS
inline constexpr bool kVariantsBuilt = true;
#else
inline constexpr bool kVariantsBuilt = false;
#endif

inline bool pickable(const Tiles& t, bool promote) {
  if (!t.persistent || t.cluster != 1 || t.block_k != 128 || t.cluster_scope) return false;
  if (t.pingpong) return !promote && t.consumers == 1 && t.block_n == 256;
  if (t.consumers == 1) return t.block_n == 64 || t.block_n == 128;
  return t.consumers == 2 && (t.block_n == 64 || t.block_n == 128 || t.block_n == (promote ? 192 : 256));
}

// Whether this build runs the tiles `req` asks for (Req: W8Config or Fp8Tiles), whatever M and N:
// the pick when it walks persistent CTAs with 128-code stages (the pick's ping-pong always does;
// asked for one CTA per tile, the cooperative pick is a variant); a forced shape when it is
// pickable. With the variants built, everything (a shape no kernel has still throws at launch).
template <class Req>
inline bool tiles_built(const Req& req, bool promote) {
  if (kVariantsBuilt) return true;
  if (req.consumers == 0 || req.block_n == 0)
    return req.persistent >= 0 && (req.block_k <= 0 || req.block_k == 128) && req.release_cluster_scope <= 0;
  return pickable(resolve_tiles(req, 0, 0, promote ? 192 : 256), promote);  // forced: m, n unused
}

// How many CTAs of `kernel` a persistent grid launches, with its dynamic shared memory allowed
// (call once per kernel): one per SM, or with clusters of kCluster (CTA pairs) as many whole
// clusters as can be resident at once. A pair needs two free SMs of one GPC, so fewer than sms / 2
// may fit, and a pair that waited for a second wave would double the time.
template <int kCluster, class Kernel>
int resident_ctas(Kernel kernel, cudaLaunchConfig_t cfg, int smem) {
  QF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const int sms = device_info().sms;
  if (kCluster == 1) return sms;
  cfg.gridDim = dim3(static_cast<unsigned>(sms));
  int clusters = 0;
  QF_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg));
  return std::max(1, std::min(clusters, sms / kCluster)) * kCluster;
}

template <class Op, int kConsumers, int BN, int kCluster, bool kPersistent, int kBK = 128, bool kClusterScope = false>
void launch(const Operand& x, const Operand& w, const typename Op::Args& a, cudaStream_t stream) {
  constexpr int BM = 64 * kConsumers, kStages = stages_for<kConsumers, BN, kBK>();
  constexpr int smem = smem_bytes<kConsumers, BN, kBK, kStages>();
  auto kernel = gemm_kernel<Op, kConsumers, BN, kBK, kStages, kCluster, kPersistent, kClusterScope>;
  cudaLaunchConfig_t cfg = {};
  cfg.blockDim = dim3((kConsumers + 1) * 128);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = kCluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = kCluster > 1 ? 1 : 0;
  // Persistent CTAs (resident_ctas; an even count with pairs: the pairs' tile walk needs it).
  static int resident = 0;
  static std::once_flag once;
  std::call_once(once, [&] { resident = resident_ctas<kCluster>(kernel, cfg, smem); });
  const CUtensorMap tx = make_map(x, BM, kBK), tw = make_map(w, BN / kCluster, kBK);
  const int64_t m_tiles = ((a.m + BM - 1) / BM + kCluster - 1) / kCluster * kCluster;
  const int64_t tiles = m_tiles * ((a.n + BN - 1) / BN);
  const int64_t blocks = kPersistent ? std::min<int64_t>(tiles, resident) : tiles;
  cudaError_t e;
  if constexpr (kCluster == 1) {
    kernel<<<static_cast<unsigned>(blocks), (kConsumers + 1) * 128, smem, stream>>>(tx, tw, a);
    e = cudaGetLastError();
  } else {
    cfg.gridDim = dim3(static_cast<unsigned>(blocks));  // even: tiles and resident are
    e = cudaLaunchKernelEx(&cfg, kernel, tx, tw, a);
  }
  if (e != cudaSuccess) throw Error(std::string("CUDA error: ") + cudaGetErrorString(e) + " launching a wgmma GEMM");
}

template <class Op, bool kPersistent>
bool launch_plain(const Operand& x, const Operand& w, const typename Op::Args& a, cudaStream_t s, int consumers,
                  int bn) {
  if (consumers == 1 && bn == 64) return launch<Op, 1, 64, 1, kPersistent>(x, w, a, s), true;
  if (consumers == 1 && bn == 128) return launch<Op, 1, 128, 1, kPersistent>(x, w, a, s), true;
  if (consumers == 2 && bn == 64) return launch<Op, 2, 64, 1, kPersistent>(x, w, a, s), true;
  if (consumers == 2 && bn == 128) return launch<Op, 2, 128, 1, kPersistent>(x, w, a, s), true;
  // The widest tiles: 192 columns with promotion (two 96-register accumulators per thread),
  // 256 without (one of 128).
  if constexpr (Op::kPromote) {
    if (consumers == 2 && bn == 192) return launch<Op, 2, 192, 1, kPersistent>(x, w, a, s), true;
  } else {
    if (consumers == 2 && bn == 256) return launch<Op, 2, 256, 1, kPersistent>(x, w, a, s), true;
  }
  return false;
}

template <class Op, int kSub, int BN, int kCluster, int kBK = 128, bool kClusterScope = false>
void launch_pingpong(const Operand& x, const Operand& w, const typename Op::Args& a, cudaStream_t stream) {
  // The ring of the cooperative kernel: one tile's x rows and w rows a stage.
  constexpr int BM = 64 * kSub, kStages = stages_for<kSub, BN, kBK>();
  constexpr int smem = smem_bytes<kSub, BN, kBK, kStages>();
  auto kernel = gemm_kernel_pingpong<Op, kSub, BN, kStages, kCluster, kBK, kClusterScope>;
  cudaLaunchConfig_t cfg = {};
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = kCluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.blockDim = dim3(3 * 128);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = kCluster > 1 ? 1 : 0;
  // Persistent CTAs (resident_ctas).
  static int resident = 0;
  static std::once_flag once;
  std::call_once(once, [&] { resident = resident_ctas<kCluster>(kernel, cfg, smem); });
  const CUtensorMap tx = make_map(x, BM, kBK), tw = make_map(w, BN / kCluster, kBK);
  const int64_t m_items = ((a.m + BM - 1) / BM + kCluster - 1) / kCluster;
  const int64_t items = m_items * ((a.n + BN - 1) / BN);
  cfg.gridDim = dim3(static_cast<unsigned>(std::min<int64_t>(items * kCluster, resident)));
  const cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, tx, tw, a);
  if (e != cudaSuccess) throw Error(std::string("CUDA error: ") + cudaGetErrorString(e) + " launching a wgmma GEMM");
}

// The ping-pong tiles: without promotion 64 x 256 and 128 x 128 (128 accumulator registers per
// thread), with it 64 x 128 and 64 x 192 (two accumulators of up to 96).
// (cluster = 2: CTA pairs multicasting the w tile, 64 x 256 without promotion only; 64-code
// stages: 64 x 256 without promotion, plain or multicast; the first, cluster-scope release form
// of the multicast: 64 x 256, 128-code stages.)
template <class Op>
bool launch_pingpong_tiles(const Operand& x, const Operand& w, const typename Op::Args& a, cudaStream_t s,
                           const Tiles& t) {
  if constexpr (!Op::kPromote) {
    if (t.block_k == 64 && t.consumers == 1 && t.block_n == 256 && !t.cluster_scope) {
      if (t.cluster == 2) return launch_pingpong<Op, 1, 256, 2, 64>(x, w, a, s), true;
      if (t.cluster == 1) return launch_pingpong<Op, 1, 256, 1, 64>(x, w, a, s), true;
    }
    if (t.block_k == 128 && t.consumers == 1 && t.block_n == 256 && t.cluster == 2 && t.cluster_scope)
      return launch_pingpong<Op, 1, 256, 2, 128, true>(x, w, a, s), true;
  }
  if (t.block_k != 128 || t.cluster_scope) return false;
  if constexpr (Op::kPromote) {
    if (t.cluster != 1) return false;
    if (t.consumers == 1 && t.block_n == 128) return launch_pingpong<Op, 1, 128, 1>(x, w, a, s), true;
    if (t.consumers == 1 && t.block_n == 192) return launch_pingpong<Op, 1, 192, 1>(x, w, a, s), true;
  } else {
    if (t.cluster == 2) {
      if (t.consumers == 1 && t.block_n == 256) return launch_pingpong<Op, 1, 256, 2>(x, w, a, s), true;
      return false;
    }
    if (t.consumers == 1 && t.block_n == 256) return launch_pingpong<Op, 1, 256, 1>(x, w, a, s), true;
    if (t.consumers == 2 && t.block_n == 128) return launch_pingpong<Op, 2, 128, 1>(x, w, a, s), true;
  }
  return false;
}

// Runs tiles `t` (consumers and block_n set), any shape some kernel has; throws otherwise.
template <class Op>
void launch_any_tiles(const Operand& x, const Operand& w, const typename Op::Args& a, cudaStream_t s, const Tiles& t) {
  if (t.pingpong) {
    if (!launch_pingpong_tiles<Op>(x, w, a, s, t))
      throw Error("cuda wgmma GEMM: no ping-pong kernel for tiles of " + std::to_string(64 * t.consumers) + " x " +
                  std::to_string(t.block_n) + (Op::kPromote ? " with promoted accumulation" : "") +
                  (t.cluster == 2 ? ", multicast" : "") +
                  " (64 x 128 or 64 x 192 promoted, 64 x 256 or 128 x 128 not promoted; 128-code stages, 64 for "
                  "64 x 256 not promoted; multicast: 64 x 256 not promoted)");
    return;
  }
  bool ok = false;
  if constexpr (!Op::kPromote) {  // 64-code stages: the 128-row tiles, no multicast
    if (t.block_k == 64 && t.cluster == 1 && t.consumers == 2 && (t.block_n == 128 || t.block_n == 256)) {
      if (t.block_n == 128)
        t.persistent ? launch<Op, 2, 128, 1, true, 64>(x, w, a, s) : launch<Op, 2, 128, 1, false, 64>(x, w, a, s);
      else
        t.persistent ? launch<Op, 2, 256, 1, true, 64>(x, w, a, s) : launch<Op, 2, 256, 1, false, 64>(x, w, a, s);
      return;
    }
  }
  if (t.block_k != 128) {
    throw Error("cuda wgmma GEMM: 64-code stages run 128 x 128 or 128 x 256 tiles without promotion or multicast");
  } else if (t.cluster == 2) {  // w multicast over CTA pairs: the 128-row tiles only
    constexpr int kWide = Op::kPromote ? 192 : 256;
    if (t.cluster_scope) {  // the first release form: one CTA per tile, widest tiles only
      if (!t.persistent && t.consumers == 2 && t.block_n == kWide) {
        launch<Op, 2, kWide, 2, false, 128, true>(x, w, a, s);
        ok = true;
      }
    } else if (t.consumers == 2 && t.block_n == 128 && !t.persistent) {
      launch<Op, 2, 128, 2, false>(x, w, a, s);
      ok = true;
    } else if (t.consumers == 2 && t.block_n == kWide) {
      t.persistent ? launch<Op, 2, kWide, 2, true>(x, w, a, s) : launch<Op, 2, kWide, 2, false>(x, w, a, s);
      ok = true;
    }
  } else if (t.cluster == 1) {
    ok = t.persistent ? launch_plain<Op, true>(x, w, a, s, t.consumers, t.block_n)
                      : launch_plain<Op, false>(x, w, a, s, t.consumers, t.block_n);
  }
  if (!ok)
    throw Error("cuda wgmma GEMM: no kernel for tiles of " + std::to_string(64 * t.consumers) + " x " +
                std::to_string(t.block_n) + (Op::kPromote ? " with promoted accumulation" : "") +
                (t.cluster == 2 ? ", multicast" : "") + (t.persistent ? ", persistent" : "") +
                " (64 or 128 rows by 64, 128, 192 (promoted) or 256 (not promoted) columns; multicast: 128 rows, "
                "persistent only at the widest)");
}

// Runs tiles `t` (consumers and block_n set): every shape with the variants built, the pickable
// ones otherwise (launch_pingpong's and launch_plain's other instantiations are then never
// compiled); throws on a shape this build has no kernel for.
template <class Op>
void launch_tiles(const Operand& x, const Operand& w, const typename Op::Args& a, cudaStream_t s, const Tiles& t) {
  if constexpr (kVariantsBuilt) {
    launch_any_tiles<Op>(x, w, a, s, t);
  } else {
    if (pickable(t, Op::kPromote)) {
      if constexpr (!Op::kPromote) {
        if (t.pingpong) return launch_pingpong<Op, 1, 256, 1>(x, w, a, s);
      }
      if (!t.pingpong && launch_plain<Op, true>(x, w, a, s, t.consumers, t.block_n)) return;
    }
    throw Error("cuda wgmma GEMM: tiles of " + std::to_string(64 * t.consumers) + " x " + std::to_string(t.block_n) +
                (t.pingpong ? " ping-pong" : "") + (t.cluster == 2 ? ", multicast" : "") +
                (t.persistent ? "" : ", one CTA per tile") + (t.block_k != 128 ? ", 64-code stages" : "") +
                " are not in this build: it has the shapes the launcher picks; the benchmarks' variants need "
                "-DQFORGE_CUDA_KERNEL_VARIANTS=ON");
  }
}

}  // namespace qf::cuda::wgmma
