// The int4 decode GEMV of the `cuda` table (q4_gemv_exact.h): a decode step is weight-bandwidth
// bound, so one warp streams one weight row with 16-byte loads (32 codes a load), keeps its slice
// in registers for the M <= 8 activation rows, and multiplies in int32 with dp4a.
//
// Exactness (the reference kernels' contract, kernels.h):
//  * each 32-code chunk is an exact int32 sum; a nibble u is the code (u ^ 8) - 8, so
//    sum (x - zx) * code = sum x * v - 8 sum x - zx * sum v + 256 zx with v = u ^ 8 in [0, 15]
//    (dp4a on bytes: v fits a signed and an unsigned byte alike);
//  * per channel: the chunk sums reduced by shuffles (integer: any order), then
//    float(acc) * (sx * sw[n]) as in the reference;
//  * per group: each lane turns its groups' int32 sums into float(acc_g) * sw[n, g] (a product
//    rounded once, as in the reference), then every lane adds the groups' products in increasing
//    g, fetched by shuffles: the reference's sequence of float additions exactly (the intrinsics
//    make every rounding explicit, whatever -fmad says).
#include <cuda_runtime.h>

#include <type_traits>

#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/q4_gemv_exact.h"

namespace qf::cuda {
namespace {

constexpr int kWarps = 4;  // weight rows (one per warp) per block
constexpr unsigned kFull = 0xffffffffu;

// A chunk is 32 consecutive k of a weight row. Dense: its 16 packed bytes (byte i holds k = 2i
// in its low nibble and 2i + 1 in its high one). 2:4: its 16 kept codes as 8 nibble bytes
// (byte i: kept value i low, kept value i + 4 high, of the chunk's first / second 8 kept values
// in word 0 / 1; prepared at load) and the checkpoint's 2-bit indices of those 16 values (one
// 32-bit word, LSB first, kept value j at bits 2j).
// sum over a chunk's 32 k of (x[k] - zx) * code[k], xs the chunk's 32 activation bytes: with
// v = u ^ 8 in [0, 15] (the nibble u is the code v - 8), sum x v - 8 sum x - zx sum v + 8 zx n.
template <bool U>
__device__ __forceinline__ int32_t dot4(uint32_t x, uint32_t v, int32_t acc) {
  if constexpr (U) return static_cast<int32_t>(__dp4a(x, v, static_cast<uint32_t>(acc)));
  return __dp4a(static_cast<int32_t>(x), static_cast<int32_t>(v), acc);
}
template <bool U>
__device__ __forceinline__ int32_t finish(int32_t xv, int32_t sx, int32_t sv, int32_t zx, int32_t n) {
  if constexpr (U) return xv - 8 * sx - zx * sv + 8 * n * zx;
  return xv - 8 * sx;  // qs8: zero point 0
}

template <bool U>
__device__ __forceinline__ int32_t chunk_dot(uint4 w, uint4 xa, uint4 xb, int32_t zx) {
  const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
  const uint32_t xs[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
  int32_t xv = 0, sx = 0, sv = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const uint32_t t = ws[j] ^ 0x88888888u;  // v = u ^ 8, nibble by nibble
    const uint32_t lo = t & 0x0F0F0F0Fu, hi = (t >> 4) & 0x0F0F0F0Fu;
    xv = dot4<U>(__byte_perm(xs[2 * j], xs[2 * j + 1], 0x6420), lo, xv);  // k = 8j, 8j+2, 8j+4, 8j+6
    xv = dot4<U>(__byte_perm(xs[2 * j], xs[2 * j + 1], 0x7531), hi, xv);  // k = 8j+1, 8j+3, ...
    sx = dot4<U>(xs[2 * j], 0x01010101u, sx);
    sx = dot4<U>(xs[2 * j + 1], 0x01010101u, sx);
    if constexpr (U) sv = dot4<U>(lo + hi, 0x01010101u, sv);  // bytes <= 30
  }
  return finish<U>(xv, sx, sv, zx, 32);
}

// The 2:4 chunk: kept values 4t .. 4t + 3 sit in 4-blocks 2t and 2t + 1, whose 8 activations
// are words 2t and 2t + 1 of xs; their 2-bit indices (byte t of idx) become the byte_perm
// selector that gathers the 4 activations the values multiply.
template <bool U>
__device__ __forceinline__ int32_t chunk_dot24(uint2 vals, uint32_t idx, uint4 xa, uint4 xb, int32_t zx) {
  const uint32_t xs[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
  int32_t xv = 0, sx = 0, sv = 0;
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    const uint32_t b = (idx >> (8 * t)) & 0xFFu;
    const uint32_t sel = ((b & 0x3u) | ((b & 0xCu) << 2) | ((b & 0x30u) << 4) | ((b & 0xC0u) << 6)) + 0x4400u;
    const uint32_t g = __byte_perm(xs[2 * t], xs[2 * t + 1], sel);
    const uint32_t word = (t < 2 ? vals.x : vals.y) ^ 0x88888888u;
    const uint32_t v = ((t & 1) ? word >> 4 : word) & 0x0F0F0F0Fu;
    xv = dot4<U>(g, v, xv);
    sx = dot4<U>(g, 0x01010101u, sx);
    if constexpr (U) sv = dot4<U>(v, 0x01010101u, sv);
  }
  return finish<U>(xv, sx, sv, zx, 16);
}

// CPG: 32-k chunks per group (1, 2, 4), 0 = per channel. MAXCH: chunks a lane holds. Lane l
// holds groups l, l + 32, ... (chunks (l + 32 s) * CPG + t) per group, chunks l + 32 j per
// channel. SPARSE: the 2:4 layout (vals [N, K/4] nibbles, idx [N, K/8]); else w [N, K/2].
template <bool U, bool SPARSE, int CPG, int MAXCH>
__global__ void __launch_bounds__(kWarps * 32) q4_gemv_kernel(int64_t m, const uint8_t* __restrict__ x, int32_t zx,
                                                              const float* __restrict__ sx, int64_t sx_stride,
                                                              const uint8_t* __restrict__ w,
                                                              const uint8_t* __restrict__ idx,
                                                              const float* __restrict__ sw, int64_t n, int64_t k,
                                                              const float* __restrict__ bias, float* __restrict__ y) {
  detail::pdl_launch_dependents();  // the weights load before waiting on the previous kernel (launch_util.cuh)
  constexpr int S = CPG > 0 ? MAXCH / CPG : MAXCH;  // group slots (per group)
  const int lane = threadIdx.x & 31;
  const int64_t o = blockIdx.x * static_cast<int64_t>(kWarps) + (threadIdx.x >> 5);
  if (o >= n) return;  // whole warps leave together
  const int64_t chunks = k / 32, groups = CPG > 0 ? chunks / CPG : 1;
  int64_t cidx[MAXCH];
  uint4 wv[MAXCH];  // dense: the chunk's 16 bytes; 2:4: (vals.x, vals.y, idx, -)
#pragma unroll
  for (int j = 0; j < MAXCH; ++j) {
    cidx[j] = CPG > 0 ? (lane + 32 * (j / CPG)) * static_cast<int64_t>(CPG) + j % CPG : lane + 32 * j;
    wv[j] = make_uint4(0, 0, 0, 0);
    if (cidx[j] < chunks) {
      if constexpr (SPARSE) {
        const uint2 v = __ldg(reinterpret_cast<const uint2*>(w + o * (k / 4)) + cidx[j]);
        wv[j] = make_uint4(v.x, v.y, __ldg(reinterpret_cast<const uint32_t*>(idx + o * (k / 8)) + cidx[j]), 0);
      } else {
        wv[j] = __ldg(reinterpret_cast<const uint4*>(w + o * (k / 2)) + cidx[j]);
      }
    }
  }
  detail::pdl_wait();
  for (int64_t i = 0; i < m; ++i) {
    const uint4* xr = reinterpret_cast<const uint4*>(x + i * k);
    int32_t acc[MAXCH];
#pragma unroll
    for (int j = 0; j < MAXCH; ++j) {
      acc[j] = 0;
      if (cidx[j] < chunks) {
        const uint4 xa = __ldg(xr + 2 * cidx[j]), xb = __ldg(xr + 2 * cidx[j] + 1);
        if constexpr (SPARSE) acc[j] = chunk_dot24<U>(make_uint2(wv[j].x, wv[j].y), wv[j].z, xa, xb, zx);
        else acc[j] = chunk_dot<U>(wv[j], xa, xb, zx);
      }
    }
    const float sxi = sx[i * sx_stride];
    float v;
    if constexpr (CPG == 0) {
      int32_t a = 0;
#pragma unroll
      for (int j = 0; j < MAXCH; ++j) a += acc[j];
#pragma unroll
      for (int s = 16; s > 0; s >>= 1) a += __shfl_xor_sync(kFull, a, s);
      v = __fmul_rn(__int2float_rn(a), __fmul_rn(sxi, sw[o]));
    } else {
      float p[S];
#pragma unroll
      for (int s = 0; s < S; ++s) {
        const int64_t g = lane + 32 * s;
        int32_t a = 0;
#pragma unroll
        for (int t = 0; t < CPG; ++t) a += acc[s * CPG + t];
        p[s] = g < groups ? __fmul_rn(__int2float_rn(a), sw[o * groups + g]) : 0.0f;
      }
      float total = 0.0f;
#pragma unroll
      for (int s = 0; s < S; ++s)
        for (int l = 0; l < 32 && 32 * s + l < groups; ++l) total = __fadd_rn(total, __shfl_sync(kFull, p[s], l));
      v = __fmul_rn(sxi, total);
    }
    if (lane == 0) y[i * n + o] = bias ? __fadd_rn(v, bias[o]) : v;
  }
}

struct Args {
  int64_t m;
  const void* x;
  int32_t zx;
  const float* sx;
  int64_t sx_stride;
  const uint8_t* w;
  const uint8_t* idx;
  const float* sw;
  int64_t n, k;
  const float* bias;
  float* y;
};

template <bool U, bool SPARSE, int CPG, int MAXCH>
void launch(const Args& a) {
  const unsigned blocks = static_cast<unsigned>((a.n + kWarps - 1) / kWarps);
  detail::launch_kernel(q4_gemv_kernel<U, SPARSE, CPG, MAXCH>, dim3(blocks), dim3(kWarps * 32), 0, nullptr, a.m,
                        static_cast<const uint8_t*>(a.x), a.zx, a.sx, a.sx_stride, a.w, a.idx, a.sw, a.n, a.k, a.bias,
                        a.y);
  detail::check_launch("q4_gemv_exact");
}

template <bool U, bool SPARSE, int CPG>
void launch_by_width(int64_t per_lane, const Args& a) {
  if constexpr (CPG <= 2) {
    if (per_lane <= 2) return launch<U, SPARSE, CPG, 2>(a);
  }
  launch<U, SPARSE, CPG, 8>(a);
}

template <bool SPARSE>
bool dispatch(bool x_unsigned, int64_t group_size, const Args& a) {
  if (a.m < 1 || a.m > kQ4GemvMaxM || a.n < 1 || a.k < 32 || a.k % 32 != 0 || a.k > 8192) return false;
  if (reinterpret_cast<uintptr_t>(a.x) % 16 != 0 || reinterpret_cast<uintptr_t>(a.w) % 16 != 0) return false;
  const int64_t cpg = group_size / 32;
  if (group_size != 0 && (group_size % 32 != 0 || (cpg != 1 && cpg != 2 && cpg != 4) || a.k % group_size != 0))
    return false;
  const int64_t chunks = a.k / 32;
  // Chunks one lane holds: per channel ceil(chunks / 32); per group ceil(groups / 32) * cpg.
  const int64_t per_lane = group_size == 0 ? (chunks + 31) / 32 : (chunks / cpg + 31) / 32 * cpg;
  if (per_lane > 8) return false;
  auto go = [&](auto u) {
    constexpr bool U = decltype(u)::value;
    switch (cpg) {
      case 0: launch_by_width<U, SPARSE, 0>(per_lane, a); break;
      case 1: launch_by_width<U, SPARSE, 1>(per_lane, a); break;
      case 2: launch_by_width<U, SPARSE, 2>(per_lane, a); break;
      default: launch_by_width<U, SPARSE, 4>(per_lane, a); break;
    }
  };
  if (x_unsigned) go(std::true_type{});
  else go(std::false_type{});
  return true;
}

}  // namespace

std::vector<uint8_t> sparse24_nibbles(const int8_t* kept, int64_t n, int64_t k) {
  std::vector<uint8_t> out(static_cast<size_t>(n * (k / 4)));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k / 32; ++c) {  // 16 kept values per chunk -> 8 bytes
      const int8_t* v = kept + r * (k / 2) + c * 16;
      uint8_t* b = out.data() + r * (k / 4) + c * 8;
      for (int i = 0; i < 4; ++i) {
        b[i] = static_cast<uint8_t>((v[i] & 0xF) | ((v[i + 4] & 0xF) << 4));
        b[4 + i] = static_cast<uint8_t>((v[8 + i] & 0xF) | ((v[12 + i] & 0xF) << 4));
      }
    }
  return out;
}

bool q4_gemv_exact(int64_t m, const void* x, bool x_unsigned, int32_t zx, const float* sx, int64_t sx_stride,
                   const uint8_t* w4, const float* sw, int64_t n, int64_t k, int64_t group_size, const float* bias,
                   float* y) {
  return dispatch<false>(x_unsigned, group_size, {m, x, zx, sx, sx_stride, w4, nullptr, sw, n, k, bias, y});
}

bool q4s24_gemv_exact(int64_t m, const void* x, bool x_unsigned, int32_t zx, const float* sx, int64_t sx_stride,
                      const Sparse24Nibbles& w, const float* sw, int64_t n, int64_t k, int64_t group_size,
                      const float* bias, float* y) {
  if (reinterpret_cast<uintptr_t>(w.idx) % 4 != 0) return false;
  return dispatch<true>(x_unsigned, group_size, {m, x, zx, sx, sx_stride, w.vals, w.idx, sw, n, k, bias, y});
}

}  // namespace qf::cuda
