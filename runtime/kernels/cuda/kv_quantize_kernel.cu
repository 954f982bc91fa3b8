// The `cuda` table's quantize_kv_rows (kernels.h QuantizeKvRowsFn): core/kv_quant.h's rule,
// operation for operation, one thread per (row, group) — or per row when int4 groups of odd
// size share bytes, or int4 zero points do (two groups' in one byte) — so the codes and fp16 scales / offsets are bit-identical to the reference
// (fp16 rounding by __float2half_rn: round to nearest even, overflow to inf, like core/fp16.h;
// a NaN input may give another NaN payload).
#include <cuda_fp16.h>

#include "core/quant.h"
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

constexpr float kFp16Max = 65504.0f;
constexpr float kFp16MinSubnormal = 5.9604644775390625e-08f;  // 2^-24

__device__ __forceinline__ float fp16_round(float x, uint16_t* bits) {
  const __half h = __float2half_rn(x);
  *bits = __half_as_ushort(h);
  return __half2float(h);
}

// Group g of row r: its parameters, then its codes (bytes of int4 codes start zeroed by the
// caller's thread; an even group owns whole bytes).
__device__ __forceinline__ void put_code(uint8_t* codes, int64_t k, int bits, int32_t code) {
  if (bits == 8) codes[k] = static_cast<uint8_t>(code);
  else codes[k / 2] = static_cast<uint8_t>(codes[k / 2] | ((static_cast<uint32_t>(code) & 0xFu) << (4 * (k & 1))));
}

// Asymmetric with an integer zero point (core/kv_quant.h): the range widened to hold 0, zero point
// z written as code g of `zeros`.
__device__ void quantize_group_zero_point(const float* xg, int64_t n, int bits, int32_t qmax, uint8_t* codes,
                                          int64_t k0, uint8_t* zeros, int64_t g, uint16_t* scale_out) {
  const float fq = static_cast<float>(qmax);
  float lo = xg[0], hi = xg[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = fminf(lo, xg[i]);
    hi = fmaxf(hi, xg[i]);
  }
  lo = fminf(lo, 0.0f);
  hi = fmaxf(hi, 0.0f);
  uint16_t sb = 0;
  float scale = fp16_round(fminf(__fdiv_rn(__fsub_rn(hi, lo), fq), kFp16Max), &sb);
  if (scale == 0.0f) scale = fp16_round(hi > lo ? kFp16MinSubnormal : 1.0f, &sb);
  *scale_out = sb;
  const float z = fminf(fmaxf(rintf(__fdiv_rn(-lo, scale)), 0.0f), fq);
  put_code(zeros, g, bits, static_cast<int32_t>(z));
  for (int64_t i = 0; i < n; ++i) {
    const float q = fminf(fmaxf(__fadd_rn(rintf(__fdiv_rn(xg[i], scale)), z), 0.0f), fq);
    put_code(codes, k0 + i, bits, static_cast<int32_t>(q));
  }
}

__device__ void quantize_group(const float* xg, int64_t n, int bits, bool symmetric, float clip, int32_t qmin,
                               int32_t qmax, uint8_t* codes, int64_t k0, uint16_t* scale_out, uint16_t* offset_out) {
  const float fq = static_cast<float>(qmax);
  float scale, offset = 0.0f;
  uint16_t sb = 0, ob = 0;
  if (symmetric) {
    float absmax = 0.0f;
    for (int64_t i = 0; i < n; ++i) absmax = fmaxf(absmax, fabsf(xg[i]));
    const float s32 = fminf(__fdiv_rn(__fmul_rn(absmax, clip), fq), kFp16Max);
    scale = fp16_round(s32, &sb);
    if (scale == 0.0f) scale = fp16_round(absmax > 0.0f ? kFp16MinSubnormal : 1.0f, &sb);
  } else {
    float lo = xg[0], hi = xg[0];
    for (int64_t i = 1; i < n; ++i) {
      lo = fminf(lo, xg[i]);
      hi = fmaxf(hi, xg[i]);
    }
    offset = fp16_round(fminf(fmaxf(lo, -kFp16Max), kFp16Max), &ob);
    const float s32 = fminf(fmaxf(__fdiv_rn(hi - offset, fq), 0.0f), kFp16Max);
    scale = fp16_round(s32, &sb);
    if (scale == 0.0f) scale = fp16_round(1.0f, &sb);
  }
  *scale_out = sb;
  if (!symmetric) *offset_out = ob;
  for (int64_t i = 0; i < n; ++i) {
    const float v = symmetric ? __fdiv_rn(xg[i], scale) : __fdiv_rn(xg[i] - offset, scale);
    const float q = fminf(fmaxf(rintf(v), static_cast<float>(qmin)), static_cast<float>(qmax));
    put_code(codes, k0 + i, bits, static_cast<int32_t>(q));
  }
}

__global__ void quantize_kv_rows_kernel(const float* x, int64_t rows, int64_t x_stride, int64_t c,
                                        kernels::KvQuant q, int32_t qmin, int32_t qmax, bool per_group,
                                        uint8_t* codes, int64_t code_stride, uint16_t* scales, uint16_t* offsets,
                                        int64_t scale_stride) {
  detail::pdl_entry();
  const int64_t groups = c / q.group, units = per_group ? rows * groups : rows;
  for (int64_t u = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; u < units;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = per_group ? u / groups : u;
    const int64_t g0 = per_group ? u % groups : 0, g1 = per_group ? g0 + 1 : groups;
    uint8_t* cr = codes + r * code_stride;
    uint8_t* zeros = cr + (q.bits == 4 ? (c + 1) / 2 : c);  // int_zero_point: after the codes
    if (q.bits == 4) {  // zero this unit's bytes (odd c: the padding nibble stays 0)
      const int64_t b0 = g0 * q.group / 2, b1 = per_group ? g1 * q.group / 2 : (c + 1) / 2;
      for (int64_t b = b0; b < b1; ++b) cr[b] = 0;
      if (q.int_zero_point)  // per row only (see the launch): this thread owns the zero points' bytes
        for (int64_t b = 0; b < (groups + 1) / 2; ++b) zeros[b] = 0;
    }
    for (int64_t g = g0; g < g1; ++g)
      if (q.int_zero_point)
        quantize_group_zero_point(x + r * x_stride + g * q.group, q.group, q.bits, qmax, cr, g * q.group, zeros, g,
                                  scales + r * scale_stride + g);
      else
        quantize_group(x + r * x_stride + g * q.group, q.group, q.bits, q.symmetric, q.clip, qmin, qmax, cr, g * q.group,
                     scales + r * scale_stride + g, offsets ? offsets + r * scale_stride + g : nullptr);
  }
}

}  // namespace

void f32_quantize_kv_rows__cuda(const float* x, int64_t rows, int64_t x_stride, int64_t c, const kernels::KvQuant& q,
                                uint8_t* codes, int64_t code_stride, uint16_t* scales, uint16_t* offsets,
                                int64_t scale_stride) {
  if (rows <= 0 || c <= 0) return;
  if (q.group <= 0 || c % q.group != 0)
    throw Error("cuda quantize_kv_rows: group " + std::to_string(q.group) + " does not divide the row of " +
                std::to_string(c));
  const QuantRange r = quant_range(q.bits, q.symmetric);
  const bool per_group = q.bits == 8 || (q.group % 2 == 0 && !q.int_zero_point);
  const int64_t units = per_group ? rows * (c / q.group) : rows;
  detail::launch_kernel(quantize_kv_rows_kernel, dim3(detail::grid_for(units)), dim3(detail::kThreads), 0, nullptr, x,
                        rows, x_stride, c, q, r.qmin, r.qmax, per_group, codes, code_stride, scales, offsets,
                        scale_stride);
  detail::check_launch("quantize_kv_rows");
}

}  // namespace qf::cuda
