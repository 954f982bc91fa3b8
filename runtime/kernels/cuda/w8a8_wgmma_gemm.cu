// W8A8 on Hopper's int8 tensor cores: wgmma.mma_async m64nNk32 .s32.s8.s8 (or .u8.s8 for
// unsigned activations) on tiles fed by the bulk tensor copy engine -- the FP8 GEMM's mainloop
// (wgmma_mainloop.cuh), with int32 accumulators and the W8A8 contract's epilogue. Compiled for
// sm_90a only (the qforge_cuda_fp8_sm90a library); w8a8_gemm (w8a8_gemm.cu) calls it.
//
// Exactness: the int32 sums are exact in any order, so the result is bit-identical to the
// reference kernels as long as the epilogue does the reference's float operations in its order,
// as the mma.sync kernel does (w8a8_gemm.cu): per channel only,
//   y = float(acc - zx * rowsum[n]) * (sx * sw[n]) + bias[n], then ReLU, then the next layer's
//   quantization q = clamp(rint(y / s) + z, qmin, qmax),
// with explicitly rounded intrinsics (the library is built with -fmad=false as well).
// Operands: x [M, ldx] codes, read as [M, K] (columns past K come back as zeros from the copy
// engine, whatever the row holds there); w the prepared [N, kpad] int8 rows, read as [N, K].
#include <string>

#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/wgmma_mainloop.cuh"

namespace qf::cuda {
namespace {

struct W8WgArgs {
  int m, n, k;
  const float* sx;
  int sx_stride;
  const float* sw;
  const int32_t* rowsums;
  int32_t zx;
  const float* bias;
  bool relu;
  float* y;
  void* q;
  int64_t ldq;  // q: int8 or uint8 codes alike (q_min / q_max say which range)
  float q_scale;
  int32_t q_zp, q_min, q_max;
};

template <bool kXU8>
struct W8Op {
  using Acc = int32_t;
  using Args = W8WgArgs;
  static constexpr wgmma::Mma kMma = kXU8 ? wgmma::Mma::kU8S8 : wgmma::Mma::kS8;
  static constexpr bool kPromote = false;  // int32 holds all of K exactly

  // Two unrolled loops, one per output kind: with the codes' steps interleaved into the float y
  // loop (and skipped when not quantizing) the float epilogue ran 10 % slower at a locked clock
  // with as many instructions executed (ncu; our reading: its code spread over more of the
  // instruction cache, not measured).
  template <int BN>
  __device__ static void epilogue(const Args& a, const int32_t (&p)[BN / 2], int row_base, int col0, int t) {
    if (a.q)
      epilogue_loop<BN, true>(a, p, row_base, col0, t);
    else
      epilogue_loop<BN, false>(a, p, row_base, col0, t);
  }

  // Column-pair outer, the thread's two rows inner: the per-column parameters are loaded once
  // per pair through the read-only path (__ldg: they cannot alias y, so the loads of later
  // columns may move ahead of this column's stores -- with plain loads the compiler had to
  // reload after every store).
  template <int BN, bool kQuantize>
  __device__ static void epilogue_loop(const Args& a, const int32_t (&p)[BN / 2], int row_base, int col0, int t) {
    const int warp = t / 32, lane = t % 32;
    const int row0 = row_base + warp * 16 + lane / 4;
    float sx[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) sx[h] = row0 + 8 * h < a.m ? __ldg(a.sx + static_cast<int64_t>(row0 + 8 * h) * a.sx_stride) : 0.0f;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
      const int col = col0 + 8 * j + 2 * (lane % 4);
      if (col >= a.n) continue;
      const bool two = col + 1 < a.n;
      const float sw[2] = {__ldg(a.sw + col), two ? __ldg(a.sw + col + 1) : 0.0f};
      float bias[2] = {0.0f, 0.0f};
      if (a.bias) bias[0] = __ldg(a.bias + col), bias[1] = two ? __ldg(a.bias + col + 1) : 0.0f;
      int32_t zrs[2] = {0, 0};  // zx * rowsum: the zero point's share of the sum
      if constexpr (kXU8) zrs[0] = a.zx * __ldg(a.rowsums + col), zrs[1] = two ? a.zx * __ldg(a.rowsums + col + 1) : 0;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = row0 + 8 * h;
        if (row >= a.m) continue;
        float v[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int32_t acc = p[4 * j + 2 * h + e] - zrs[e];
          float r = __fmul_rn(__int2float_rn(acc), __fmul_rn(sx[h], sw[e]));
          if (a.bias) r = __fadd_rn(r, bias[e]);
          if (a.relu) r = r > 0.0f ? r : 0.0f;
          v[e] = r;
        }
        const int64_t o = static_cast<int64_t>(row) * a.n + col;
        if (a.y) {
          // Both columns in one 8-byte store where both exist and the address allows.
          if (two && (o & 1) == 0)
            *reinterpret_cast<float2*>(a.y + o) = make_float2(v[0], v[1]);
          else {
            a.y[o] = v[0];
            if (two) a.y[o + 1] = v[1];
          }
        }
        if constexpr (kQuantize) {
          uint32_t pair = 0;  // the codes of col and col + 1 (int8 and uint8 alike: the low byte)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            float q = __fadd_rn(rintf(__fdiv_rn(v[e], a.q_scale)), static_cast<float>(a.q_zp));
            q = fminf(fmaxf(q, static_cast<float>(a.q_min)), static_cast<float>(a.q_max));
            pair |= (static_cast<uint32_t>(static_cast<int>(q)) & 0xFFu) << (8 * e);
          }
          uint8_t* const dst = static_cast<uint8_t*>(a.q) + static_cast<int64_t>(row) * a.ldq + col;
          if (two && (reinterpret_cast<uintptr_t>(dst) & 1) == 0) {
            *reinterpret_cast<uint16_t*>(dst) = static_cast<uint16_t>(pair);  // both codes in one store
          } else {
            dst[0] = static_cast<uint8_t>(pair);
            if (two) dst[1] = static_cast<uint8_t>(pair >> 8);
          }
        }
      }
    }
  }
};

}  // namespace

bool w8a8_wgmma_available(std::string* why) {
  const wgmma::DeviceInfo& d = wgmma::device_info();
  if (why) *why = d.why;
  return d.ok;
}

bool w8a8_wgmma_tiles_built(const W8Config& cfg) { return wgmma::tiles_built(cfg, false); }

bool w8a8_gemm_wgmma(const W8Device& w, int64_t m, const W8Acts& x, const W8Epilogue& e, void* stream,
                     const W8Config& cfg) {
  if (!wgmma::device_info().ok || w.group_size > 0) return false;
  if (!wgmma::aligned16(x.codes) || !wgmma::aligned16(w.codes) || x.ldx % 16 != 0 || w.kpad % 16 != 0) return false;
  if (m <= 0 || w.n <= 0) return true;
  const wgmma::Tiles t = wgmma::resolve_tiles(cfg, m, w.n, 256);
  const wgmma::Operand xo{x.codes, m, w.k, x.ldx}, wo{w.codes, w.n, w.k, w.kpad};
  const W8WgArgs a{static_cast<int>(m), static_cast<int>(w.n), static_cast<int>(w.k), x.scales, x.per_row ? 1 : 0,
                   static_cast<const float*>(w.scales), static_cast<const int32_t*>(w.rowsums),
                   x.is_unsigned ? x.zero_point : 0, e.bias, e.relu, e.y, e.q_out, e.ldq, e.q_scale,
                   e.q_zero_point, e.q_min, e.q_max};
  auto s = static_cast<cudaStream_t>(stream);
  if (x.is_unsigned)
    wgmma::launch_tiles<W8Op<true>>(xo, wo, a, s, t);
  else
    wgmma::launch_tiles<W8Op<false>>(xo, wo, a, s, t);
  return true;
}

}  // namespace qf::cuda
