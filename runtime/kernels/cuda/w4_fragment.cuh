// Device helpers shared by the W4A16 kernels (w4a16_gemm.cu, w4_stream_gemm.cu): the int4 ->
// fp16/bf16 fragment dequantization of the w4_prepare layout (cuda_qgemm.h) and the bounded
// 16-activation load. Internal to runtime/kernels/cuda.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "runtime/kernels/cuda/mma_ptx.cuh"

namespace qf::cuda::w4frag {

template <bool BF16>
using elem_t = std::conditional_t<BF16, __nv_bfloat16, __half>;

__device__ __forceinline__ uint32_t as_u32(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }
__device__ __forceinline__ uint32_t as_u32(__nv_bfloat162 h) { return *reinterpret_cast<uint32_t*>(&h); }

// One word of 8 biased codes (code + 8) -> the 4 A registers, scaled: registers 0 and 2 are row
// g (scale s0), 1 and 3 row g+8 (scale s1); s0/s1 hold the scale in both halves.
// fp16: (0x6400 | nibble) is the half 1024 + nibble, so one lop3 and one subtract give the code
// exactly; the high nibbles of each byte come out as 1024 + 16*nibble and one fma by 1/16 fixes
// them (all exact in fp16). bf16 has too few mantissa bits for the high-nibble trick (its
// 128 + 16*nibble would spill into the exponent), so it shifts by 4 instead.
template <bool BF16, bool SCALED = true>
__device__ __forceinline__ void dequant8(uint32_t q, uint32_t s0, uint32_t s1, uint32_t (&a)[4]) {
  if constexpr (!BF16) {
    const uint32_t kMagic = 0x64006400u;
    const __half2 k1032 = __halves2half2(__ushort_as_half(0x6408), __ushort_as_half(0x6408));  // 1032
    const __half2 kSixteenth = __halves2half2(__ushort_as_half(0x2C00), __ushort_as_half(0x2C00));  // 1/16
    const __half2 kM72 = __halves2half2(__ushort_as_half(0xD480), __ushort_as_half(0xD480));  // -72
    uint32_t r[4];
    r[0] = ptx::lop3_and_or(q, 0x000F000Fu, kMagic);
    r[1] = ptx::lop3_and_or(q, 0x00F000F0u, kMagic);
    const uint32_t q8 = q >> 8;
    r[2] = ptx::lop3_and_or(q8, 0x000F000Fu, kMagic);
    r[3] = ptx::lop3_and_or(q8, 0x00F000F0u, kMagic);
    const __half2 c0 = __hsub2(*reinterpret_cast<__half2*>(&r[0]), k1032);
    const __half2 c1 = __hfma2(*reinterpret_cast<__half2*>(&r[1]), kSixteenth, kM72);
    const __half2 c2 = __hsub2(*reinterpret_cast<__half2*>(&r[2]), k1032);
    const __half2 c3 = __hfma2(*reinterpret_cast<__half2*>(&r[3]), kSixteenth, kM72);
    if constexpr (SCALED) {
      a[0] = as_u32(__hmul2(c0, *reinterpret_cast<const __half2*>(&s0)));
      a[1] = as_u32(__hmul2(c1, *reinterpret_cast<const __half2*>(&s1)));
      a[2] = as_u32(__hmul2(c2, *reinterpret_cast<const __half2*>(&s0)));
      a[3] = as_u32(__hmul2(c3, *reinterpret_cast<const __half2*>(&s1)));
    } else {
      a[0] = as_u32(c0);
      a[1] = as_u32(c1);
      a[2] = as_u32(c2);
      a[3] = as_u32(c3);
    }
  } else {
    const uint32_t kMagic = 0x43004300u;  // bf16 128.0
    const __nv_bfloat162 k136 = __halves2bfloat162(__ushort_as_bfloat16(0x4308), __ushort_as_bfloat16(0x4308));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      uint32_t r = ptx::lop3_and_or(q >> (4 * i), 0x000F000Fu, kMagic);
      const __nv_bfloat162 c = __hsub2(*reinterpret_cast<__nv_bfloat162*>(&r), k136);
      const uint32_t s = (i & 1) ? s1 : s0;
      a[i] = SCALED ? as_u32(__hmul2(c, *reinterpret_cast<const __nv_bfloat162*>(&s))) : as_u32(c);
    }
  }
}


// 16 activations x[row, kk .. kk+15] (zero outside [0, k) or for rows >= m).
template <bool BF16>
__device__ __forceinline__ void load_x16(const elem_t<BF16>* x, int64_t ldx, int row, int m, int kk, int k,
                                         uint4& lo, uint4& hi) {
  lo = make_uint4(0, 0, 0, 0);
  hi = lo;
  if (row >= m) return;
  const elem_t<BF16>* p = x + static_cast<int64_t>(row) * ldx + kk;
  if (kk + 16 <= k) {
    lo = __ldg(reinterpret_cast<const uint4*>(p));
    hi = __ldg(reinterpret_cast<const uint4*>(p) + 1);
  } else {
    uint16_t v[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) v[i] = kk + i < k ? reinterpret_cast<const uint16_t*>(p)[i] : 0;
    lo = make_uint4(v[0] | (v[1] << 16), v[2] | (v[3] << 16), v[4] | (v[5] << 16), v[6] | (v[7] << 16));
    hi = make_uint4(v[8] | (v[9] << 16), v[10] | (v[11] << 16), v[12] | (v[13] << 16), v[14] | (v[15] << 16));
  }
}

// Codes -> A registers with the magic offset left in (the scale-after path): fp16 rows g get
// 1024 + u, rows g+8 get 1024 + 16u (u = code + 8); bf16 rows get 128 + u. The offsets are
// removed once per group from the fp32 sums with S = sum of the activations (one extra mma
// against a ones fragment), which saves the subtract / fma on every pair of weights:
//   fp16 row g: acc - 1032 S;  row g+8: acc / 16 - 72 S;  bf16: acc - 136 S.
template <bool BF16>
__device__ __forceinline__ void dequant8_raw(uint32_t q, uint32_t (&a)[4]) {
  if constexpr (!BF16) {
    const uint32_t kMagic = 0x64006400u;
    a[0] = ptx::lop3_and_or(q, 0x000F000Fu, kMagic);
    a[1] = ptx::lop3_and_or(q, 0x00F000F0u, kMagic);
    const uint32_t q8 = q >> 8;
    a[2] = ptx::lop3_and_or(q8, 0x000F000Fu, kMagic);
    a[3] = ptx::lop3_and_or(q8, 0x00F000F0u, kMagic);
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] = ptx::lop3_and_or(q >> (4 * i), 0x000F000Fu, 0x43004300u);
  }
}
template <bool BF16>
constexpr uint32_t kOnes = BF16 ? 0x3F803F80u : 0x3C003C00u;

// acc (offset codes x activations) -> codes x activations, given S for the same outputs.
template <bool BF16>
__device__ __forceinline__ float remove_offset(float acc, float sum, bool high_row) {
  if constexpr (BF16) return fmaf(-136.0f, sum, acc);
  return high_row ? fmaf(-72.0f, sum, acc * 0.0625f) : fmaf(-1032.0f, sum, acc);
}

template <bool BF16>
__device__ __forceinline__ uint32_t scale_pair(float s) {
  if constexpr (BF16)
    return as_u32(__float2bfloat162_rn(s));
  else
    return as_u32(__float2half2_rn(s));
}


// The B fragment of step t (16 k) of a 64-k chunk: xl holds the chunk's k 0-31, xh k 32-63.
__device__ __forceinline__ void b_frag(const uint4& xl, const uint4& xh, int t, uint32_t& b0, uint32_t& b1) {
  b0 = t == 0 ? xl.x : t == 1 ? xl.z : t == 2 ? xh.x : xh.z;
  b1 = t == 0 ? xl.y : t == 1 ? xl.w : t == 2 ? xh.y : xh.w;
}

// One 64-k chunk of a 16-row weight tile (4 words of 8 codes) against MT activation tiles: each
// word dequantized (scaled by s0 / s1; raw codes when SA, whose offset is removed after the sums)
// and its m16n8k16 products accumulated.
template <bool BF16, bool SA, int MT>
__device__ __forceinline__ void mma_chunk(const uint4& w, uint32_t s0, uint32_t s1, const uint4 (&xl)[MT],
                                          const uint4 (&xh)[MT], float (&acc)[MT][4]) {
  const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    uint32_t a[4];
    if constexpr (SA)
      dequant8_raw<BF16>(words[t], a);
    else
      dequant8<BF16>(words[t], s0, s1, a);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      uint32_t b0, b1;
      b_frag(xl[mt], xh[mt], t, b0, b1);
      ptx::mma_16816<BF16>(acc[mt], a, b0, b1);
    }
  }
}

// SA: the chunk's activation sums S per column, as the same products with a weight of ones.
template <bool BF16, int MT>
__device__ __forceinline__ void mma_chunk_sums(const uint4 (&xl)[MT], const uint4 (&xh)[MT], float (&xsum)[MT][4]) {
  const uint32_t ones[4] = {kOnes<BF16>, kOnes<BF16>, kOnes<BF16>, kOnes<BF16>};
#pragma unroll
  for (int t = 0; t < 4; ++t)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      uint32_t b0, b1;
      b_frag(xl[mt], xh[mt], t, b0, b1);
      ptx::mma_16816<BF16>(xsum[mt], ones, b0, b1);
    }
}

}  // namespace qf::cuda::w4frag
