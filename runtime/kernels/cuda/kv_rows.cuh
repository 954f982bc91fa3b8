// How the attention kernels read one K / V cache element on the device: a float cache, or a
// quantized one (kernels.h QuantKvRows, core/kv_quant.h's rule) dequantized as it is read with
// the reference's float operations (code * scale [+ offset], fp16 scales widened exactly), so
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

__device__ __forceinline__ float dequant_kv(const kernels::QuantKvRows& r, int64_t j, int64_t e) {
  const uint8_t* codes = r.codes + j * r.code_stride;
  int32_t q;
  if (r.q.bits == 8) {
    q = r.q.symmetric ? static_cast<int32_t>(static_cast<int8_t>(codes[e])) : static_cast<int32_t>(codes[e]);
  } else {
    const uint32_t nib = (codes[e >> 1] >> (4 * (e & 1))) & 0xFu;
    q = r.q.symmetric ? static_cast<int32_t>(nib) - static_cast<int32_t>((nib & 8u) << 1) : static_cast<int32_t>(nib);
  }
  const int64_t g = e / r.q.group;
  const float sc = fp16_bits_to_float(r.scales[j * r.scale_stride + g]);
  const float qf = static_cast<float>(q);
  return r.q.symmetric ? qf * sc : qf * sc + fp16_bits_to_float(r.offsets[j * r.scale_stride + g]);
}

struct QuantKv {
  kernels::QuantKvRows k, v;
  __device__ __forceinline__ float key(int64_t j, int64_t e) const { return dequant_kv(k, j, e); }
  __device__ __forceinline__ float value(int64_t j, int64_t e) const { return dequant_kv(v, j, e); }
};

}  // namespace qf::cuda::detail
