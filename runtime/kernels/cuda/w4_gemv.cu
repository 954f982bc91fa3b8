// Small-M W4A16 on the CUDA cores: y = x * (code * scale)^T for M = 1..4 activation rows.
//
// Why a second kernel: at M = 1 the tensor-core kernel's m16n8k16 B operand is 7/8 padding and
// its scale-after path spends a second mma per tile on the activation sums. Measured (H200, runs
// 8-10 of docs/RESULTS.md, "CUDA deployment GEMMs"): this kernel wins at M = 1 by 5-11% at
// 4096^2 and 28672x8192 and ties at 8192^2 (both stop near 42% of DRAM bandwidth); from M = 2 the
// tensor cores win, so w4a16_gemm uses this kernel at M = 1 only (kW4GemvMaxM).
// This kernel reads the same prepared weight (w4_prepare's fragment order: one 16-byte load per
// lane holds 16 consecutive k of weight rows g and g+8). fp16 activations use packed half2
// arithmetic (process_h2 below: fp16 sums over 16 k, then fp32); bf16 activations use fp32:
//   - each code becomes a float with one LOP3, (bits & mask) | 0x43000000: float 128 has
//     exponent 134, so its mantissa bits 16..19 weigh 1 and bits 12..15 weigh 1/16; three byte
//     rotations of the word bring every nibble to one of those positions, giving exactly
//     128 + u (row g) or 128 + u/16 (row g+8), u = code + 8;
//   - the offsets are removed once per 16 k with the lane's activation sum S (exact products,
//     fp32 sums): row g: sum - 136 S, row g+8: 16 (sum - 128.5 S), then scaled (one fma);
//   - each lane's 16 k lie in one scale group whenever the group size is a multiple of 16, so
//     every group size the layout accepts (and per-channel scales) takes the same path;
//   - warps of a block split K (chunks interleaved, so a block reads contiguous weight), each
//     lane double-buffers 64 bytes of weights (32 loading while 32 are multiplied; 16 + 16 at
//     M > 2), and the partial sums are reduced in a fixed
//     order (quad shuffles, then warps through shared memory): the result is deterministic.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/mma_ptx.cuh"
#include "runtime/kernels/cuda/w4_gemv.h"

namespace qf::cuda {
namespace {

template <bool BF16>
using elem_t = std::conditional_t<BF16, __nv_bfloat16, __half>;

struct GemvArgs {
  const uint4* packed;
  const float* scales;
  const void* x;
  int64_t ldx;
  void* y;
  int m, n, k, ntiles, chunks, groups, gs, npad;
};

// 8 activations x[row, kk .. kk+7] as raw 16-bit pairs (zero outside [0, k) or for rows >= m).
template <bool BF16>
__device__ __forceinline__ uint4 load_x8(const elem_t<BF16>* x, int64_t ldx, int row, int m, int kk, int k) {
  if (row >= m) return make_uint4(0, 0, 0, 0);
  const elem_t<BF16>* p = x + static_cast<int64_t>(row) * ldx + kk;
  if (kk + 8 <= k) return __ldg(reinterpret_cast<const uint4*>(p));
  uint32_t v[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t a = kk + 2 * i < k ? reinterpret_cast<const uint16_t*>(p)[2 * i] : 0u;
    const uint32_t b = kk + 2 * i + 1 < k ? reinterpret_cast<const uint16_t*>(p)[2 * i + 1] : 0u;
    v[i] = a | (b << 16);
  }
  return make_uint4(v[0], v[1], v[2], v[3]);
}

// A pair of fp16 / bf16 activations as two floats (bf16 -> fp32 is a shift).
template <bool BF16>
__device__ __forceinline__ float2 pair_to_float2(uint32_t v) {
  if constexpr (BF16) {
    return make_float2(__uint_as_float(v << 16), __uint_as_float(v & 0xFFFF0000u));
  } else {
    __half2 h;
    *reinterpret_cast<uint32_t*>(&h) = v;
    return __half22float2(h);
  }
}

// One word of 8 biased codes in w4_prepare's order (nibbles 0, 4, 2, 6: row g at k 0..3;
// 1, 5, 3, 7: row g+8) -> r0[i] = 128 + u (row g), r1[i] = 128 + u/16 (row g+8), exactly.
__device__ __forceinline__ void decode8(uint32_t q, float (&r0)[4], float (&r1)[4]) {
  constexpr uint32_t kMagic = 0x43000000u;      // float 128
  const uint32_t q16 = __funnelshift_l(q, q, 16);  // nibble 0 -> bit 16, nibble 7 -> bit 12
  const uint32_t ql8 = __funnelshift_l(q, q, 8);   // nibble 2 -> bit 16, nibble 1 -> bit 12
  const uint32_t qr8 = __funnelshift_r(q, q, 8);   // nibble 6 -> bit 16, nibble 5 -> bit 12
  r0[0] = __uint_as_float((q16 & 0x000F0000u) | kMagic);
  r0[1] = __uint_as_float((q & 0x000F0000u) | kMagic);  // nibble 4
  r0[2] = __uint_as_float((ql8 & 0x000F0000u) | kMagic);
  r0[3] = __uint_as_float((qr8 & 0x000F0000u) | kMagic);
  r1[0] = __uint_as_float((ql8 & 0x0000F000u) | kMagic);
  r1[1] = __uint_as_float((qr8 & 0x0000F000u) | kMagic);
  r1[2] = __uint_as_float((q & 0x0000F000u) | kMagic);  // nibble 3
  r1[3] = __uint_as_float((q16 & 0x0000F000u) | kMagic);
}

__device__ __forceinline__ uint32_t word_of(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// Block: warps_k warps over the K chunks of NT 16-row tiles; grid (ceil(ntiles / NT), ceil(M / MR)).
// 1024 threads at most, so ptxas holds a thread to 64 registers (32 warps per SM); at MR = 4,
// 512 threads and up to 128 registers (64 spill there).
// PIPE: two register buffers of half the batch, the next one loading while the other is
// multiplied (the same registers as one full batch); else one batch loaded, then multiplied.
template <bool BF16, int MR, int NT, bool PIPE>
__global__ void __launch_bounds__(MR >= 4 ? 512 : 1024) w4_gemv_kernel(GemvArgs p) {
  detail::pdl_entry();
  // Chunks per batch: 64 bytes of weights per lane (32 at MR = 4, whose accumulators and
  // activations would otherwise spill at 64 registers); PIPE splits that into two buffers.
  constexpr int UB = (MR >= 4 ? 2 : 4) / NT;
  constexpr int U = PIPE ? (UB > 1 ? UB / 2 : 1) : UB;
  const int wk = threadIdx.x / 32, lane = threadIdx.x % 32, nwk = blockDim.x / 32;
  const int g = lane / 4, cq = lane % 4;
  const int nt0 = blockIdx.x * NT;
  const int m0 = blockIdx.y * MR;
  const auto* x = static_cast<const elem_t<BF16>*>(p.x);
  const uint4* wp[NT];
  bool ok[NT];
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    ok[j] = nt0 + j < p.ntiles;
    wp[j] = p.packed + static_cast<int64_t>(ok[j] ? nt0 + j : 0) * p.chunks * 32 + lane;
  }
  float tot[NT][2][MR] = {};

  // bf16: exact fp32 products (decode8), offsets removed with the activation sum.
  auto process_f32 = [&](const uint4 (&w)[NT], int c) {
    const int kk = c * 64 + cq * 16;
    const int gsi = min(kk / p.gs, p.groups - 1);
    float a[NT][2][MR] = {};
    float xs[MR] = {};
    uint4 xr[MR];  // 8 activations per row at a time (fewer live registers at MR = 4)
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      if (t % 2 == 0) {
#pragma unroll
        for (int mr = 0; mr < MR; ++mr) xr[mr] = load_x8<BF16>(x, p.ldx, m0 + mr, p.m, kk + 4 * t, p.k);
      }
      float xf[MR][4];
#pragma unroll
      for (int mr = 0; mr < MR; ++mr) {
        const float2 f0 = pair_to_float2<BF16>(word_of(xr[mr], 2 * (t % 2)));
        const float2 f1 = pair_to_float2<BF16>(word_of(xr[mr], 2 * (t % 2) + 1));
        xf[mr][0] = f0.x;
        xf[mr][1] = f0.y;
        xf[mr][2] = f1.x;
        xf[mr][3] = f1.y;
        xs[mr] += (f0.x + f0.y) + (f1.x + f1.y);
      }
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        float r0[4], r1[4];
        decode8(word_of(w[j], t), r0, r1);
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int mr = 0; mr < MR; ++mr) {
            a[j][0][mr] = fmaf(r0[i], xf[mr][i], a[j][0][mr]);
            a[j][1][mr] = fmaf(r1[i], xf[mr][i], a[j][1][mr]);
          }
      }
    }
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const float* sp = p.scales + static_cast<int64_t>(gsi) * p.npad + (nt0 + j) * 16 + g;
      const float s0 = ok[j] ? __ldg(sp) : 0.0f;
      const float s1 = ok[j] ? 16.0f * __ldg(sp + 8) : 0.0f;
#pragma unroll
      for (int mr = 0; mr < MR; ++mr) {
        tot[j][0][mr] = fmaf(fmaf(-136.0f, xs[mr], a[j][0][mr]), s0, tot[j][0][mr]);
        tot[j][1][mr] = fmaf(fmaf(-128.5f, xs[mr], a[j][1][mr]), s1, tot[j][1][mr]);
      }
    }
  };

  // fp16: packed half2 arithmetic, half the instructions of the fp32 path (run 8 of
  // docs/RESULTS.md: the fp32 path was bound by issue and the integer pipe, 62% SM throughput at
  // 28% DRAM). Codes are decoded exactly (two per LOP3, as the tensor-core kernel does), the
  // products summed in fp16 over one chunk (8 products per half) and then added to fp32 once per
  // chunk, already scaled. The fp16 partial sums bound the activations: |x| < 1023 keeps every
  // partial finite (8 products of |code| <= 8).
  auto process_h2 = [&](const uint4 (&w)[NT], int c) {
    const int kk = c * 64 + cq * 16;
    const int gsi = min(kk / p.gs, p.groups - 1);
    const __half2 k1032 = __half2half2(__ushort_as_half(0x6408));      // 1032
    const __half2 kSixteenth = __half2half2(__ushort_as_half(0x2C00));  // 1/16
    const __half2 kM72 = __half2half2(__ushort_as_half(0xD480));        // -72
    __half2 a[NT][2][MR];
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int mr = 0; mr < MR; ++mr) a[j][0][mr] = a[j][1][mr] = __half2half2(__ushort_as_half(0));
    uint4 xr[MR];
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      if (t % 2 == 0) {
#pragma unroll
        for (int mr = 0; mr < MR; ++mr) xr[mr] = load_x8<BF16>(x, p.ldx, m0 + mr, p.m, kk + 4 * t, p.k);
      }
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        // Nibbles 0|4 -> row g (k0, k1); 1|5 -> row g+8 (k0, k1) as 1024 + 16u; after >> 8, 2|6 and
        // 3|7 give k2, k3. 0x6400 | u is the half 1024 + u.
        const uint32_t q = word_of(w[j], t), q8 = q >> 8;
        uint32_t r[4] = {(q & 0x000F000Fu) | 0x64006400u, (q & 0x00F000F0u) | 0x64006400u,
                         (q8 & 0x000F000Fu) | 0x64006400u, (q8 & 0x00F000F0u) | 0x64006400u};
        const __half2 c0 = __hsub2(*reinterpret_cast<__half2*>(&r[0]), k1032);
        const __half2 c1 = __hfma2(*reinterpret_cast<__half2*>(&r[1]), kSixteenth, kM72);
        const __half2 c2 = __hsub2(*reinterpret_cast<__half2*>(&r[2]), k1032);
        const __half2 c3 = __hfma2(*reinterpret_cast<__half2*>(&r[3]), kSixteenth, kM72);
#pragma unroll
        for (int mr = 0; mr < MR; ++mr) {
          uint32_t x01 = word_of(xr[mr], 2 * (t % 2)), x23 = word_of(xr[mr], 2 * (t % 2) + 1);
          const __half2 h01 = *reinterpret_cast<__half2*>(&x01), h23 = *reinterpret_cast<__half2*>(&x23);
          a[j][0][mr] = __hfma2(c2, h23, __hfma2(c0, h01, a[j][0][mr]));
          a[j][1][mr] = __hfma2(c3, h23, __hfma2(c1, h01, a[j][1][mr]));
        }
      }
    }
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const float* sp = p.scales + static_cast<int64_t>(gsi) * p.npad + (nt0 + j) * 16 + g;
      const float s0 = ok[j] ? __ldg(sp) : 0.0f;
      const float s1 = ok[j] ? __ldg(sp + 8) : 0.0f;
#pragma unroll
      for (int mr = 0; mr < MR; ++mr) {
        const float2 f0 = __half22float2(a[j][0][mr]), f1 = __half22float2(a[j][1][mr]);
        tot[j][0][mr] = fmaf(f0.x + f0.y, s0, tot[j][0][mr]);
        tot[j][1][mr] = fmaf(f1.x + f1.y, s1, tot[j][1][mr]);
      }
    }
  };
  auto process = [&](const uint4 (&w)[NT], int c) {
    if constexpr (BF16)
      process_f32(w, c);
    else
      process_h2(w, c);
  };

  auto load = [&](uint4 (&w)[U][NT], int c) {
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int cu = c + u * nwk;
        w[u][j] = (ok[j] && cu < p.chunks) ? ptx::ld_stream(wp[j] + static_cast<int64_t>(cu) * 32)
                                           : make_uint4(0, 0, 0, 0);
      }
  };
  auto run = [&](const uint4 (&w)[U][NT], int c) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int cu = c + u * nwk;
      if (cu < p.chunks) process(w[u], cu);
    }
  };
  if constexpr (PIPE) {
    // Ping-pong: buffer b loads while buffer a is multiplied, and the other way round.
    uint4 wa[U][NT], wb[U][NT];
    load(wa, wk);
    for (int c = wk; c < p.chunks; c += 2 * U * nwk) {
      load(wb, c + U * nwk);
      run(wa, c);
      load(wa, c + 2 * U * nwk);
      run(wb, c + U * nwk);
    }
  } else {
    // Batches of U chunks: all U x NT loads are issued before the first is used.
    for (int c = wk; c < p.chunks; c += U * nwk) {
      uint4 w[U][NT];
      load(w, c);
      run(w, c);
    }
  }

  // Fixed-order reduction: the 4 lanes of a quad (different k), then the warps (different chunks).
  constexpr int V = NT * 2 * MR;
  __shared__ float red[32][8][V];
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int mr = 0; mr < MR; ++mr) {
        float v = tot[j][r][mr];
        v += __shfl_xor_sync(0xFFFFFFFFu, v, 1);
        v += __shfl_xor_sync(0xFFFFFFFFu, v, 2);
        if (cq == 0) red[wk][g][(j * 2 + r) * MR + mr] = v;
      }
  __syncthreads();
  using T = elem_t<BF16>;
  T* y = static_cast<T*>(p.y);
  for (int e = threadIdx.x; e < 8 * V; e += blockDim.x) {
    const int gg = e / V, idx = e % V;
    float s = 0.0f;
    for (int w = 0; w < nwk; ++w) s += red[w][gg][idx];
    const int j = idx / (2 * MR), r = (idx / MR) % 2, mr = idx % MR;
    const int row = (nt0 + j) * 16 + gg + 8 * r, col = m0 + mr;
    if (row < p.n && col < p.m) {
      if constexpr (BF16)
        y[static_cast<int64_t>(col) * p.n + row] = __float2bfloat16_rn(s);
      else
        y[static_cast<int64_t>(col) * p.n + row] = __float2half_rn(s);
    }
  }
}

template <bool BF16, int MR, bool PIPE>
void launch(const GemvArgs& a, int nt, int wk, cudaStream_t s) {
  const unsigned gy = static_cast<unsigned>((a.m + MR - 1) / MR);
  // MR = 4 with two tiles per warp spills at 64 registers: one tile there.
  if constexpr (MR <= 2) {
    if (nt == 2) {
      detail::launch_kernel(w4_gemv_kernel<BF16, MR, 2, PIPE>, dim3(static_cast<unsigned>((a.ntiles + 1) / 2), gy),
                            dim3(wk * 32), 0, s, a);
      return;
    }
  }
  detail::launch_kernel(w4_gemv_kernel<BF16, MR, 1, PIPE>, dim3(static_cast<unsigned>(a.ntiles), gy), dim3(wk * 32), 0,
                        s, a);
}

template <bool BF16, int MR>
void launch(const GemvArgs& a, int nt, int wk, bool pipe, cudaStream_t s) {
  if (pipe)
    launch<BF16, MR, true>(a, nt, wk, s);
  else
    launch<BF16, MR, false>(a, nt, wk, s);
}

template <bool BF16>
void launch_m(const GemvArgs& a, int nt, int wk, bool pipe, cudaStream_t s) {
  // Beyond 4 rows the grid repeats over groups of 4 (each re-reads the weight): only for measuring.
  if (a.m == 1) return launch<BF16, 1>(a, nt, wk, pipe, s);
  if (a.m == 2) return launch<BF16, 2>(a, nt, wk, pipe, s);
  return launch<BF16, 4>(a, nt, wk, pipe, s);
}

}  // namespace

void w4_gemv(const W4Device& w, int64_t m, const void* x, int64_t ldx, void* y, cudaStream_t stream,
             int tiles_per_warp, int warps_k, int pipeline) {
  if (w.sparse) throw Error("w4_gemv: dense int4 weights only (2:4 weights run on w4a16_gemm's mma.sp kernel)");
  if (tiles_per_warp < 0 || tiles_per_warp > 2 || warps_k < 0 || warps_k > 32)
    throw Error("w4_gemv: tiles_per_warp must be 0..2 and warps_k 0..32 (got " + std::to_string(tiles_per_warp) +
                ", " + std::to_string(warps_k) + ")");
  GemvArgs a{static_cast<const uint4*>(w.packed), static_cast<const float*>(w.scales), x, ldx, y,
             static_cast<int>(m), static_cast<int>(w.n), static_cast<int>(w.k), static_cast<int>(w.ntiles),
             static_cast<int>(w.chunks), static_cast<int>(w.groups),
             w.group_size > 0 ? static_cast<int>(w.group_size) : (1 << 30), static_cast<int>(w.ntiles * 16)};
  // Defaults from the block-shape sweep of bench/cuda (H200, run 8 of docs/RESULTS.md): two tiles
  // per warp at M <= 2 and 16 warps per block won or tied at every shape; fewer warps only when
  // K is too short to give each one a full batch of chunks.
  const int nt = m <= 2 ? (tiles_per_warp > 0 ? tiles_per_warp : 2) : 1;
  int wk = warps_k;
  if (wk == 0) {
    const int64_t batch = (m > 2 ? 2 : 4) / nt;  // chunks per batch (UB of the kernel)
    wk = 16;
    while (wk > 1 && w.chunks < batch * wk) wk /= 2;
  }
  if (m > 2) wk = std::min(wk, 16);  // the MR = 4 kernel's launch bound
  const bool pipe = pipeline >= 0;
  if (w.bf16)
    launch_m<true>(a, nt, wk, pipe, stream);
  else
    launch_m<false>(a, nt, wk, pipe, stream);
  QF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace qf::cuda
