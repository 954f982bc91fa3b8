// W4A16 and 4-bit + 2:4 sparse GEMMs: int4 weights (per-group fp16/bf16 scales) times fp16/bf16
// activations, dequantized in registers and multiplied on the tensor cores.
//
// Why this shape (Marlin's idea, written from the PTX manual, not copied): at M = 1..16 the
// time is the weight bytes, so the kernel streams each weight byte exactly once, 16 bytes per
// lane per load, already in the order of the mma A fragment (w4_prepare / w4sp_prepare). The
// product is computed transposed, y^T = W * x^T: the weight is the 16-row A operand and the
// few activation rows are the 8-wide B operand, so no tensor-core lane is wasted on padding
// rows of M. Warps split K (reduced through shared memory at the end) and the rows of the
// weight, so that enough 16-byte loads are in flight to cover the memory latency.
#include <algorithm>
#include <string>

#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/mma_ptx.cuh"
#include "runtime/kernels/cuda/w4_fragment.cuh"
#include "runtime/kernels/cuda/w4_gemv.h"
#include "runtime/kernels/cuda/w4_stream_gemm.h"

namespace qf::cuda {
namespace {

using namespace w4frag;

struct W4Args {
  const uint4* packed;
  const uint4* meta;  // sparse only
  const float* scales;
  const void* x;
  int64_t ldx;
  void* y;
  int m, n, k, ntiles, chunks, groups, gs, npad;
  int cpg;  // chunks per scale group (scale-after path; per channel: all chunks)
};

// Reduces the K-split partial sums through shared memory and writes y (rows m, columns n).
template <int MT, int NT, int WN, int WK>
__host__ __device__ constexpr int reduce_bytes() { return WK > 1 ? (WK - 1) * WN * NT * MT * 4 * 32 * 4 : 0; }

// `scratch`: reduce_bytes() of shared memory no thread still uses.
template <bool BF16, int MT, int NT, int WN, int WK>
__device__ __forceinline__ void reduce_store(float (&acc)[NT][MT][4], const W4Args& p, int nt0, int m0, void* scratch) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wn = warp % WN, wk = warp / WN;
  if constexpr (WK > 1) {
    auto red = reinterpret_cast<float (*)[WN][NT * MT * 4][32]>(scratch);
    if (wk > 0) {
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int i = 0; i < 4; ++i) red[wk - 1][wn][(j * MT + mt) * 4 + i][lane] = acc[j][mt][i];
    }
    __syncthreads();
    if (wk > 0) return;
#pragma unroll
    for (int w = 0; w < WK - 1; ++w)
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int i = 0; i < 4; ++i) acc[j][mt][i] += red[w][wn][(j * MT + mt) * 4 + i][lane];
  }
  using T = elem_t<BF16>;
  T* y = static_cast<T*>(p.y);
  const int g = lane / 4, cq = lane % 4;
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int nrow = (nt0 + j) * 16 + g + ((i & 2) ? 8 : 0);
        const int mcol = m0 + mt * 8 + 2 * cq + (i & 1);
        if (nrow < p.n && mcol < p.m) {
          if constexpr (BF16)
            y[static_cast<int64_t>(mcol) * p.n + nrow] = __float2bfloat16_rn(acc[j][mt][i]);
          else
            y[static_cast<int64_t>(mcol) * p.n + nrow] = __float2half_rn(acc[j][mt][i]);
        }
      }
}


// The scale-after path: a group's partial sums (exact code x activation products in fp32)
// are multiplied by the float32 scales once per group instead of scaling every weight (4
// multiplies per 8 codes), which is both fewer instructions and no fp16 rounding of the weight.
// sums(j, mt, i): S for output i of tile (j, mt).
template <bool BF16, bool OFFSET, int MT, int NT, class Sums>
__device__ __forceinline__ void flush_group(float (&acc)[NT][MT][4], float (&tot)[NT][MT][4], const W4Args& p,
                                            int gi, int nt0, int g, Sums sums) {
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    const bool ok = nt0 + j < p.ntiles;
    const float* sp = p.scales + static_cast<int64_t>(gi) * p.npad + (nt0 + j) * 16 + g;
    const float s0 = ok ? __ldg(sp) : 0.0f, s1 = ok ? __ldg(sp + 8) : 0.0f;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float v = OFFSET ? remove_offset<BF16>(acc[j][mt][i], sums(j, mt, i), i >= 2) : acc[j][mt][i];
        tot[j][mt][i] = fmaf(v, i < 2 ? s0 : s1, tot[j][mt][i]);
        acc[j][mt][i] = 0.0f;
      }
    }
  }
}

// Weights stream through a per-lane ring of D shared-memory slots filled by cp.async: D-1
// chunks are in flight while one is multiplied, without holding them in registers. Each lane
// reads back only the 16 bytes it copied itself, so no barrier is needed (cp.async.wait_group
// makes a thread's own copies visible to it).
template <int NT, int D>
struct WeightRing {
  uint4* slots;  // [D][NT][32] of this warp
  __device__ __forceinline__ void issue(const uint4* const (&src)[NT], const bool (&ok)[NT], int c, int c1,
                                        int stride, int lane) {
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const bool v = ok[j] && c < c1;
      const uint32_t dst = static_cast<uint32_t>(__cvta_generic_to_shared(slots + ((c % D) * NT + j) * 32 + lane));
      ptx::cp_async16(dst, v ? static_cast<const void*>(src[j] + static_cast<int64_t>(c) * stride) : src[j], v);
    }
  }
  __device__ __forceinline__ void read(uint4 (&w)[NT], int c, int lane) const {
#pragma unroll
    for (int j = 0; j < NT; ++j) w[j] = slots[((c % D) * NT + j) * 32 + lane];
  }
};

// Dense: chunk = 64 k = 4 k16 tiles; lane (g, cq) owns chunk-relative k 16cq .. 16cq+15.
// SA: scale after the mma (group size a multiple of 64, or per channel); else scale in the
// dequantization (any multiple of 16).
template <bool BF16, bool SA, int MT, int NT, int WN, int WK>
__global__ void __launch_bounds__(WN* WK * 32) w4a16_dense_kernel(W4Args p) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wn = warp % WN, wk = warp / WN;
  const int g = lane / 4, cq = lane % 4;
  const int nt0 = (blockIdx.x * WN + wn) * NT;
  const int m0 = blockIdx.y * 8 * MT;
  const int per = (p.chunks + WK - 1) / WK;
  const int c0 = wk * per, c1 = min(p.chunks, c0 + per);
  const auto* x = static_cast<const elem_t<BF16>*>(p.x);
  float acc[NT][MT][4] = {};
  float tot[NT][MT][4] = {};
  float xsum[MT][4] = {};  // SA: S per activation column (rows of the ones fragment are equal)
  const uint4* wp[NT];
  bool ok[NT];
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    ok[j] = nt0 + j < p.ntiles;
    wp[j] = p.packed + (static_cast<int64_t>(ok[j] ? nt0 + j : 0) * p.chunks) * 32 + lane;
  }
  int gi = SA ? c0 / p.cpg : 0;
  int next_flush = SA ? min(c1, (gi + 1) * p.cpg) : 0;

  // Activations of a chunk: at M = 9..16 loaded with its weights, two chunks ahead (run 5:
  // 27.0 -> 23.4 us at 8192^2); at M <= 8 just before use, because the extra registers cost
  // occupancy (run 5: 17.1 -> 21.3 us, achieved occupancy 46% -> 28% in ncu); beyond 16 rows
  // they do not fit in registers.
  constexpr bool XPRE = MT == 2;
  struct XBuf {
    uint4 lo[XPRE ? MT : 1], hi[XPRE ? MT : 1];
  };
  auto load_x = [&](XBuf& b, int c) {
    if constexpr (XPRE) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        load_x16<BF16>(x, p.ldx, m0 + mt * 8 + g, c < c1 ? p.m : 0, c * 64 + cq * 16, p.k, b.lo[mt], b.hi[mt]);
    }
  };
  auto process = [&](const uint4 (&w)[NT], const XBuf& xb, int c) {
    const int kk = c * 64 + cq * 16;
    uint4 xl[MT], xh[MT];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      if constexpr (XPRE) {
        xl[mt] = xb.lo[mt];
        xh[mt] = xb.hi[mt];
      } else {
        load_x16<BF16>(x, p.ldx, m0 + mt * 8 + g, p.m, kk, p.k, xl[mt], xh[mt]);
      }
    }
    int gsi = 0;
    if constexpr (!SA) gsi = min(kk / p.gs, p.groups - 1);
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      uint32_t s0 = 0, s1 = 0;
      if constexpr (!SA) {
        const float* sp = p.scales + static_cast<int64_t>(gsi) * p.npad + (nt0 + j) * 16 + g;
        s0 = scale_pair<BF16>(ok[j] ? __ldg(sp) : 0.0f);
        s1 = scale_pair<BF16>(ok[j] ? __ldg(sp + 8) : 0.0f);
      }
      mma_chunk<BF16, SA, MT>(w[j], s0, s1, xl, xh, acc[j]);
    }
    if constexpr (SA) {
      mma_chunk_sums<BF16, MT>(xl, xh, xsum);
      if (c + 1 == next_flush) {
        flush_group<BF16, true, MT, NT>(acc, tot, p, gi, nt0, g, [&](int, int mt, int i) { return xsum[mt][i & 1]; });
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int i = 0; i < 4; ++i) xsum[mt][i] = 0.0f;
        ++gi;
        next_flush = min(c1, next_flush + p.cpg);
      }
    }
  };

  // Two chunks of weights in flight while one is multiplied: three register buffers in
  // rotation (a shared-memory cp.async ring was measured slower here: more instructions).
  auto load = [&](uint4 (&w)[NT], int c) {
#pragma unroll
    for (int j = 0; j < NT; ++j) w[j] = (ok[j] && c < c1) ? ptx::ld_stream(wp[j] + c * 32) : make_uint4(0, 0, 0, 0);
  };
  // Programmatic dependent launch (W4Config::pdl): the first weights (which no kernel writes) are
  // asked for before waiting on the previous kernel of the stream; the activations after.
  detail::pdl_launch_dependents();
  uint4 wa[NT], wb[NT], wc[NT];
  XBuf xa, xb, xc;
  load(wa, c0);
  load(wb, c0 + 1);
  detail::pdl_wait();
  load_x(xa, c0);
  load_x(xb, c0 + 1);
  for (int c = c0; c < c1; c += 3) {
    load(wc, c + 2);
    load_x(xc, c + 2);
    process(wa, xa, c);
    if (c + 1 >= c1) break;
    load(wa, c + 3);
    load_x(xa, c + 3);
    process(wb, xb, c + 1);
    if (c + 2 >= c1) break;
    load(wb, c + 4);
    load_x(xb, c + 4);
    process(wc, xc, c + 2);
  }
  constexpr int RED = reduce_bytes<MT, NT, WN, WK>();
  __shared__ __align__(16) unsigned char smem[RED > 0 ? RED : 16];
  if constexpr (SA)
    reduce_store<BF16, MT, NT, WN, WK>(tot, p, nt0, m0, smem);
  else
    reduce_store<BF16, MT, NT, WN, WK>(acc, p, nt0, m0, smem);
}

// 2:4 sparse: chunk = 128 k = 4 k32 tiles of mma.sp; lanes 2p, 2p+1 of a quad read the 16
// activations at chunk-relative k 32t + 16p and each keeps its half of every quartet.
// SA: group size a multiple of 128 (or per channel).
template <bool BF16, bool SA, int MT, int NT, int WN, int WK>
__global__ void __launch_bounds__(WN* WK * 32) w4sp_kernel(W4Args p) {
  detail::pdl_entry();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wn = warp % WN, wk = warp / WN;
  const int g = lane / 4, cq = lane % 4, pair = cq / 2;
  const bool odd = cq & 1;
  const int nt0 = (blockIdx.x * WN + wn) * NT;
  const int m0 = blockIdx.y * 8 * MT;
  const int per = (p.chunks + WK - 1) / WK;
  const int c0 = wk * per, c1 = min(p.chunks, c0 + per);
  const auto* x = static_cast<const elem_t<BF16>*>(p.x);
  float acc[NT][MT][4] = {};
  float tot[NT][MT][4] = {};
  const uint4* wp[NT];
  const uint2* mp[NT];
  bool ok[NT], okm[NT];
  // Metadata ([tile][chunk][32 lanes][2 words], cuda_qgemm.h): lane (g, cq < 2) gathers its
  // words of k32 tiles 0, 1 (its own slot) and 2, 3 (the slot of lane cq + 2) into one 16-byte
  // ring slot, so that this kernel keeps using sparsity selector 0.
  const int mlane = g * 4 + (cq & 1);
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    ok[j] = nt0 + j < p.ntiles;
    okm[j] = ok[j] && cq < 2;  // lanes 2, 3 of each quad give no metadata (selector 0)
    const int64_t base = static_cast<int64_t>(ok[j] ? nt0 + j : 0) * p.chunks;
    wp[j] = p.packed + base * 32 + lane;
    mp[j] = reinterpret_cast<const uint2*>(p.meta) + base * 32 + mlane;
  }
  int gi = SA ? c0 / p.cpg : 0;
  int next_flush = SA ? min(c1, (gi + 1) * p.cpg) : 0;

  auto process = [&](const uint4 (&w)[NT], const uint4 (&e)[NT], int c) {
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const int kk = c * 128 + 32 * t + 16 * pair;
      uint32_t b[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        uint4 lo, hi;
        load_x16<BF16>(x, p.ldx, m0 + mt * 8 + g, p.m, kk, p.k, lo, hi);
        b[mt][0] = odd ? lo.y : lo.x;
        b[mt][1] = odd ? lo.w : lo.z;
        b[mt][2] = odd ? hi.y : hi.x;
        b[mt][3] = odd ? hi.w : hi.z;
      }
      int gsi = 0;
      if constexpr (!SA) gsi = min((c * 128 + 32 * t + 16 * (cq & 1)) / p.gs, p.groups - 1);
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const uint32_t word = t == 0 ? w[j].x : t == 1 ? w[j].y : t == 2 ? w[j].z : w[j].w;
        const uint32_t meta = t == 0 ? e[j].x : t == 1 ? e[j].y : t == 2 ? e[j].z : e[j].w;
        uint32_t a[4];
        if constexpr (SA) {
          // Exact codes (no offset trick here: its per-row S needs one more mma.sp per tile,
          // measured slower, run 4 of docs/RESULTS.md).
          dequant8<BF16, false>(word, 0u, 0u, a);
        } else {
          const float* sp = p.scales + static_cast<int64_t>(gsi) * p.npad + (nt0 + j) * 16 + g;
          dequant8<BF16>(word, scale_pair<BF16>(ok[j] ? __ldg(sp) : 0.0f),
                         scale_pair<BF16>(ok[j] ? __ldg(sp + 8) : 0.0f), a);
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) ptx::mma_sp_16832<BF16>(acc[j][mt], a, b[mt], meta);
      }
    }
    if constexpr (SA) {
      if (c + 1 == next_flush) {
        flush_group<BF16, false, MT, NT>(acc, tot, p, gi, nt0, g, [](int, int, int) { return 0.0f; });
        ++gi;
        next_flush = min(c1, next_flush + p.cpg);
      }
    }
  };

  // Weight and metadata rings (D stages per warp), reused for the K-split reduction afterwards.
  constexpr int D = NT == 1 ? 6 : 3;
  constexpr int RINGW = (WN * WK) * D * NT * 32 * 16, RINGE = (WN * WK) * D * NT * 32 * 16;
  constexpr int RED = reduce_bytes<MT, NT, WN, WK>();
  __shared__ __align__(16) unsigned char smem[RINGW + RINGE > RED ? RINGW + RINGE : RED];
  WeightRing<NT, D> wring{reinterpret_cast<uint4*>(smem) + warp * D * NT * 32};
  WeightRing<NT, D> ering{reinterpret_cast<uint4*>(smem + RINGW) + warp * D * NT * 32};
  auto issue_meta = [&](int c) {
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const bool v = okm[j] && c < c1;
      const uint32_t dst =
          static_cast<uint32_t>(__cvta_generic_to_shared(ering.slots + ((c % D) * NT + j) * 32 + lane));
      const uint2* src = v ? mp[j] + static_cast<int64_t>(c) * 32 : mp[j];
      ptx::cp_async8(dst, src, v);
      ptx::cp_async8(dst + 8, v ? src + 2 : src, v);
    }
  };
#pragma unroll
  for (int s = 0; s < D - 1; ++s) {
    wring.issue(wp, ok, c0 + s, c1, 32, lane);
    issue_meta(c0 + s);
    ptx::cp_async_commit();
  }
  for (int c = c0; c < c1; ++c) {
    ptx::cp_async_wait<D - 2>();
    uint4 w[NT], e[NT];
    wring.read(w, c, lane);
    ering.read(e, c, lane);
    wring.issue(wp, ok, c + D - 1, c1, 32, lane);
    issue_meta(c + D - 1);
    ptx::cp_async_commit();
    process(w, e, c);
  }
  ptx::cp_async_wait<0>();
  __syncthreads();
  if constexpr (SA)
    reduce_store<BF16, MT, NT, WN, WK>(tot, p, nt0, m0, smem);
  else
    reduce_store<BF16, MT, NT, WN, WK>(acc, p, nt0, m0, smem);
}

// 8 activations x[row, kk .. kk+7] (zero outside [0, k) or for rows >= m); kk % 8 == 0.
template <bool BF16>
__device__ __forceinline__ uint4 load_x8(const elem_t<BF16>* x, int64_t ldx, int row, int m, int kk, int k) {
  if (row >= m) return make_uint4(0, 0, 0, 0);
  const elem_t<BF16>* p = x + static_cast<int64_t>(row) * ldx + kk;
  if (kk + 8 <= k) return ptx::ld_nc_ordered(p);
  uint32_t v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = kk + i < k ? reinterpret_cast<const uint16_t*>(p)[i] : 0u;
  return make_uint4(v[0] | (v[1] << 16), v[2] | (v[3] << 16), v[4] | (v[5] << 16), v[6] | (v[7] << 16));
}

// 2:4 at M <= 16, scales after the mma (group size a multiple of 128, or per channel): the
// register-streaming shape of the dense kernel above instead of w4sp_kernel's cp.async rings.
// Why (docs/RESULTS.md, "4-bit + 2:4 at M <= 16", H100 runs 1-4):
//   - registers held to 64 (4 blocks of 8 warps per SM, one wave for 512 tiles): w4sp_kernel took
//     77 at M = 9..16, so its 8192^2 grid ran in two waves (53 us against 25 us at M = 8);
//   - every lane loads 16 bytes of codes and 8 of metadata per 128-k chunk (the metadata layout
//     of cuda_qgemm.h: k32 tiles 2, 3 come from lanes 2, 3 of each quad through sparsity
//     selector 1, so no lane loads nothing), and the chunk's two scales with them, D chunks
//     ahead: w4sp_kernel read each group's scales only when it flushed, one DRAM round trip
//     per 128-k chunk at group size 128;
//   - each lane loads 8 of the 16 activations its lane pair needs and swaps two words with its
//     partner (the pair used to load all 16 twice).
// D = 2 register buffers (no spills) measured faster than 3 (spills); per-lane L2 / L1 prefetches
// and a bulk L2 prefetch of each warp's slice measured slower (runs 2, 3). M = 9..16 runs as two
// 8-row slices (MSPLIT, neighbouring blocks, the second finds the codes in L2): the one 16-row
// form (MT = 2, 6 warps at 80 registers) is latency-bound (ncu: no eligible warp 77 % of cycles).
// The arithmetic is w4sp_kernel's (exact codes, fp32 sums, one scale per group; with WK = 8 the
// same K split and reduction), so the outputs are the same bits (tests: W4SparseSmall).
// SHFL_META: tiles 2, 3 take their metadata from lane + 2 by a shuffle and selector 0 (a
// fallback, measured beside the selector-1 form).
template <bool BF16, int MT, int D, bool SHFL_META, int WK, bool BULK, bool MSPLIT>
__global__ void __launch_bounds__(WK * 32, 4) w4sp_reg_kernel(W4Args p) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, cq = lane % 4, pair = cq / 2;
  const bool odd = cq & 1;
  // MSPLIT: the two 8-row slices of M = 9..16 of one tile are neighbouring blocks, so they run
  // together and the second finds the tile's codes in L2.
  const int tile = MSPLIT ? blockIdx.x / 2 : blockIdx.x;
  const int m0 = (MSPLIT ? blockIdx.x % 2 : blockIdx.y) * 8 * MT;
  const int per = (p.chunks + WK - 1) / WK;
  const int c0 = warp * per, c1 = min(p.chunks, c0 + per);
  const auto* x = static_cast<const elem_t<BF16>*>(p.x);
  const int64_t base = static_cast<int64_t>(tile) * p.chunks;
  const uint4* wp = p.packed + base * 32 + lane;
  const uint2* ep = reinterpret_cast<const uint2*>(p.meta) + base * 32 + lane;
  float acc[MT][4] = {};
  float tot[MT][4] = {};
  struct Buf {
    uint4 w;
    uint2 e;
    float s0, s1;
  };
  // Loads come in increasing chunk order: the scale row follows without a division.
  const float* sp = p.scales + static_cast<int64_t>(c0 / p.cpg) * p.npad + tile * 16 + g;
  int snext = (c0 / p.cpg + 1) * p.cpg;  // first chunk of the next group
  auto load = [&](Buf& b, int c) {
    if (c < c1) {
      if (c >= snext) {
        sp += p.npad;
        snext += p.cpg;
      }
      b.w = ptx::ld_stream(wp + c * 32);
      b.e = ptx::ld_stream8(ep + c * 32);
      b.s0 = __ldg(sp);
      b.s1 = __ldg(sp + 8);
    } else {
      b.w = make_uint4(0, 0, 0, 0);
      b.e = make_uint2(0, 0);
      b.s0 = b.s1 = 0.0f;
    }
  };
  int next_flush = min(c1, snext);
  auto process = [&](const Buf& b, int c) {
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const int kk = c * 128 + 32 * t + 16 * pair + 8 * (odd ? 1 : 0);
      uint32_t bf[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        const int row = m0 + mt * 8 + g;
        const uint4 v = load_x8<BF16>(x, p.ldx, row, p.m, kk, p.k);
        // Even lane: words 0, 2 of the pair's run are its own (v.x, v.z), 4, 6 the partner's
        // v.x, v.z; odd lane: 1, 3 from the partner's v.y, v.w, 5, 7 its own v.y, v.w.
        const uint32_t r0 = __shfl_xor_sync(0xffffffffu, odd ? v.x : v.y, 1);
        const uint32_t r1 = __shfl_xor_sync(0xffffffffu, odd ? v.z : v.w, 1);
        bf[mt][0] = odd ? r0 : v.x;
        bf[mt][1] = odd ? r1 : v.z;
        bf[mt][2] = odd ? v.y : r0;
        bf[mt][3] = odd ? v.w : r1;
      }
      const uint32_t word = t == 0 ? b.w.x : t == 1 ? b.w.y : t == 2 ? b.w.z : b.w.w;
      uint32_t a[4];
      dequant8<BF16, false>(word, 0u, 0u, a);
      const uint32_t e = (t & 1) ? b.e.y : b.e.x;
      if (t < 2) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) ptx::mma_sp_16832<BF16, 0>(acc[mt], a, bf[mt], e);
      } else if constexpr (SHFL_META) {
        const uint32_t e2 = __shfl_down_sync(0xffffffffu, e, 2);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) ptx::mma_sp_16832<BF16, 0>(acc[mt], a, bf[mt], e2);
      } else {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) ptx::mma_sp_16832<BF16, 1>(acc[mt], a, bf[mt], e);
      }
    }
    if (c + 1 == next_flush) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          tot[mt][i] = fmaf(acc[mt][i], i < 2 ? b.s0 : b.s1, tot[mt][i]);
          acc[mt][i] = 0.0f;
        }
      next_flush = min(c1, next_flush + p.cpg);
    }
  };
  // BULK: before its first load, the warp asks its whole K-slice of codes and metadata (and the
  // slice's scale rows) into L2 with one bulk prefetch each, so the copy engine keeps the
  // warp's bytes in flight without registers and the register loads below mostly hit L2.
  if constexpr (BULK) {
    if (c0 < c1) {
      if (lane == 0) {
        ptx::bulk_prefetch_l2(p.packed + (base + c0) * 32, static_cast<uint32_t>(c1 - c0) * 512);
        ptx::bulk_prefetch_l2(reinterpret_cast<const uint2*>(p.meta) + (base + c0) * 32,
                              static_cast<uint32_t>(c1 - c0) * 256);
      }
      const int g0 = c0 / p.cpg, g1 = (c1 - 1) / p.cpg;
      for (int gi = g0 + lane; gi <= g1; gi += 32) ptx::prefetch_l2(p.scales + static_cast<int64_t>(gi) * p.npad + tile * 16);
    }
  }
  detail::pdl_launch_dependents();  // as in w4a16_dense_kernel: weights first, then wait
  Buf buf[D];
#pragma unroll
  for (int s = 0; s < D; ++s) load(buf[s], c0 + s);
  detail::pdl_wait();
  for (int c = c0; c < c1; c += D) {
#pragma unroll
    for (int s = 0; s < D; ++s) {
      if (c + s < c1) {
        process(buf[s], c + s);
        load(buf[s], c + s + D);
      }
    }
  }
  constexpr int RED = reduce_bytes<MT, 1, 1, WK>();
  __shared__ __align__(16) unsigned char smem[RED];
  float out[1][MT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int i = 0; i < 4; ++i) out[0][mt][i] = tot[mt][i];
  reduce_store<BF16, MT, 1, 1, WK>(out, p, tile, m0, smem);
}

// Warps per block (each a K-slice of one 16-row tile), 4 blocks per SM: 8 at M <= 8 (64
// registers); 6 at M = 9..16, whose 16 accumulators and 16 partial sums need up to 80 registers
// (4 blocks of 6 warps still give a 512-tile grid one wave on 132 SMs).
template <int MT>
constexpr int sp_reg_warps() { return MT == 1 ? 8 : 6; }

// W4Config::pdl: 1 = with programmatic dependent launch, -1 = without, 0 = the table's default.
bool use_pdl(const W4Config& c) { return c.pdl > 0 || (c.pdl == 0 && detail::pdl_enabled()); }

template <bool BF16, int MT, int D, bool SHFL_META, bool BULK, bool MSPLIT = false>
void launch_sp_reg(const W4Args& a, bool pdl, cudaStream_t s) {
  constexpr int WK = sp_reg_warps<MT>();
  const int slices = (a.m + 8 * MT - 1) / (8 * MT);
  const dim3 grid = MSPLIT ? dim3(a.ntiles * 2) : dim3(a.ntiles, slices);
  detail::launch_pdl(w4sp_reg_kernel<BF16, MT, D, SHFL_META, WK, BULK, MSPLIT>, grid, dim3(WK * 32), 0, s, pdl, a);
}

// The measured variants (W4Config::sparse_*): depth 2 / 3 register buffers, the shuffle form of
// the metadata, the bulk L2 prefetch of each warp's slice.
template <bool BF16, int MT, bool MSPLIT>
void launch_sp_reg_cfg(const W4Args& a, const W4Config& c, cudaStream_t s) {
  const bool bulk = c.sparse_bulk_prefetch > 0, pdl = use_pdl(c);
  if (c.sparse_meta_shfl > 0) return launch_sp_reg<BF16, MT, 2, true, false, MSPLIT>(a, pdl, s);
  if (c.sparse_depth == 3)
    return bulk ? launch_sp_reg<BF16, MT, 3, false, true, MSPLIT>(a, pdl, s)
                : launch_sp_reg<BF16, MT, 3, false, false, MSPLIT>(a, pdl, s);
  return bulk ? launch_sp_reg<BF16, MT, 2, false, true, MSPLIT>(a, pdl, s)
              : launch_sp_reg<BF16, MT, 2, false, false, MSPLIT>(a, pdl, s);
}
template <bool BF16>
void launch_sp_reg_m(const W4Args& a, const W4Config& c, cudaStream_t s) {
  if (a.m <= 8) return launch_sp_reg_cfg<BF16, 1, false>(a, c, s);
  // M = 9..16: two 8-row slices of the M <= 8 kernel in neighbouring blocks (run 3 of
  // docs/RESULTS.md: 27.7 against 31.9 us at 8192^2, 83 against 114 us at 28672 x 8192, for the
  // 16-row kernel, whose 80 registers leave 6 warps a block and which stays latency-bound).
  if (c.sparse_msplit >= 0) return launch_sp_reg_cfg<BF16, 1, true>(a, c, s);
  return launch_sp_reg_cfg<BF16, 2, false>(a, c, s);
}

template <bool BF16, bool SPARSE, bool SA, int MT, int NT, int WN, int WK>
void launch(const W4Args& a, const W4Config& c, cudaStream_t s) {
  constexpr int rows = 16 * NT * WN;
  const dim3 grid((a.n + rows - 1) / rows, (a.m + 8 * MT - 1) / (8 * MT));
  if constexpr (SPARSE)
    detail::launch_pdl(w4sp_kernel<BF16, SA, MT, NT, WN, WK>, grid, dim3(WN * WK * 32), 0, s, use_pdl(c), a);
  else
    detail::launch_pdl(w4a16_dense_kernel<BF16, SA, MT, NT, WN, WK>, grid, dim3(WN * WK * 32), 0, s, use_pdl(c), a);
}

template <bool BF16, bool SPARSE, int MT>
void launch_cfg(const W4Args& a, bool sa, const W4Config& c, cudaStream_t s) {
  // The scale-in-dequantization path (group sizes that are not a multiple of the chunk) is
  // built for one block shape only: it is the rare case.
  if (!sa) return launch<BF16, SPARSE, false, MT, 1, 1, 8>(a, c, s);
  // 2:4 is built for one block shape only: 16 rows x 8 K-slices won every sparse sweep (runs
  // 1-6 of docs/RESULTS.md), and fewer instantiations keep the build short.
  if constexpr (SPARSE) {
    return launch<BF16, SPARSE, true, MT, 1, 1, 8>(a, c, s);
  } else {
    if (c.warps_n == 1 && c.warps_k == 8 && c.tiles_per_warp == 1) return launch<BF16, SPARSE, true, MT, 1, 1, 8>(a, c, s);
    if (c.warps_n == 2 && c.warps_k == 4 && c.tiles_per_warp == 1) return launch<BF16, SPARSE, true, MT, 1, 2, 4>(a, c, s);
    if (c.warps_n == 2 && c.warps_k == 4 && c.tiles_per_warp == 2) {
      if constexpr (MT >= 8) return launch<BF16, SPARSE, true, MT, 1, 2, 4>(a, c, s);  // 2 tiles x 8 would spill
      else return launch<BF16, SPARSE, true, MT, 2, 2, 4>(a, c, s);
    }
  }
  throw Error("w4a16_gemm: no kernel for config warps_n=" + std::to_string(c.warps_n) +
              " warps_k=" + std::to_string(c.warps_k) + " tiles_per_warp=" + std::to_string(c.tiles_per_warp));
}

template <bool BF16, bool SPARSE>
void launch_m(const W4Args& a, bool sa, const W4Config& c, cudaStream_t s) {
  if (a.m <= 8) return launch_cfg<BF16, SPARSE, 1>(a, sa, c, s);
  if (a.m <= 16) return launch_cfg<BF16, SPARSE, 2>(a, sa, c, s);
  if (a.m <= 32) return launch_cfg<BF16, SPARSE, 4>(a, sa, c, s);
  return launch_cfg<BF16, SPARSE, 8>(a, sa, c, s);
}

}  // namespace

void w4a16_gemm(const W4Device& w, int64_t m, const void* x, int64_t ldx, void* y, void* stream, W4Config cfg) {
  if (m <= 0) return;
  if (ldx < w.k || ldx % 8 != 0 || (reinterpret_cast<uintptr_t>(x) % 16) != 0)
    throw Error("w4a16_gemm: activations need a 16-byte aligned base and a row stride (" + std::to_string(ldx) +
                ") that is >= K (" + std::to_string(w.k) + ") and a multiple of 8 elements");
  if (m > (1 << 30) || w.n > (1 << 30) || w.k > (1 << 30)) throw Error("w4a16_gemm: dimension too large");
  // Small M, dense, Hopper: the bulk-copy streaming kernel (w4_stream_gemm.cu) on the same
  // prepared weight. Picked by itself only where it measured faster than the kernels below
  // (w4_stream_pick; docs/RESULTS.md "Small-M W4A16 through bulk copies"); W4Config::stream
  // forces it either way.
  const bool pick_stream = cfg.stream == 0 && cfg.gemv == 0 && cfg.warps_n == 0 && w4_stream_pick(w, m);
  if (cfg.stream > 0 || pick_stream) {
    if (!w4_stream_usable(w, m))
      throw Error("w4a16_gemm: the streaming kernel needs a dense weight, 1 <= M <= " +
                  std::to_string(kW4StreamMaxM) + " and a compute capability 9.x device built for sm_90");
    W4Config c = cfg;
    if (pick_stream) c.stream_cpw = 2;  // the shape that won where it is picked
    w4_stream_gemm(w, m, x, ldx, y, static_cast<cudaStream_t>(stream), c.stream_ctas, c.stream_tile_rows,
                   c.stream_cpw, c.stream_warps, c.stream_pdl > 0);
    return;
  }
  // Small M, dense: the CUDA-core kernel (w4_gemv.cu) reads the same prepared weight.
  if (!w.sparse && (cfg.gemv > 0 || (cfg.gemv == 0 && cfg.warps_n == 0 && m <= kW4GemvMaxM))) {
    w4_gemv(w, m, x, ldx, y, static_cast<cudaStream_t>(stream), cfg.gemv > 0 ? cfg.tiles_per_warp : 0,
            cfg.gemv > 0 ? cfg.warps_k : 0, cfg.gemv_pipeline);
    return;
  }
  const int chunk_k = w.sparse ? 128 : 64;
  const bool sa = w.group_size == 0 || w.group_size % chunk_k == 0;
  W4Args a{static_cast<const uint4*>(w.packed), static_cast<const uint4*>(w.meta),
           static_cast<const float*>(w.scales), x, ldx, y, static_cast<int>(m), static_cast<int>(w.n),
           static_cast<int>(w.k), static_cast<int>(w.ntiles), static_cast<int>(w.chunks),
           static_cast<int>(w.groups), w.group_size > 0 ? static_cast<int>(w.group_size) : (1 << 30),
           static_cast<int>(w.ntiles * 16),
           w.group_size > 0 ? static_cast<int>(w.group_size / chunk_k) : static_cast<int>(w.chunks)};
  if (cfg.warps_n == 0) {
    // From the block-shape sweeps of bench/cuda (H200, docs/RESULTS.md): at M <= 8, and for
    // 2:4, 16 rows x 8 K-slices per block (many small blocks) wins; with more activation rows,
    // blocks of 32 or 64 rows win once there are enough of them to cover every SM twice,
    // because the rows of a block share their activation loads.
    static const int sms = [] {
      int dev = 0, v = 0;
      QF_CUDA_CHECK(cudaGetDevice(&dev));
      QF_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
      return v;
    }();
    // Only the block shape: the other fields (W4Config::sparse*) stay as the caller set them.
    auto shape = [&](int wn, int wk, int tpw) {
      cfg.warps_n = wn;
      cfg.warps_k = wk;
      cfg.tiles_per_warp = tpw;
    };
    if (w.sparse || m <= 8 || w.ntiles < 2 * sms)
      shape(1, 8, 1);
    else if (w.ntiles >= 4 * 2 * sms)
      shape(2, 4, 2);
    else
      shape(2, 4, 1);
  }
  auto s = static_cast<cudaStream_t>(stream);
  // 2:4 at M <= 16 with scales after the mma: the register-streaming kernel (w4sp_reg_kernel)
  // unless W4Config::sparse asks for the earlier one.
  if (w.sparse && sa && m <= 16 && cfg.sparse >= 0) {
    if (cfg.sparse_depth != 0 && cfg.sparse_depth != 2 && cfg.sparse_depth != 3)
      throw Error("w4a16_gemm: sparse_depth " + std::to_string(cfg.sparse_depth) + " is not 0, 2 or 3");
    if (w.bf16)
      launch_sp_reg_m<true>(a, cfg, s);
    else
      launch_sp_reg_m<false>(a, cfg, s);
    QF_CUDA_CHECK(cudaGetLastError());
    return;
  }
  if (w.sparse) {
    if (w.bf16) launch_m<true, true>(a, sa, cfg, s); else launch_m<false, true>(a, sa, cfg, s);
  } else {
    if (w.bf16) launch_m<true, false>(a, sa, cfg, s); else launch_m<false, false>(a, sa, cfg, s);
  }
  QF_CUDA_CHECK(cudaGetLastError());
}

// ---- device copies of prepared weights ----

namespace {
void* upload(const void* src, int64_t bytes) {
  void* d = nullptr;
  QF_CUDA_CHECK(cudaMalloc(&d, static_cast<size_t>(bytes)));
  QF_CUDA_CHECK(cudaMemcpy(d, src, static_cast<size_t>(bytes), cudaMemcpyHostToDevice));
  return d;
}
}  // namespace

W4Device::W4Device(const W4Prepared& p)
    : n(p.n), k(p.k), ntiles(p.ntiles), chunks(p.chunks), groups(p.groups), group_size(p.group_size),
      bf16(p.bf16), sparse(false) {
  packed = upload(p.packed.data(), static_cast<int64_t>(p.packed.size() * 4));
  scales = upload(p.scales.data(), static_cast<int64_t>(p.scales.size() * 4));
}

W4Device::W4Device(const W4SparsePrepared& p)
    : n(p.n), k(p.k), ntiles(p.ntiles), chunks(p.chunks), groups(p.groups), group_size(p.group_size),
      bf16(p.bf16), sparse(true) {
  packed = upload(p.packed.data(), static_cast<int64_t>(p.packed.size() * 4));
  meta = upload(p.meta.data(), static_cast<int64_t>(p.meta.size() * 4));
  scales = upload(p.scales.data(), static_cast<int64_t>(p.scales.size() * 4));
}

W4Device::~W4Device() {
  cudaFree(stream_ws);
  cudaFree(packed);
  cudaFree(meta);
  cudaFree(scales);
}

int64_t W4Device::bytes() const {
  const int64_t tiles = ntiles * chunks;
  return tiles * 512 + (sparse ? tiles * 256 : 0) + groups * ntiles * 16 * 4;
}

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? std::string(cudaGetErrorString(e)) : std::string("no CUDA device");
    cudaGetLastError();
    return false;
  }
  return true;
}
void* device_alloc(int64_t bytes) {
  void* d = nullptr;
  QF_CUDA_CHECK(cudaMalloc(&d, static_cast<size_t>(std::max<int64_t>(bytes, 1))));
  return d;
}
void device_free(void* p) { cudaFree(p); }
void copy_to_device(void* dst, const void* src, int64_t bytes) {
  QF_CUDA_CHECK(cudaMemcpy(dst, src, static_cast<size_t>(bytes), cudaMemcpyHostToDevice));
}
void copy_to_host(void* dst, const void* src, int64_t bytes) {
  QF_CUDA_CHECK(cudaMemcpy(dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost));
}
void device_sync() { QF_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace qf::cuda
