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

// sum over a chunk's 32 k of (x[k] - zx) * code[k]: w the chunk's 16 packed bytes (byte i holds
// k = 2i in its low nibble and 2i + 1 in its high one), xa / xb its 32 activation bytes.
template <bool U>
__device__ __forceinline__ int32_t chunk_dot(uint4 w, uint4 xa, uint4 xb, int32_t zx) {
  const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
  const uint32_t xs[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
  int32_t xv = 0, sx = 0, sv = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const uint32_t t = ws[j] ^ 0x88888888u;  // v = u ^ 8, nibble by nibble
    const uint32_t lo = t & 0x0F0F0F0Fu, hi = (t >> 4) & 0x0F0F0F0Fu;
    const uint32_t ev = __byte_perm(xs[2 * j], xs[2 * j + 1], 0x6420);  // k = 8j, 8j+2, 8j+4, 8j+6
    const uint32_t od = __byte_perm(xs[2 * j], xs[2 * j + 1], 0x7531);  // k = 8j+1, 8j+3, ...
    if constexpr (U) {
      xv = static_cast<int32_t>(__dp4a(ev, lo, static_cast<uint32_t>(xv)));
      xv = static_cast<int32_t>(__dp4a(od, hi, static_cast<uint32_t>(xv)));
      sx = static_cast<int32_t>(__dp4a(xs[2 * j], 0x01010101u, static_cast<uint32_t>(sx)));
      sx = static_cast<int32_t>(__dp4a(xs[2 * j + 1], 0x01010101u, static_cast<uint32_t>(sx)));
      sv = static_cast<int32_t>(__dp4a(lo + hi, 0x01010101u, static_cast<uint32_t>(sv)));  // bytes <= 30
    } else {
      xv = __dp4a(static_cast<int32_t>(ev), static_cast<int32_t>(lo), xv);
      xv = __dp4a(static_cast<int32_t>(od), static_cast<int32_t>(hi), xv);
      sx = __dp4a(static_cast<int32_t>(xs[2 * j]), 0x01010101, sx);
      sx = __dp4a(static_cast<int32_t>(xs[2 * j + 1]), 0x01010101, sx);
    }
  }
  if constexpr (U) return xv - 8 * sx - zx * sv + 256 * zx;
  return xv - 8 * sx;
}

// CPG: 32-code chunks per group (1, 2, 4), 0 = per channel. MAXCH: chunks a lane holds.
// Lane l holds groups l, l + 32, ... (per group; chunks (l + 32 s) * CPG + t) or chunks l + 32 j
// (per channel).
template <bool U, int CPG, int MAXCH>
__global__ void __launch_bounds__(kWarps * 32) q4_gemv_kernel(int64_t m, const uint8_t* __restrict__ x, int32_t zx,
                                                              const float* __restrict__ sx, int64_t sx_stride,
                                                              const uint4* __restrict__ w4,
                                                              const float* __restrict__ sw, int64_t n, int64_t k,
                                                              const float* __restrict__ bias, float* __restrict__ y) {
  constexpr int S = CPG > 0 ? MAXCH / CPG : MAXCH;  // group slots (per group)
  const int lane = threadIdx.x & 31;
  const int64_t o = blockIdx.x * static_cast<int64_t>(kWarps) + (threadIdx.x >> 5);
  if (o >= n) return;  // whole warps leave together
  const int64_t chunks = k / 32, groups = CPG > 0 ? chunks / CPG : 1;
  const uint4* wr = w4 + o * chunks;
  int64_t cidx[MAXCH];
  uint4 wv[MAXCH];
#pragma unroll
  for (int j = 0; j < MAXCH; ++j) {
    cidx[j] = CPG > 0 ? (lane + 32 * (j / CPG)) * static_cast<int64_t>(CPG) + j % CPG : lane + 32 * j;
    wv[j] = cidx[j] < chunks ? __ldg(wr + cidx[j]) : make_uint4(0, 0, 0, 0);
  }
  for (int64_t i = 0; i < m; ++i) {
    const uint4* xr = reinterpret_cast<const uint4*>(x + i * k);
    int32_t acc[MAXCH];
#pragma unroll
    for (int j = 0; j < MAXCH; ++j)
      acc[j] = cidx[j] < chunks ? chunk_dot<U>(wv[j], __ldg(xr + 2 * cidx[j]), __ldg(xr + 2 * cidx[j] + 1), zx) : 0;
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

template <bool U, int CPG, int MAXCH>
void launch(int64_t m, const void* x, int32_t zx, const float* sx, int64_t sx_stride, const uint8_t* w4,
            const float* sw, int64_t n, int64_t k, const float* bias, float* y) {
  const unsigned blocks = static_cast<unsigned>((n + kWarps - 1) / kWarps);
  q4_gemv_kernel<U, CPG, MAXCH><<<blocks, kWarps * 32>>>(m, static_cast<const uint8_t*>(x), zx, sx, sx_stride,
                                                          reinterpret_cast<const uint4*>(w4), sw, n, k, bias, y);
  detail::check_launch("q4_gemv_exact");
}

template <bool U, int CPG>
void launch_by_width(int64_t per_lane, int64_t m, const void* x, int32_t zx, const float* sx, int64_t sx_stride,
                     const uint8_t* w4, const float* sw, int64_t n, int64_t k, const float* bias, float* y) {
  if constexpr (CPG <= 2) {
    if (per_lane <= 2) return launch<U, CPG, 2>(m, x, zx, sx, sx_stride, w4, sw, n, k, bias, y);
  }
  launch<U, CPG, 8>(m, x, zx, sx, sx_stride, w4, sw, n, k, bias, y);
}

}  // namespace

bool q4_gemv_exact(int64_t m, const void* x, bool x_unsigned, int32_t zx, const float* sx, int64_t sx_stride,
                   const uint8_t* w4, const float* sw, int64_t n, int64_t k, int64_t group_size, const float* bias,
                   float* y) {
  if (m < 1 || m > kQ4GemvMaxM || n < 1 || k < 32 || k % 32 != 0 || k > 8192) return false;
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(w4) % 16 != 0) return false;
  const int64_t cpg = group_size / 32;
  if (group_size != 0 && (group_size % 32 != 0 || (cpg != 1 && cpg != 2 && cpg != 4) || k % group_size != 0))
    return false;
  const int64_t chunks = k / 32;
  // Chunks one lane holds: per channel ceil(chunks / 32); per group ceil(groups / 32) * cpg.
  const int64_t per_lane = group_size == 0 ? (chunks + 31) / 32 : (chunks / cpg + 31) / 32 * cpg;
  if (per_lane > 8) return false;
  auto go = [&](auto u) {
    constexpr bool U = decltype(u)::value;
    switch (cpg) {
      case 0: launch_by_width<U, 0>(per_lane, m, x, zx, sx, sx_stride, w4, sw, n, k, bias, y); break;
      case 1: launch_by_width<U, 1>(per_lane, m, x, zx, sx, sx_stride, w4, sw, n, k, bias, y); break;
      case 2: launch_by_width<U, 2>(per_lane, m, x, zx, sx, sx_stride, w4, sw, n, k, bias, y); break;
      default: launch_by_width<U, 4>(per_lane, m, x, zx, sx, sx_stride, w4, sw, n, k, bias, y); break;
    }
  };
  if (x_unsigned) go(std::true_type{});
  else go(std::false_type{});
  return true;
}

}  // namespace qf::cuda
