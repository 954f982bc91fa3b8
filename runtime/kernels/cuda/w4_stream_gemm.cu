// W4A16 at M <= 16 on Hopper: the weight streams through a shared-memory ring filled by the
// bulk copy engine (cp.async.bulk, completing on mbarriers), over a persistent grid.
//
// Why: at M <= 16 the time is the weight bytes. The register-streaming kernel (w4a16_gemm.cu)
// stops at ~41-43 % of DRAM bandwidth on an H200 and 63 % of the copy bandwidth on an H100,
// because its one-wave grid keeps too few bytes in flight per SM and its ramp and tail are a
// large part of a 17 us call (docs/RESULTS.md, "CUDA deployment GEMMs"). Here one producer warp
// per SM keeps NS stages of 16 KB of weights (plus the stage's activations) in flight without
// registers, and the work is split evenly by bytes:
//   - the prepared layout (w4_prepare) already stores each 16-row tile's K contiguously
//     ([tile][chunk][512 B]), so a stage of T tiles x S chunks is T bulk copies of S*512 bytes:
//     no new layout;
//   - work = (unit of T tiles, 64-k chunk) pairs in unit-major order, cut into one contiguous
//     range per CTA (stream-K): every CTA streams the same number of bytes, whatever N and K;
//   - a unit split between CTAs (split-K) is finished by the last CTA to arrive, which sums the
//     partials in CTA order (not arrival order): two calls give the same bits;
//   - the arithmetic is the tensor-core kernel's (w4_fragment.cuh, m16n8k16, fp32 sums, scales
//     applied once per group), one chunk per consumer warp per stage.
#include <algorithm>
#include <string>

#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/mma_ptx.cuh"
#include "runtime/kernels/cuda/w4_fragment.cuh"
#include "runtime/kernels/cuda/w4_stream_gemm.h"

namespace qf::cuda {
namespace {

using namespace w4frag;

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define QF_W4_STREAM_DEVICE 1
#endif

// ---- the Hopper PTX this kernel needs (sm_90: bulk copies, mbarrier transaction counts) ----
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
#ifdef QF_W4_STREAM_DEVICE
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}
// Global -> shared bulk copy of `bytes` (a multiple of 16; both addresses 16-byte aligned),
// completing `bytes` transactions on the mbarrier `bar`. Without a cluster launch the CTA's
// own shared::cta addresses are valid shared::cluster addresses.
__device__ __forceinline__ void bulk_g2s(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar,
                                         uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n" ::"r"(
          dst),
      "l"(src), "r"(bytes), "r"(bar), "l"(policy)
      : "memory");
}
// Weights are read once per call: evict them first, so that the activations (re-read by every
// CTA) stay in L2.
__device__ __forceinline__ uint64_t l2_evict_first() {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
  return p;
}
__device__ __forceinline__ uint64_t l2_evict_last() {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(p));
  return p;
}
// Named barrier 1 over the consumer warps only (the producer warp never joins it).
__device__ __forceinline__ void consumers_sync(int threads) {
  asm volatile("bar.sync 1, %0;\n" ::"r"(threads) : "memory");
}
#endif

struct StreamArgs {
  const unsigned char* packed;  // w4_prepare layout, [ntiles][chunks][512 B]
  const float* scales;          // [groups][npad]
  const void* x;
  int64_t ldx;  // elements
  void* y;
  float* ws;      // [ctas][2][E]: a CTA's partials of its first and last unit when they are split
  int* counters;  // [units]: CTAs done with a split unit (the last one resets it to 0)
  int m, n, k, ntiles, chunks, groups, gs, npad, cpg;
  int kfull;  // chunks whose 64 activations all lie below K (bulk-copied; the tail chunk is loaded)
  int units;  // ceil(ntiles / T)
  int ctas;
  int64_t total;  // units * chunks: the work, split evenly over the CTAs
  int aligned;    // 1: each CTA takes whole units (ctas <= units)
};

// Shared-memory plan of one kernel: barriers, NS ring stages, the K-split reduction buffer.
constexpr int kHead = 256;  // mbarriers and the fix-up flag
template <int MT, int T, int S>
constexpr int stage_bytes() { return T * S * 512 + MT * 8 * (S * 128 + 16); }
// S: chunks per stage (CPW consecutive chunks per consumer warp).
template <int MT, int T, int W, int S, int NS>
struct StreamShape {
  static constexpr int kWBytes = T * S * 512;  // a stage's weights: T tiles x S chunks
  static constexpr int kXRow = S * 128 + 16;   // a stage's activation row, padded 16 B (no bank conflicts)
  static constexpr int kStage = stage_bytes<MT, T, S>();
  static constexpr int E = T * MT * 4 * 32;  // a unit's accumulators, floats
  static constexpr int kRing = NS * kStage;
  static constexpr int kSmem = kHead + kRing + W * E * 4;
  static_assert(2 * NS * 8 + 8 <= kHead, "barriers and flags fit in the head");
  static_assert(kStage % 16 == 0, "bulk copies need 16-byte aligned stages");
};

__host__ __device__ __forceinline__ int64_t range_start(int b, int64_t total, int ctas) { return b * total / ctas; }
// The CTA whose range holds work item L: the largest b with range_start(b) <= L.
__device__ __forceinline__ int owner(int64_t L, int64_t total, int ctas) {
  return static_cast<int>(((L + 1) * ctas + total - 1) / total - 1);
}

template <bool BF16, int MT, int T>
__device__ __forceinline__ void store_y(const StreamArgs& p, int u, int e, float v) {
  const int idx = e / 32, ln = e % 32, i = idx % 4, mt = (idx / 4) % MT, j = idx / (4 * MT);
  const int nrow = (u * T + j) * 16 + ln / 4 + ((i & 2) ? 8 : 0);
  const int mcol = mt * 8 + 2 * (ln % 4) + (i & 1);
  if (nrow < p.n && mcol < p.m) {
    if constexpr (BF16)
      static_cast<__nv_bfloat16*>(p.y)[static_cast<int64_t>(mcol) * p.n + nrow] = __float2bfloat16_rn(v);
    else
      static_cast<__half*>(p.y)[static_cast<int64_t>(mcol) * p.n + nrow] = __float2half_rn(v);
  }
}

// SA: scales applied after the mma, once per group (group size a multiple of 64, or per
// channel), with the fp16/bf16 magic offset removed through the activation sums; else scaled
// in the dequantization (group sizes that are multiples of 16 only). MT: 8-column halves of M.
// T: 16-row tiles per unit. W: consumer warps. CPW: consecutive chunks per warp per stage (a
// stage is W * CPW chunks). NS: ring stages.
template <bool BF16, bool SA, int MT, int T, int W, int CPW, int NS>
__global__ void __launch_bounds__((W + 1) * 32, 1) w4_stream_kernel(const StreamArgs p) {
#ifdef QF_W4_STREAM_DEVICE
  constexpr int S = W * CPW;
  using Sh = StreamShape<MT, T, W, S, NS>;
  constexpr int E = Sh::E;
  extern __shared__ __align__(128) unsigned char smem[];
  uint64_t* full = reinterpret_cast<uint64_t*>(smem);
  uint64_t* empty = full + NS;
  int* flag = reinterpret_cast<int*>(smem + 2 * NS * 8);  // [2]: this CTA finishes split unit 0 / 1
  unsigned char* ring = smem + kHead;
  float* red = reinterpret_cast<float*>(smem + kHead + Sh::kRing);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int b = blockIdx.x;
  // aligned: whole units per CTA (no split units, no fix-up; balance from many small units);
  // else an even split of the chunks (stream-K).
  const int64_t lo = p.aligned ? static_cast<int64_t>(b) * p.units / p.ctas * p.chunks : range_start(b, p.total, p.ctas);
  const int64_t hi =
      p.aligned ? static_cast<int64_t>(b + 1) * p.units / p.ctas * p.chunks : range_start(b + 1, p.total, p.ctas);
  if (threadIdx.x == 0) {
    for (int s = 0; s < NS; ++s) {
      mbar_init(smem_u32(full + s), 1);
      mbar_init(smem_u32(empty + s), W);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    // The next kernel may be scheduled now: its CTAs start on SMs as ours leave.
    detail::pdl_launch_dependents();
  }
  __syncthreads();

  if (warp == W) {
    // Producer: walks the same stages as the consumers and fills each once it is free. The
    // weights of the first NS stages are requested before waiting for the previous kernel of
    // the stream (griddepcontrol.wait: a no-op unless launched with programmatic dependent
    // launch), since they do not depend on it; the activations only after.
    const uint64_t wpol = l2_evict_first(), xpol = l2_evict_last();
    auto geom = [&](int64_t L, int& u, int& c, int& s, int& tiles, int& xk) {
      u = static_cast<int>(L / p.chunks);
      c = static_cast<int>(L % p.chunks);
      s = min(S, p.chunks - c);
      if (hi - L < s) s = static_cast<int>(hi - L);
      tiles = min(T, p.ntiles - u * T);
      xk = max(0, min(c + s, p.kfull) - c);
    };
    auto issue_x = [&](int st, int c, int xk) {
      const int r = lane - T;
      if (r >= 0 && r < p.m && xk > 0)
        bulk_g2s(smem_u32(ring + st * Sh::kStage + Sh::kWBytes + r * Sh::kXRow),
                 static_cast<const unsigned char*>(p.x) + (static_cast<int64_t>(r) * p.ldx + c * 64) * 2, xk * 128,
                 smem_u32(full + st), xpol);
    };
    int st = 0, it = 0;
    uint32_t ph = 0;
    bool waited = false;
    auto dependency_wait = [&] {
      detail::pdl_wait();
      int64_t L2 = lo;
      for (int i = 0; i < min(it, NS); ++i) {
        int u, c, s, tiles, xk;
        geom(L2, u, c, s, tiles, xk);
        issue_x(i, c, xk);
        L2 += s;
      }
      waited = true;
    };
    for (int64_t L = lo; L < hi; ++it) {
      if (!waited && it == NS) dependency_wait();
      int u, c, s, tiles, xk;
      geom(L, u, c, s, tiles, xk);
      mbar_wait(smem_u32(empty + st), ph ^ 1);
      const uint32_t bar = smem_u32(full + st);
      if (lane == 0) mbar_expect_tx(bar, static_cast<uint32_t>(tiles * s * 512 + p.m * xk * 128));
      __syncwarp();
      if (lane < tiles)
        bulk_g2s(smem_u32(ring + st * Sh::kStage + lane * S * 512),
                 p.packed + (static_cast<int64_t>(u * T + lane) * p.chunks + c) * 512, s * 512, bar, wpol);
      if (waited) issue_x(st, c, xk);
      L += s;
      if (++st == NS) {
        st = 0;
        ph ^= 1;
      }
    }
    if (!waited) dependency_wait();
    return;
  }

  // Consumers: warp w multiplies chunk c + w of each stage. They read the activations' tail and
  // write y, partials and counters only after the previous kernel has finished.
  detail::pdl_wait();
  const int g = lane / 4, cq = lane % 4;
  const auto* xg = static_cast<const elem_t<BF16>*>(p.x);
  float acc[T][MT][4] = {};
  float tot[T][MT][4] = {};
  float xsum[MT][4] = {};
  float sc[T][2] = {};  // SA: scales of rows g, g+8 of each tile for group cur_gi
  int cur_gi = -1;
  int st = 0;
  uint32_t ph = 0;
  const int first_unit = static_cast<int>(lo / p.chunks);
  int pending[2] = {-1, -1};  // split units whose partial this CTA left in ws (slot 0: first, 1: last)

  // Tiles past ntiles (the last unit) are multiplied too, on zero codes with zero scales: their
  // sums stay 0 and are never stored, and every loop keeps compile-time indices.
  auto flush = [&]() {
#pragma unroll
    for (int j = 0; j < T; ++j) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float v = remove_offset<BF16>(acc[j][mt][i], xsum[mt][i & 1], i >= 2);
          tot[j][mt][i] = fmaf(v, sc[j][i >> 1], tot[j][mt][i]);
          acc[j][mt][i] = 0.0f;
        }
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int i = 0; i < 4; ++i) xsum[mt][i] = 0.0f;
  };

  // Multiplies one chunk of unit u (tiles valid tiles) into acc (and xsum, SA).
  auto process = [&](int chunk, int u, int tiles, const uint4 (&w)[T], const uint4 (&xl)[MT], const uint4 (&xh)[MT]) {
    if constexpr (SA) {
      const int gi = chunk / p.cpg;
      if (gi != cur_gi) {
        if (cur_gi >= 0) flush();
        cur_gi = gi;
#pragma unroll
        for (int j = 0; j < T; ++j) {
          const float* sp = p.scales + static_cast<int64_t>(gi) * p.npad + (u * T + j) * 16 + g;
          sc[j][0] = j < tiles ? __ldg(sp) : 0.0f;
          sc[j][1] = j < tiles ? __ldg(sp + 8) : 0.0f;
        }
      }
    }
    int gsi = 0;
    if constexpr (!SA) gsi = min((chunk * 64 + cq * 16) / p.gs, p.groups - 1);
#pragma unroll
    for (int j = 0; j < T; ++j) {
      uint32_t s0 = 0, s1 = 0;
      if constexpr (!SA) {
        const float* sp = p.scales + static_cast<int64_t>(gsi) * p.npad + (u * T + j) * 16 + g;
        s0 = scale_pair<BF16>(j < tiles ? __ldg(sp) : 0.0f);
        s1 = scale_pair<BF16>(j < tiles ? __ldg(sp + 8) : 0.0f);
      }
      mma_chunk<BF16, SA, MT>(w[j], s0, s1, xl, xh, acc[j]);
    }
    if constexpr (SA) mma_chunk_sums<BF16, MT>(xl, xh, xsum);
  };

  for (int64_t L = lo; L < hi;) {
    const int u = static_cast<int>(L / p.chunks), c0 = static_cast<int>(L % p.chunks);
    const int cend = hi - L < p.chunks - c0 ? c0 + static_cast<int>(hi - L) : p.chunks;
    const int tiles = min(T, p.ntiles - u * T);
    for (int c = c0; c < cend; c += S) {
      const int s = min(S, cend - c);
      mbar_wait(smem_u32(full + st), ph);
      const unsigned char* stage = ring + st * Sh::kStage;
#pragma unroll
      for (int q = 0; q < CPW; ++q) {
        const int li = warp * CPW + q;  // chunk of the stage
        const int chunk = c + li;
        const bool active = li < s;
        uint4 w[T];
        uint4 xl[MT], xh[MT];
        if (active) {
#pragma unroll
          for (int j = 0; j < T; ++j)
            w[j] = j < tiles ? *reinterpret_cast<const uint4*>(stage + (j * S + li) * 512 + lane * 16)
                             : make_uint4(0, 0, 0, 0);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            const int row = mt * 8 + g;
            if (row >= p.m) {
              xl[mt] = xh[mt] = make_uint4(0, 0, 0, 0);
            } else if (chunk < p.kfull) {
              const uint4* xp =
                  reinterpret_cast<const uint4*>(stage + Sh::kWBytes + row * Sh::kXRow + li * 128 + cq * 32);
              xl[mt] = xp[0];
              xh[mt] = xp[1];
            } else {
              load_x16<BF16>(xg, p.ldx, row, p.m, chunk * 64 + cq * 16, p.k, xl[mt], xh[mt]);
            }
          }
        }
        if (q == CPW - 1) {  // the stage is read: hand it back to the producer
          __syncwarp();
          if (lane == 0) mbar_arrive(smem_u32(empty + st));
          if (++st == NS) {
            st = 0;
            ph ^= 1;
          }
        }
        if (active) process(chunk, u, tiles, w, xl, xh);
      }
    }

    // End of this CTA's part of unit u: sum the warps in a fixed order, then either write y
    // (the CTA did the whole unit) or leave a partial for the last CTA of the unit to finish.
    if constexpr (SA) {
      if (cur_gi >= 0) flush();
      cur_gi = -1;
    }
#pragma unroll
    for (int j = 0; j < T; ++j)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          float& v = SA ? tot[j][mt][i] : acc[j][mt][i];
          red[warp * E + ((j * MT + mt) * 4 + i) * 32 + lane] = v;
          v = 0.0f;
        }
    consumers_sync(W * 32);
    const bool whole = c0 == 0 && cend == p.chunks;
    const int slot = u == first_unit ? 0 : 1;
    for (int e = threadIdx.x; e < E; e += W * 32) {
      float v = 0.0f;
#pragma unroll
      for (int w2 = 0; w2 < W; ++w2) v += red[w2 * E + e];
      if (whole)
        store_y<BF16, MT, T>(p, u, e, v);
      else
        p.ws[(static_cast<int64_t>(b) * 2 + slot) * E + e] = v;
    }
    if (!whole) (slot ? pending[1] : pending[0]) = u;  // constant indices: registers, not a stack array
    consumers_sync(W * 32);  // red is reused by the next unit
    L += cend - c0;
  }

  // Split units (at most the first and the last of the range): one fence and one counter update
  // after the whole range has streamed, not in the middle, where the fence and the atomic's round
  // trip would stall this SM's stream. The last CTA of a unit sums its partials in CTA order.
  if (pending[0] >= 0 || pending[1] >= 0) {
    __threadfence();
    consumers_sync(W * 32);
    if (threadIdx.x == 0) {
#pragma unroll
      for (int sl = 0; sl < 2; ++sl) {
        const int u = pending[sl];
        flag[sl] = 0;
        if (u < 0) continue;
        const int b_lo = owner(static_cast<int64_t>(u) * p.chunks, p.total, p.ctas);
        const int b_hi = owner(static_cast<int64_t>(u) * p.chunks + p.chunks - 1, p.total, p.ctas);
        flag[sl] = atomicAdd(p.counters + u, 1) == b_hi - b_lo;
      }
    }
    consumers_sync(W * 32);
#pragma unroll
    for (int sl = 0; sl < 2; ++sl) {
      if (!flag[sl]) continue;
      const int u = pending[sl];
      const int b_lo = owner(static_cast<int64_t>(u) * p.chunks, p.total, p.ctas);
      const int b_hi = owner(static_cast<int64_t>(u) * p.chunks + p.chunks - 1, p.total, p.ctas);
      __threadfence();
      for (int e = threadIdx.x; e < E; e += W * 32) {
        float v = 0.0f;
        for (int bb = b_lo; bb <= b_hi; ++bb) {
          const int bs = u == static_cast<int>(range_start(bb, p.total, p.ctas) / p.chunks) ? 0 : 1;
          v += __ldcg(p.ws + (static_cast<int64_t>(bb) * 2 + bs) * E + e);
        }
        store_y<BF16, MT, T>(p, u, e, v);
      }
      if (threadIdx.x == 0) p.counters[u] = 0;  // ready for the next call
    }
  }
#endif
}

// Consumer warps per CTA: 8, plus the producer. With 128-row units (T = 8)
// the accumulators need more than the 168 registers a thread gets when 9 warps share the 4
// schedulers' register files, so that shape runs 7 consumer warps (2 warps per scheduler).
template <int T>
constexpr int consumer_warps() { return T == 8 ? 7 : 8; }
// At M <= 8 (122 registers) 12 consumer warps also fit (13 warps: at most 4 per scheduler).

// Ring stages: as many as fit (at most 8) beside the reduction buffer in 224 KB of shared memory
// (one CTA per SM); a stage holds T x 8 x CPW chunks of 512 bytes of weights.
template <int MT, int T, int CPW, int kWarps>
constexpr int stages() {
  constexpr int n = (224 * 1024 - kHead - kWarps * T * MT * 4 * 32 * 4) / stage_bytes<MT, T, kWarps * CPW>();
  return n > 8 ? 8 : n;
}

template <bool BF16, bool SA, int MT, int T, int CPW, int kWarps>
void launch(const StreamArgs& a, bool pdl, cudaStream_t s) {
  constexpr int NS = stages<MT, T, CPW, kWarps>();
  static_assert(NS >= 2, "at least two stages");
  using Sh = StreamShape<MT, T, kWarps, kWarps * CPW, NS>;
  auto* kern = w4_stream_kernel<BF16, SA, MT, T, kWarps, CPW, NS>;
  static const bool attr = [&] {
    QF_CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, Sh::kSmem));
    return true;
  }();
  (void)attr;
  // With programmatic dependent launch this kernel may start while the previous one in the stream
  // finishes (it waits in griddepcontrol.wait before reading anything that kernel writes).
  detail::launch_pdl(kern, dim3(a.ctas), dim3((kWarps + 1) * 32), Sh::kSmem, s, pdl, a);
}

template <bool BF16, int MT, int T, int CPW, int W = consumer_warps<T>()>
void launch_sa(const StreamArgs& a, bool sa, bool pdl, cudaStream_t s) {
  if (sa)
    launch<BF16, true, MT, T, CPW, W>(a, pdl, s);
  else
    launch<BF16, false, MT, T, CPW, W>(a, pdl, s);
}

template <bool BF16>
void launch_m(const StreamArgs& a, bool sa, int tile_rows, int cpw, int warps, bool pdl, cudaStream_t s) {
  if (a.m <= 8 && tile_rows == 32) return launch_sa<BF16, 1, 2, 2>(a, sa, pdl, s);
  if (a.m <= 8 && warps == 12)
    return cpw == 2 ? launch_sa<BF16, 1, 4, 2, 12>(a, sa, pdl, s) : launch_sa<BF16, 1, 4, 1, 12>(a, sa, pdl, s);
  if (a.m <= 8)
    return cpw == 2 ? launch_sa<BF16, 1, 4, 2>(a, sa, pdl, s) : launch_sa<BF16, 1, 4, 1>(a, sa, pdl, s);
  if (tile_rows == 128) return launch_sa<BF16, 2, 8, 1>(a, sa, pdl, s);
  if (tile_rows == 32) return launch_sa<BF16, 2, 2, 2>(a, sa, pdl, s);
  return cpw == 2 ? launch_sa<BF16, 2, 4, 2>(a, sa, pdl, s) : launch_sa<BF16, 2, 4, 1>(a, sa, pdl, s);
}

int sm_count() {
  static const int sms = [] {
    int dev = 0, v = 0;
    QF_CUDA_CHECK(cudaGetDevice(&dev));
    QF_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
    return v;
  }();
  return sms;
}

}  // namespace

bool w4_stream_usable(const W4Device& w, int64_t m) {
  return !w.sparse && m >= 1 && m <= kW4StreamMaxM && w4a16_stream_supported();
}

bool w4_stream_pick(const W4Device& w, int64_t m) {
  return m > 8 && w.ntiles * w.chunks >= kW4StreamPickMinTileChunks && w4_stream_usable(w, m);
}

bool w4a16_stream_supported() {
  static const bool ok = [] {
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    // The kernel body exists only in sm_90+ machine code: check what this build embedded.
    cudaFuncAttributes fa{};
    if (cudaFuncGetAttributes(&fa, w4_stream_kernel<false, true, 1, 4, consumer_warps<4>(), 1, stages<1, 4, 1, consumer_warps<4>()>()>) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 9 && fa.binaryVersion >= 90;
  }();
  return ok;
}

void w4_stream_gemm(const W4Device& w, int64_t m, const void* x, int64_t ldx, void* y, cudaStream_t stream,
                    int ctas, int tile_rows, int cpw, int warps, bool pdl) {
  const int T = (m > 8 && tile_rows == 128) ? 8 : tile_rows == 32 ? 2 : 4;
  const int64_t units = (w.ntiles + T - 1) / T, total = units * w.chunks;
  if (ctas <= 0) ctas = sm_count();
  // 32-row units are handed out whole (aligned: no split units), so at most one CTA per unit.
  ctas = static_cast<int>(std::min<int64_t>(ctas, T == 2 ? units : total));
  // Workspace: counters for every possible unit (zeroed once; each call leaves them at zero),
  // then the partials of two units per CTA at the largest unit (8 tiles x 16 columns).
  const int64_t cnt_bytes = (w.ntiles * 4 + 255) / 256 * 256;
  const int64_t need = cnt_bytes + static_cast<int64_t>(ctas) * 2 * (8 * 2 * 4 * 32) * 4;
  if (w.stream_ws_bytes < need) {
    if (w.stream_ws) QF_CUDA_CHECK(cudaFree(w.stream_ws));
    w.stream_ws = nullptr;
    w.stream_ws_bytes = 0;
    QF_CUDA_CHECK(cudaMalloc(&w.stream_ws, static_cast<size_t>(need)));
    QF_CUDA_CHECK(cudaMemset(w.stream_ws, 0, static_cast<size_t>(need)));
    w.stream_ws_bytes = need;
  }
  const bool sa = w.group_size == 0 || w.group_size % 64 == 0;
  StreamArgs a{};
  a.packed = static_cast<const unsigned char*>(w.packed);
  a.scales = static_cast<const float*>(w.scales);
  a.x = x;
  a.ldx = ldx;
  a.y = y;
  a.counters = static_cast<int*>(w.stream_ws);
  a.ws = reinterpret_cast<float*>(static_cast<unsigned char*>(w.stream_ws) + cnt_bytes);
  a.m = static_cast<int>(m);
  a.n = static_cast<int>(w.n);
  a.k = static_cast<int>(w.k);
  a.ntiles = static_cast<int>(w.ntiles);
  a.chunks = static_cast<int>(w.chunks);
  a.groups = static_cast<int>(w.groups);
  a.gs = w.group_size > 0 ? static_cast<int>(w.group_size) : (1 << 30);
  a.npad = static_cast<int>(w.ntiles * 16);
  a.cpg = w.group_size > 0 ? static_cast<int>(w.group_size / 64) : static_cast<int>(w.chunks);
  a.kfull = static_cast<int>(w.k / 64);
  a.units = static_cast<int>(units);
  a.ctas = ctas;
  a.total = total;
  a.aligned = T == 2;
  if (w.bf16)
    launch_m<true>(a, sa, tile_rows, cpw, warps, pdl, stream);
  else
    launch_m<false>(a, sa, tile_rows, cpw, warps, pdl, stream);
  QF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace qf::cuda
