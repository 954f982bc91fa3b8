// How the attention kernels read one K / V cache element on the device: a float cache, or a
// quantized one (kernels.h QuantKvRows, core/kv_quant.h's rule) dequantized as it is read with
// the reference's float operations (code * scale [+ offset], or (code - zero) * scale with an
// integer zero point; fp16 scales widened exactly), so
// the quantized kernels equal the float kernels on the dequantized cache.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "runtime/kernels/kernels.h"

namespace qf::cuda::detail {

struct FloatKv {
  const float *k, *v;
  int64_t stride;
  __device__ __forceinline__ float key(int64_t j, int64_t e) const { return k[j * stride + e]; }
  __device__ __forceinline__ float value(int64_t j, int64_t e) const { return v[j * stride + e]; }
};

__device__ __forceinline__ float fp16_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// Code e of a row (signed for symmetric schemes).
__device__ __forceinline__ int32_t kv_code(const uint8_t* codes, int64_t e, int bits, bool symmetric) {
  if (bits == 8) return symmetric ? static_cast<int32_t>(static_cast<int8_t>(codes[e])) : static_cast<int32_t>(codes[e]);
  const uint32_t nib = (codes[e >> 1] >> (4 * (e & 1))) & 0xFu;
  return symmetric ? static_cast<int32_t>(nib) - static_cast<int32_t>((nib & 8u) << 1) : static_cast<int32_t>(nib);
}

__device__ __forceinline__ float dequant_kv(const kernels::QuantKvRows& r, int64_t j, int64_t e) {
  const uint8_t* codes = r.codes + j * r.code_stride;
  const float qf = static_cast<float>(kv_code(codes, e, r.q.bits, r.q.symmetric));
  const int64_t g = e / r.q.group;
  const float sc = fp16_bits_to_float(r.scales[j * r.scale_stride + g]);
  if (r.q.int_zero_point) return __fmul_rn(qf - static_cast<float>(kv_code(codes + r.zero_at, g, r.q.bits, false)), sc);
  return r.q.symmetric ? qf * sc : qf * sc + fp16_bits_to_float(r.offsets[j * r.scale_stride + g]);
}

struct QuantKv {
  kernels::QuantKvRows k, v;
  __device__ __forceinline__ float key(int64_t j, int64_t e) const { return dequant_kv(k, j, e); }
  __device__ __forceinline__ float value(int64_t j, int64_t e) const { return dequant_kv(v, j, e); }
};

}  // namespace qf::cuda::detail
