// The `cuda` table's block-sparse GEMMs: kBSInt8 / kBSInt4 weights (BSR, core/block_sparse.h),
// per channel or per group, times qu8 / qs8 activation codes, bit-identical to the reference
// kernels (kernels.h, QGemmFn). Layouts and their conditions: block_sparse_gemm.h.
//
//  * bs_steps_kernel (kSteps layout): a CTA owns a slice of 32 outputs and 16 * MT * wm rows of M;
//    its warps walk the slice's k32 steps (pruned blocks are not in the list, so never read) with
//    mma.sync m16n8k32 (int8 x int8 -> int32; int4 weights expanded to 16 x code in registers).
//    Warps split the rows of M (wm) and, with per-channel scales, the steps (wk): their int32
//    partial sums meet in shared memory by atomicAdd (exact in any order). Per group, one warp
//    walks a slice's steps in increasing k and flushes group by group, every group in increasing
//    g (empty ones too, as the reference does), so the float sum has the reference's order.
//    The epilogue is the reference's operations in its order (the library is built with
//    -fmad=false, and the intrinsics round explicitly).
//  * At M >= kBSWgmmaDefaultMinM on Hopper (K % 16 == 0): the wgmma kernel of block_sparse_wgmma.h,
//    on the steps' second, swizzled copy (wg_data, uploaded where the device can run it).
//  * bs_bsr_kernel (kBsr layout, any block shape and group size): a warp per output; lanes take
//    consecutive kept codes of the output's block row (the k of the kept codes increase, so each
//    group is a prefix of what is left); int32 sums by shuffles; the same epilogue.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/int4_pack.h"
#include "runtime/kernels/cuda/block_sparse_gemm.h"
#include "runtime/kernels/cuda/block_sparse_gemv.h"
#include "runtime/kernels/cuda/block_sparse_wgmma.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/device_bytes.h"
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/mma_ptx.cuh"

namespace qf::cuda {
namespace {

using kernels::QWeightKind;

struct CudaBSWeights : kernels::PreparedQWeights {
  QWeightKind kind = QWeightKind::kBSInt8;
  BSLayout::Kind layout = BSLayout::Kind::kBsr;
  int64_t n = 0, k = 0, groups = 1, group_size = 0, slices = 0;
  int br = 0, bc = 0;
  DeviceBytes scales;
  DeviceBytes slice_ptr, step_k, step_data, rowsums;  // kSteps
  DeviceBytes wg_data;                                // the wgmma kernel's copy (null: no step kept)
  bool wgmma = false;                                 // kSteps on a GPU that runs the wgmma kernel
  DeviceBytes row_ptr, col, blocks;                   // kBsr
};

std::atomic<int> g_warps_k{0}, g_warps_m{0}, g_gemv{0}, g_wgmma{0}, g_wgmma_bm{0};

constexpr int kMaxBM = 128;  // rows of M per CTA: 16 * MT * wm with MT <= 2, wm <= 4

struct StepArgs {
  const uint8_t* x;  // [m, k] codes (uint8 or int8)
  int32_t zx;
  const float* sx;
  int sx_stride;
  const int32_t* slice_ptr;
  const int32_t* step_k;
  const uint4* data;
  const float* sw;          // [n, groups]
  const int32_t* rowsums;   // [n, groups]
  int groups, gs;
  const float* bias;
  float* y;
  int m, n, k;
  int wm, wk;               // warps across M rows / across steps
  bool x_aligned;           // x % 8 == 0 and k % 8 == 0: 8-byte activation loads
};

// The 8 activation codes of row `row` at k .. k+7 (0 past M or K) as two little-endian words.
__device__ __forceinline__ uint2 load_x8(const StepArgs& p, int row, int k) {
  if (row >= p.m || k >= p.k) return make_uint2(0u, 0u);
  const uint8_t* src = p.x + static_cast<int64_t>(row) * p.k + k;
  if (p.x_aligned) return __ldg(reinterpret_cast<const uint2*>(src));  // k % 8 == 0 and K % 8 == 0: all 8 inside
  uint32_t w[2] = {0u, 0u};
#pragma unroll
  for (int i = 0; i < 8; ++i)
    if (k + i < p.k) w[i / 4] |= static_cast<uint32_t>(__ldg(src + i)) << (8 * (i % 4));
  return make_uint2(w[0], w[1]);
}

template <bool XU8, bool INT4, int MT, bool PER_GROUP, int DEPTH = 4>
__global__ void __launch_bounds__(PER_GROUP ? 128 : 512, 1) bs_steps_kernel(StepArgs p) {
  detail::pdl_entry();
  // Per channel: the CTA's int32 sums; per group: its float totals (each written by one thread).
  __shared__ int32_t red[kMaxBM * 32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int wm = warp % p.wm, wk = warp / p.wm;
  const int bm = 16 * MT * p.wm;
  const int slice = blockIdx.x, n0 = slice * 32;
  const int mrow0 = blockIdx.y * bm, mw = mrow0 + wm * 16 * MT;
  if constexpr (!PER_GROUP) {
    for (int i = threadIdx.x; i < bm * 32; i += blockDim.x) red[i] = 0;
    __syncthreads();
  }
  const int q0 = p.slice_ptr[slice], q1 = p.slice_ptr[slice + 1];
  const int nsteps = q1 - q0;
  const int mine = nsteps > wk ? (nsteps - wk + p.wk - 1) / p.wk : 0;  // steps q0 + wk + i * wk_count

  int acc[MT][4][4] = {};
  float total[MT][4][4] = {};  // per group only (dead otherwise)
  int gcur = 0;

  // Per group: adds group grp's sums (times its scales) to the totals, in the reference's order.
  auto flush = [&](int grp) {
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int n = n0 + nt * 8 + 2 * t + e;
        const bool ok = n < p.n;
        const float s = ok ? __ldg(p.sw + static_cast<int64_t>(n) * p.groups + grp) : 0.0f;
        const int32_t rs = (XU8 && ok) ? __ldg(p.rowsums + static_cast<int64_t>(n) * p.groups + grp) : 0;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            int& a = acc[mt][nt][h * 2 + e];
            int32_t v = INT4 ? (a >> 4) : a;
            if (XU8) v -= p.zx * rs;
            total[mt][nt][h * 2 + e] = __fadd_rn(total[mt][nt][h * 2 + e], __fmul_rn(__int2float_rn(v), s));
            a = 0;
          }
      }
  };

  struct Frag {
    uint4 w[INT4 ? 1 : 2];
    uint2 x[MT][2];
  };
  auto load = [&](int q, int kq) {
    Frag f;
    if constexpr (INT4) {
      f.w[0] = __ldg(p.data + static_cast<int64_t>(q) * 32 + lane);
    } else {
      f.w[0] = __ldg(p.data + static_cast<int64_t>(q) * 64 + lane);
      f.w[1] = __ldg(p.data + static_cast<int64_t>(q) * 64 + 32 + lane);
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h) f.x[mt][h] = load_x8(p, mw + mt * 16 + g + 8 * h, kq + 8 * t);
    return f;
  };
  auto mma = [&](const Frag& f) {
    uint32_t a[MT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      a[mt][0] = f.x[mt][0].x;  // row g, logical k 4t.. (physical 8t..8t+3)
      a[mt][1] = f.x[mt][1].x;  // row g + 8
      a[mt][2] = f.x[mt][0].y;  // row g, logical k 16+4t.. (physical 8t+4..8t+7)
      a[mt][3] = f.x[mt][1].y;
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      uint32_t b0, b1;
      if constexpr (INT4) {
        const uint32_t w = nt == 0 ? f.w[0].x : nt == 1 ? f.w[0].y : nt == 2 ? f.w[0].z : f.w[0].w;
        b0 = (w << 4) & 0xF0F0F0F0u;  // 16 x codes 0..3 (low nibbles)
        b1 = w & 0xF0F0F0F0u;         // 16 x codes 4..7 (high nibbles)
      } else {
        const uint4 hv = f.w[nt / 2];
        b0 = (nt % 2) ? hv.z : hv.x;
        b1 = (nt % 2) ? hv.w : hv.y;
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) ptx::mma_16832_s8<XU8>(acc[mt][nt], a[mt], b0, b1);
    }
  };

  // Steps in batches of 32: lane i holds the k of the batch's step i (one load per 32 steps).
  // DEPTH steps are in flight per warp (a ring of fragments with compile-time indices): a warp
  // walks only a few steps, each a memory latency away. (H100, against one step of look-ahead:
  // 1.04-1.08x faster at M = 1, 3.3x at 4096 x 4096 M = 16, where the one-step version was
  // unexplainedly slow.)
  for (int b0 = 0; b0 < mine; b0 += 32) {
    const int cnt = min(32, mine - b0);
    auto q_of = [&](int i) { return q0 + wk + (b0 + i) * p.wk; };
    const int kl = lane < cnt ? __ldg(p.step_k + q_of(lane)) : 0;
    Frag f[DEPTH];
    int kf[DEPTH];
#pragma unroll
    for (int d = 0; d < DEPTH; ++d) {
      kf[d] = __shfl_sync(0xffffffffu, kl, d);
      if (d < cnt) f[d] = load(q_of(d), kf[d]);
    }
    for (int i = 0; i < cnt; i += DEPTH) {
#pragma unroll
      for (int d = 0; d < DEPTH; ++d) {
        if (i + d < cnt) {  // warp-uniform
          if constexpr (PER_GROUP) {
            const int gq = kf[d] / p.gs;
            while (gcur < gq) flush(gcur++);  // the finished group, then the empty ones before gq
          }
          mma(f[d]);
          const int nxt = i + d + DEPTH;
          if (nxt < cnt) {  // warp-uniform
            kf[d] = __shfl_sync(0xffffffffu, kl, nxt);
            f[d] = load(q_of(nxt), kf[d]);
          }
        }
      }
    }
  }

  if constexpr (PER_GROUP) {
    while (gcur < p.groups) flush(gcur++);
    float* redf = reinterpret_cast<float*>(red);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          redf[(wm * 16 * MT + mt * 16 + g + 8 * (e >> 1)) * 32 + nt * 8 + 2 * t + (e & 1)] = total[mt][nt][e];
  } else {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      if (mw + mt * 16 >= p.m) break;  // rows past M hold zeros
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          atomicAdd(&red[(wm * 16 * MT + mt * 16 + g + 8 * (e >> 1)) * 32 + nt * 8 + 2 * t + (e & 1)], acc[mt][nt][e]);
    }
  }
  __syncthreads();

  // Epilogue: the reference's float operations in its order; 32 consecutive outputs per row.
  for (int i = threadIdx.x; i < bm * 32; i += blockDim.x) {
    const int m = mrow0 + i / 32, n = n0 + i % 32;
    if (m >= p.m || n >= p.n) continue;
    const float sx = __ldg(p.sx + static_cast<int64_t>(m) * p.sx_stride);
    float v;
    if constexpr (PER_GROUP) {
      v = __fmul_rn(sx, reinterpret_cast<const float*>(red)[i]);
    } else {
      int32_t a = red[i];
      if (INT4) a >>= 4;  // the sum of 16 x codes is exact: back to the codes' sum
      if (XU8) a -= p.zx * __ldg(p.rowsums + n);
      v = __fmul_rn(__int2float_rn(a), __fmul_rn(sx, __ldg(p.sw + n)));
    }
    if (p.bias) v = __fadd_rn(v, __ldg(p.bias + n));
    p.y[static_cast<int64_t>(m) * p.n + n] = v;
  }
}

struct BsrArgs {
  const uint8_t* x;
  int32_t zx;
  const float* sx;
  int64_t sx_stride;
  const int32_t* row_ptr;
  const int32_t* col;
  const uint8_t* blocks;  // int8 [nnzb, br, bc] or int4 [nnzb, br, ceil(bc/2)]
  const float* sw;
  int64_t groups, gs;
  const float* bias;
  float* y;
  int64_t m, n, k;
  int br, bc;
};

constexpr int kBsrWarps = 8;

template <class XT, bool INT4, bool PER_GROUP>
__global__ void bs_bsr_kernel(BsrArgs p) {
  detail::pdl_entry();
  const int lane = threadIdx.x & 31;
  const int64_t o = blockIdx.x * static_cast<int64_t>(kBsrWarps) + (threadIdx.x >> 5);
  if (o >= p.n) return;  // whole warps leave together
  const int64_t R = o / p.br, r = o % p.br, bpr = INT4 ? (p.bc + 1) / 2 : p.bc;
  const int64_t j0 = p.row_ptr[R], E = (p.row_ptr[R + 1] - j0) * p.bc;  // kept codes of this row
  auto k_of = [&](int64_t e) { return static_cast<int64_t>(p.col[j0 + e / p.bc]) * p.bc + e % p.bc; };
  auto code = [&](int64_t e) -> int32_t {
    const int64_t j = j0 + e / p.bc, q = e % p.bc;
    const uint8_t* row = p.blocks + (j * p.br + r) * bpr;
    if constexpr (INT4) return (q & 1) ? int4_hi_signed(row[q >> 1]) : int4_lo_signed(row[q >> 1]);
    return static_cast<int8_t>(row[q]);
  };
  auto warp_sum = [](int32_t a) {
#pragma unroll
    for (int s = 16; s > 0; s >>= 1) a += __shfl_xor_sync(0xffffffffu, a, s);
    return a;
  };
  for (int64_t i = blockIdx.y; i < p.m; i += gridDim.y) {
    const XT* xr = reinterpret_cast<const XT*>(p.x) + i * p.k;
    const float sxi = p.sx[i * p.sx_stride];
    int64_t e = 0;
    float total = 0.0f;
    int32_t acc = 0;
    for (int64_t grp = 0; grp < p.groups; ++grp) {
      const int64_t kend = PER_GROUP ? (grp + 1) * p.gs : p.k;
      acc = 0;
      while (true) {  // the kept codes with k < kend are a prefix of those left
        const int64_t ee = e + lane;
        bool in = false;
        if (ee < E) {
          const int64_t kk = k_of(ee);
          in = kk < kend;
          if (in) acc += (static_cast<int32_t>(xr[kk]) - p.zx) * code(ee);
        }
        const int cnt = __popc(__ballot_sync(0xffffffffu, in));
        e += cnt;
        if (cnt < 32) break;
      }
      acc = warp_sum(acc);
      if constexpr (PER_GROUP) total = __fadd_rn(total, __fmul_rn(__int2float_rn(acc), p.sw[o * p.groups + grp]));
    }
    const float v = PER_GROUP ? __fmul_rn(sxi, total) : __fmul_rn(__int2float_rn(acc), __fmul_rn(sxi, p.sw[o]));
    if (lane == 0) p.y[i * p.n + o] = p.bias ? __fadd_rn(v, p.bias[o]) : v;
  }
}

const CudaBSWeights& prepared_of(const kernels::QWeights& w, QWeightKind kind) {
  const auto* p = dynamic_cast<const CudaBSWeights*>(w.prepared);
  if (!p || p->kind != kind || p->n != w.n || p->k != w.k)
    throw Error("cuda block-sparse qgemm: the weight was not prepared by the cuda table (prepare_qweights uploads "
                "it; a rows_slice must be prepared itself)");
  return *p;
}

template <bool XU8, bool INT4, int MT, bool PG>
void launch_steps(const StepArgs& a, dim3 grid, int threads) {
  detail::launch_kernel(bs_steps_kernel<XU8, INT4, MT, PG>, grid, dim3(threads), 0, nullptr, a);
  detail::check_launch("bs_steps_kernel");
}

template <class XT, bool INT4>
void bs_qgemm(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias, float* y) {
  if (m <= 0 || w.n <= 0) return;
  const CudaBSWeights& p = prepared_of(w, INT4 ? QWeightKind::kBSInt4 : QWeightKind::kBSInt8);
  constexpr bool kU8 = std::is_same<XT, uint8_t>::value;
  const int32_t zx = kU8 ? x.zero_point : 0;
  const bool pg = p.group_size > 0;
  if (p.layout == BSLayout::Kind::kBsr) {
    BsrArgs a{static_cast<const uint8_t*>(x.codes), zx, x.scales, x.scale_stride,
              static_cast<const int32_t*>(p.row_ptr.p), static_cast<const int32_t*>(p.col.p),
              static_cast<const uint8_t*>(p.blocks.p), static_cast<const float*>(p.scales.p), p.groups,
              pg ? p.group_size : p.k, bias, y, m, p.n, p.k, p.br, p.bc};
    const dim3 grid(static_cast<unsigned>((p.n + kBsrWarps - 1) / kBsrWarps), static_cast<unsigned>(std::min<int64_t>(m, 65535)));
    if (pg)
      detail::launch_kernel(bs_bsr_kernel<XT, INT4, true>, grid, dim3(kBsrWarps * 32), 0, nullptr, a);
    else
      detail::launch_kernel(bs_bsr_kernel<XT, INT4, false>, grid, dim3(kBsrWarps * 32), 0, nullptr, a);
    detail::check_launch("bs_bsr_kernel");
    return;
  }
  BSStepOperands ops;  // what the GEMV and the wgmma kernel read besides their copy of the steps
  ops.m = m;
  ops.x = x.codes;
  ops.x_unsigned = kU8;
  ops.zx = zx;
  ops.sx = x.scales;
  ops.sx_stride = x.scale_stride;
  ops.slice_ptr = static_cast<const int32_t*>(p.slice_ptr.p);
  ops.step_k = static_cast<const int32_t*>(p.step_k.p);
  ops.sw = static_cast<const float*>(p.scales.p);
  ops.rowsums = static_cast<const int32_t*>(p.rowsums.p);
  ops.bias = bias;
  ops.y = y;
  ops.n = p.n;
  ops.k = p.k;
  ops.slices = p.slices;
  // Decode steps with per-channel scales: the dp4a GEMV (block_sparse_gemv.h).
  const int want_gemv = g_gemv.load();
  if (!pg && want_gemv >= 0 && m <= (want_gemv > 0 ? kBSGemvMaxM : kBSGemvDefaultMaxM)) {
    BSGemvArgs g;
    static_cast<BSStepOperands&>(g) = ops;
    g.int4 = INT4;
    g.step_data = p.step_data.p;
    if (bs_gemv(g)) return;
  }
  // Larger M on Hopper: the wgmma kernel (block_sparse_wgmma.h), where it applies.
  const int want_wg = g_wgmma.load();
  if (p.wgmma && want_wg >= 0 && (want_wg > 0 || m >= kBSWgmmaDefaultMinM)) {
    BSWgArgs g;
    static_cast<BSStepOperands&>(g) = ops;
    g.wg_data = p.wg_data.p;
    g.groups = p.groups;
    g.group_size = p.group_size;
    g.bm = g_wgmma_bm.load();
    g.pdl = detail::pdl_enabled();
    if (bs_wgmma_gemm(g)) return;
  }
  // Rows of M per warp (16 * MT) and warps across M (wm) by M; warps across steps (wk): per
  // channel only (per group the flushes of a slice are one ordered chain). Each warp keeps 4
  // steps in flight (DEPTH).
  const int mt = m <= 16 ? 1 : 2;
  const int want_m = g_warps_m.load(), want_k = g_warps_k.load();
  // Defaults from the H100 sweep of bench/cuda/cuda_bs_bench (docs/RESULTS.md): more warps on a
  // slice's steps at small M (latency-bound: each warp walks only a few steps), two warps across
  // M above 64 rows.
  const int wm = want_m > 0 ? std::min(want_m, 4) : m <= 64 ? 1 : 2;
  int wk = 1;
  if (!pg) wk = std::max(1, std::min(want_k > 0 ? want_k : m <= 16 ? 16 : m <= 64 ? 8 : 4, 16 / wm));
  const int bm = 16 * mt * wm;
  const int64_t max_rows = int64_t{65535} * bm;  // grid.y limit: longer M runs in chunks
  for (int64_t m0 = 0; m0 < m; m0 += max_rows) {
    const int64_t mc = std::min(max_rows, m - m0);
    const int64_t sx_stride = x.scale_stride;
    StepArgs a{static_cast<const uint8_t*>(x.codes) + m0 * p.k, zx, x.scales + m0 * sx_stride,
               static_cast<int>(sx_stride), static_cast<const int32_t*>(p.slice_ptr.p),
               static_cast<const int32_t*>(p.step_k.p), static_cast<const uint4*>(p.step_data.p),
               static_cast<const float*>(p.scales.p), static_cast<const int32_t*>(p.rowsums.p),
               static_cast<int>(p.groups), static_cast<int>(pg ? p.group_size : p.k), bias, y + m0 * p.n,
               static_cast<int>(mc), static_cast<int>(p.n), static_cast<int>(p.k), wm, wk, false};
    a.x_aligned = reinterpret_cast<uintptr_t>(a.x) % 8 == 0 && p.k % 8 == 0;
    const dim3 grid(static_cast<unsigned>(p.slices), static_cast<unsigned>((mc + bm - 1) / bm));
    const int threads = 32 * wm * wk;
    if (mt == 1) {
      if (pg) launch_steps<kU8, INT4, 1, true>(a, grid, threads);
      else launch_steps<kU8, INT4, 1, false>(a, grid, threads);
    } else {
      if (pg) launch_steps<kU8, INT4, 2, true>(a, grid, threads);
      else launch_steps<kU8, INT4, 2, false>(a, grid, threads);
    }
  }
}

}  // namespace

void set_bs_config(BSConfig c) {
  g_warps_k.store(c.warps_k);
  g_warps_m.store(c.warps_m);
  g_gemv.store(c.gemv);
  g_wgmma.store(c.wgmma);
  g_wgmma_bm.store(c.wgmma_bm);
}

std::unique_ptr<kernels::PreparedQWeights> prepare_block_sparse__cuda(const kernels::QWeights& w) {
  // The wgmma kernel's copy of the steps only where it can run (1 KB more per kept step).
  const bool wgmma = bs_wgmma_available();
  const BSLayout L = bs_layout(w, wgmma);
  auto p = std::make_unique<CudaBSWeights>();
  p->kind = w.kind;
  p->layout = L.kind;
  p->n = L.n;
  p->k = L.k;
  p->groups = L.groups;
  p->group_size = L.group_size;
  p->br = L.br;
  p->bc = L.bc;
  p->slices = L.slices;
  p->scales = upload(L.scales);
  if (L.kind == BSLayout::Kind::kSteps) {
    p->slice_ptr = upload(L.slice_ptr);
    p->step_k = upload(L.step_k);
    p->step_data = upload(L.step_data);
    p->rowsums = upload(L.rowsums);
    if (!L.wg_data.empty()) p->wg_data = upload(L.wg_data);
    p->wgmma = wgmma;
  } else {
    p->row_ptr = upload(L.row_ptr);
    p->col = upload(L.col);
    p->blocks = upload(L.blocks);
  }
  return p;
}

void qu8_qs8bsw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b,
                               float* y) {
  bs_qgemm<uint8_t, false>(m, x, w, b, y);
}
void qs8_qs8bsw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b,
                               float* y) {
  bs_qgemm<int8_t, false>(m, x, w, b, y);
}
void qu8_qs4bsw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b,
                               float* y) {
  bs_qgemm<uint8_t, true>(m, x, w, b, y);
}
void qs8_qs4bsw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b,
                               float* y) {
  bs_qgemm<int8_t, true>(m, x, w, b, y);
}

}  // namespace qf::cuda
