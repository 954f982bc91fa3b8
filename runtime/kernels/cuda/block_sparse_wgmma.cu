// The block-sparse GEMM on wgmma (block_sparse_wgmma.h describes the kernel and its weight copy).
// Compiled for sm_90a only (the qforge_cuda_fp8_sm90a library); block_sparse_gemm.cu calls it.
//
// Exactness: the int32 sums of a group (or of all of K) are exact in any order; the epilogue is
// bs_steps_kernel's float operations in its order (the library is built with -fmad=false, and
// the intrinsics round explicitly), so the result is bit-identical to the reference kernels.
// int4 weights are int8 codes in wg_data (no 16 x code trick), so no shift before the epilogue.
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>

#include "runtime/kernels/cuda/block_sparse_wgmma.h"
#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/wgmma_mainloop.cuh"

namespace qf::cuda {
namespace {

std::atomic<int64_t> g_bsw_launches{0};

struct BswParams {
  const int32_t* slice_ptr;
  const int32_t* step_k;
  const uint8_t* wg;  // [steps][1024], swizzled
  const float* sx;
  int sx_stride;
  int32_t zx;
  const float* sw;         // [n, groups]
  const int32_t* rowsums;  // [n, groups]
  const float* bias;
  float* y;
  int m, n, k, groups, gs;
};

// Steps per ring stage: 4 per channel (one wait and one commit for four wgmmas), 1 per group (a
// group boundary may fall after any step; the flush needs the sums of exactly that group).
// Stages: about 190 KB of shared memory at BM = 128 (one CTA per SM, 36 steps in flight), about
// 100 KB at BM = 64 (two CTAs fit on an SM). Per channel, a zero activation tile stands in for
// the missing steps of a slice's last stage.
template <int kC, int kG>
struct BswShape {
  static constexpr int kStages = kG > 1 ? (kC == 2 ? 9 : 8) : 32;
  static constexpr int kA = 64 * kC * 32;  // the activation tile of one step: BM rows x 32 codes
  static constexpr int kStage = kG * (kA + kBSWgStepBytes);
  static constexpr int kZero = kG > 1 ? kA : 0;
  static constexpr int kSmem = kStages * kStage + kZero + 2 * kStages * 8 + 1024;  // + alignment slack
};

#ifdef QF_WGMMA
// wgmma descriptor of a step's K-major tile: rows of 32 bytes with the 32-byte swizzle (the k32
// of one wgmma is the whole swizzle row).
__device__ __forceinline__ uint64_t bsw_desc(const void* p) { return wgmma::smem_desc<32>(p); }

// d += a * b, m64n32k32, a = activations (u8 or s8), b = weights (s8), int32 accumulators.
template <bool kXU8>
__device__ __forceinline__ void bsw_mma(int32_t (&d)[16], uint64_t da, uint64_t db) {
  if constexpr (kXU8)
    wgmma::wgmma_m64n32k32_u8s8(d, da, db, 1);
  else
    wgmma::wgmma_m64n32k32_s8(d, da, db, 1);
}

// `bytes` contiguous bytes from global memory into shared memory by the copy engine, completing
// on `bar` (16-byte aligned ends, bytes % 16 == 0).
__device__ __forceinline__ void bsw_bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   wgmma::smem_u32(dst)),
               "l"(src), "r"(bytes), "r"(wgmma::smem_u32(bar))
               : "memory");
}
#endif

// Warps 0 .. 4 kC - 1: kC consumer warpgroups (64 rows of M each); warp 4 kC: the producer.
//
// (A producer warpgroup gathering the activation tiles with 16-byte cp.async instead of the copy
// engine was measured too -- docs/RESULTS.md, run bswg2 -- and was slower at every M.)
template <bool kXU8, int kC, int kG, bool kPerGroup>
__global__ void __launch_bounds__(kC * 128 + 32, 1)
    bsw_kernel(const __grid_constant__ CUtensorMap tx, const BswParams p) {
  static_assert(!kPerGroup || kG == 1, "per group: one step per stage");
  static_assert(32 % kG == 0, "a stage never straddles two batches of the step list");
#ifdef QF_WGMMA
  using Shape = BswShape<kC, kG>;
  constexpr int kS = Shape::kStages, kA = Shape::kA, kStage = Shape::kStage;
  extern __shared__ uint8_t bsw_smem_raw[];
  // Swizzled tiles start on 1024-byte boundaries (the 32-byte pattern repeats every 256).
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(bsw_smem_raw) + 1023) & ~uintptr_t(1023));
  uint8_t* zero_a = smem + kS * kStage;
  uint64_t* full = reinterpret_cast<uint64_t*>(zero_a + Shape::kZero);
  uint64_t* empty = full + kS;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int slice = blockIdx.x, n0 = slice * 32, m0 = blockIdx.y * 64 * kC;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kS; ++s) {
      wgmma::mbar_init(&full[s], 1);    // the producer's expect_tx; the copies complete it
      wgmma::mbar_init(&empty[s], kC);  // one arrival per consumer warpgroup
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  if constexpr (kG > 1) {
    for (int i = threadIdx.x; i < kA / 16; i += blockDim.x)
      reinterpret_cast<uint4*>(zero_a)[i] = make_uint4(0, 0, 0, 0);
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the zeros, visible to wgmma's reads
  }
  // What no kernel writes (the weight's arrays and the bias) is loaded before the wait for the
  // previous kernel (launch_util.cuh's contract), so those trips overlap its tail.
  detail::pdl_launch_dependents();
  const int q0 = __ldg(p.slice_ptr + slice), nsteps = __ldg(p.slice_ptr + slice + 1) - q0;
  const int nstages = (nsteps + kG - 1) / kG;
  __syncthreads();

  if (warp == 4 * kC) {
    // Producer: the step list in batches of 32 (lane i holds step i of the batch), lane 0 issuing
    // the copies: per step the activation tile by the tensor copy engine, per stage the steps'
    // weight tiles (contiguous in wg_data, already swizzled) in one bulk copy.
    int kl = lane < min(32, nsteps) ? __ldg(p.step_k + q0 + lane) : 0;
    detail::pdl_wait();  // the activations come from the previous kernel
    for (int it = 0; it < nstages; ++it) {
      const int i0 = it * kG, s = it % kS, c = min(kG, nsteps - i0);
      if (it > 0 && i0 % 32 == 0) kl = lane < min(32, nsteps - i0) ? __ldg(p.step_k + q0 + i0 + lane) : 0;
      int kk[kG];
#pragma unroll
      for (int j = 0; j < kG; ++j) kk[j] = __shfl_sync(0xffffffffu, kl, (i0 + j) % 32);
      if (lane == 0) {
        wgmma::mbar_wait(&empty[s], ((it / kS) & 1) ^ 1);  // the first pass finds every stage free
        wgmma::mbar_expect_tx(&full[s], static_cast<uint32_t>(c * (kA + kBSWgStepBytes)));  // zero fill counts
        uint8_t* st = smem + s * kStage;
        bsw_bulk_copy(st + kG * kA, p.wg + static_cast<int64_t>(q0 + i0) * kBSWgStepBytes,
                      static_cast<uint32_t>(c * kBSWgStepBytes), &full[s]);
#pragma unroll
        for (int j = 0; j < kG; ++j)
          if (j < c) wgmma::tma_load_2d(st + j * kA, &tx, &full[s], kk[j], m0);
      }
      __syncwarp();
    }
  } else {
    const int cw = warp / 4, t = threadIdx.x % 128, wl = t / 32, l = t % 32;
    // Thread t holds rows 16 wl + l / 4 + 8 h and columns 8 j + 2 (l % 4) + e of the 64 x 32
    // block, element 4 j + 2 h + e (wgmma's accumulator layout).
    // Per channel, the epilogue's operands of the thread's 8 columns, loaded now (weights).
    float ew[8] = {}, eb[8] = {};
    int32_t ers[8] = {};
    if constexpr (!kPerGroup) {
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int n = n0 + 8 * (i / 2) + 2 * (l % 4) + i % 2;
        if (n < p.n) {
          ew[i] = __ldg(p.sw + n);
          if (kXU8) ers[i] = __ldg(p.rowsums + n);
          if (p.bias) eb[i] = __ldg(p.bias + n);
        }
      }
    }
    detail::pdl_wait();
    // Per channel: one accumulator per step slot of a stage, so a stage's wgmmas do not wait on
    // each other (summed at the end: int32, exact in any order). Per group: one.
    int32_t acc[kG][16];
    float total[16];  // per group only
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      total[i] = 0.0f;
#pragma unroll
      for (int j = 0; j < kG; ++j) acc[j][i] = 0;
    }
    // Per group: adds group grp's sums (times its scales) to the totals, in the reference's order.
    auto flush = [&](int grp) {
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int n = n0 + 8 * j + 2 * (l % 4) + e;
          const bool ok = n < p.n;
          const float s = ok ? __ldg(p.sw + static_cast<int64_t>(n) * p.groups + grp) : 0.0f;
          const int32_t rs = (kXU8 && ok) ? __ldg(p.rowsums + static_cast<int64_t>(n) * p.groups + grp) : 0;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            int32_t v = acc[0][4 * j + 2 * h + e];
            if (kXU8) v -= p.zx * rs;
            total[4 * j + 2 * h + e] = __fadd_rn(total[4 * j + 2 * h + e], __fmul_rn(__int2float_rn(v), s));
            acc[0][4 * j + 2 * h + e] = 0;
          }
        }
    };
    int gcur = 0;
    for (int it = 0; it < nstages; ++it) {
      const int s = it % kS;
      wgmma::mbar_wait(&full[s], (it / kS) & 1);
      if constexpr (kPerGroup) {
        const int gq = __ldg(p.step_k + q0 + it) / p.gs;  // one step per stage
        if (gq != gcur) {  // the finished group, then the empty ones before gq
          wgmma::wgmma_wait<0>();
          wgmma::fence_regs(acc[0]);
          while (gcur < gq) flush(gcur++);
        }
      }
      const uint8_t* st = smem + s * kStage;
      wgmma::wgmma_fence();
#pragma unroll
      for (int j = 0; j < kG; ++j) {
        // A stage's missing steps (the slice's last stage) multiply zeros: no branch between the
        // wgmmas, which would make ptxas serialize them.
        const uint8_t* a = (kG > 1 && j >= min(kG, nsteps - it * kG)) ? zero_a : st + j * kA;
        bsw_mma<kXU8>(acc[j], bsw_desc(a + cw * 64 * 32), bsw_desc(st + kG * kA + j * kBSWgStepBytes));
      }
      wgmma::wgmma_commit();
      if (it > 0) {
        wgmma::wgmma_wait<1>();
        wgmma::mbar_arrive_if(&empty[(it - 1) % kS], t == 0);  // its wgmmas are done: the producer may refill it
      }
    }
    wgmma::wgmma_wait<0>();
#pragma unroll
    for (int j = 0; j < kG; ++j) wgmma::fence_regs(acc[j]);
    if constexpr (kPerGroup)
      while (gcur < p.groups) flush(gcur++);

    // Epilogue: the reference's float operations in its order.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = m0 + cw * 64 + 16 * wl + l / 4 + 8 * h;
      if (row >= p.m) continue;
      const float sx = __ldg(p.sx + static_cast<int64_t>(row) * p.sx_stride);
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int n = n0 + 8 * j + 2 * (l % 4) + e;
          if (n >= p.n) continue;
          float v;
          if constexpr (kPerGroup) {
            v = __fmul_rn(sx, total[4 * j + 2 * h + e]);
            if (p.bias) v = __fadd_rn(v, __ldg(p.bias + n));
          } else {
            int32_t a = 0;
#pragma unroll
            for (int jj = 0; jj < kG; ++jj) a += acc[jj][4 * j + 2 * h + e];
            if (kXU8) a -= p.zx * ers[2 * j + e];
            v = __fmul_rn(__int2float_rn(a), __fmul_rn(sx, ew[2 * j + e]));
            if (p.bias) v = __fadd_rn(v, eb[2 * j + e]);
          }
          p.y[static_cast<int64_t>(row) * p.n + n] = v;
        }
    }
  }
#endif
}

// The activation codes [rows, k] as boxes of [BM rows, 32 codes] with the 32-byte swizzle; rows
// past `rows` and codes past k come back as zeros.
CUtensorMap bsw_map(const void* x, int64_t rows, int64_t k, int bm) {
  CUtensorMap m;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k)};
  const cuuint32_t box[2] = {32, static_cast<cuuint32_t>(bm)};
  const cuuint32_t estr[2] = {1, 1};
  const CUresult r = wgmma::encode_fn()(&m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(x), dims, strides, box,
                                        estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_32B,
                                        CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw Error("cuda block-sparse wgmma: cuTensorMapEncodeTiled failed (" + std::to_string(int(r)) + ")");
  return m;
}

template <bool kXU8, int kC, int kG, bool kPerGroup>
void bsw_launch(const CUtensorMap& tx, const BswParams& p, dim3 grid, bool pdl) {
  constexpr int smem = BswShape<kC, kG>::kSmem;
  auto kernel = bsw_kernel<kXU8, kC, kG, kPerGroup>;
  static std::once_flag once;
  std::call_once(once, [&] {
    QF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  });
  detail::launch_pdl(kernel, grid, dim3(kC * 128 + 32), smem, nullptr, pdl, tx, p);
}

template <bool kXU8>
void bsw_dispatch(int c, bool per_group, const CUtensorMap& tx, const BswParams& p, dim3 grid, bool pdl) {
  if (per_group) {
    if (c == 1) bsw_launch<kXU8, 1, 1, true>(tx, p, grid, pdl);
    else bsw_launch<kXU8, 2, 1, true>(tx, p, grid, pdl);
  } else {
    if (c == 1) bsw_launch<kXU8, 1, 4, false>(tx, p, grid, pdl);
    else bsw_launch<kXU8, 2, 4, false>(tx, p, grid, pdl);
  }
}

}  // namespace

bool bs_wgmma_available(std::string* why) {
  const wgmma::DeviceInfo& d = wgmma::device_info();
  if (why) *why = d.why;
  return d.ok;
}

bool bs_wgmma_applies(const void* x, int64_t k) {
  return wgmma::aligned16(x) && k % 16 == 0 && k > 0 && k < (int64_t{1} << 31);
}

int64_t bs_wgmma_launches() { return g_bsw_launches.load(); }

bool bs_wgmma_gemm(const BSWgArgs& a) {
  if (!bs_wgmma_available() || !bs_wgmma_applies(a.x, a.k)) return false;
  if (a.m <= 0 || a.n <= 0) return true;
  const int bm = a.bm == 64 || a.bm == 128 ? a.bm : a.m <= 64 ? 64 : 128;
  const bool pg = a.group_size > 0;
  const int64_t max_rows = int64_t{65535} * bm;  // grid.y limit: longer M runs in chunks
  for (int64_t m0 = 0; m0 < a.m; m0 += max_rows) {
    const int64_t mc = std::min(max_rows, a.m - m0);
    const uint8_t* x = static_cast<const uint8_t*>(a.x) + m0 * a.k;
    const CUtensorMap tx = bsw_map(x, mc, a.k, bm);
    const BswParams p{a.slice_ptr,
                      a.step_k,
                      static_cast<const uint8_t*>(a.wg_data),
                      a.sx + m0 * a.sx_stride,
                      static_cast<int>(a.sx_stride),
                      a.zx,
                      a.sw,
                      a.rowsums,
                      a.bias,
                      a.y + m0 * a.n,
                      static_cast<int>(mc),
                      static_cast<int>(a.n),
                      static_cast<int>(a.k),
                      static_cast<int>(a.groups),
                      static_cast<int>(pg ? a.group_size : a.k)};
    const dim3 grid(static_cast<unsigned>(a.slices), static_cast<unsigned>((mc + bm - 1) / bm));
    if (a.x_unsigned)
      bsw_dispatch<true>(bm / 64, pg, tx, p, grid, a.pdl);
    else
      bsw_dispatch<false>(bm / 64, pg, tx, p, grid, a.pdl);
    ++g_bsw_launches;
  }
  return true;
}

}  // namespace qf::cuda
