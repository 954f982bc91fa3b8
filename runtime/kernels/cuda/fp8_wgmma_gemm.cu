// The Hopper FP8 GEMM (fp8_gemm.h): wgmma.mma_async on E4M3 x E4M3 with float32 accumulators,
// operand tiles in shared memory written by the bulk tensor copy engine (TMA, 128-byte swizzle)
// and read by the tensor cores through wgmma shared-memory descriptors. Compiled for sm_90a
// only (its own library, see CMakeLists.txt); the host side checks the device before launching.
//
// The pipeline (producer warpgroup, TMA stages on mbarriers, consumer warpgroups, persistent
// or one CTA per tile, multicast) is wgmma_mainloop.cuh's, shared with the W8A8 int8 GEMM; this
// file holds the FP8 operand type and the epilogue:
//  * kPromoted: every 128 values of K the tensor-core partial sum is added into float32 registers
//    (the fp8 accumulator inside the tensor core keeps fewer bits than float32). Tiles up to
//    128 x 192 (two accumulators per thread).
//  * kFast: all of K in the tensor core; tiles up to 128 x 256.
//  * epilogue: y = P * (sx[m] * sw[n]) + bias[n] with explicit _rn operations (no FMA), the
//    contract's order.
#include "runtime/kernels/cuda/fp8_gemm.h"
#include "runtime/kernels/cuda/wgmma_mainloop.cuh"

namespace qf::cuda {
namespace {

struct Fp8Args {
  int m, n, k;
  const float* sx;
  int sx_stride;
  const float* sw;
  const float* bias;
  float* y;
};

// Column-pair outer, the thread's two rows inner, per-column parameters loaded once through the
// read-only path (as the W8A8 epilogue, w8a8_wgmma_gemm.cu).
template <int BN>
__device__ __forceinline__ void fp8_epilogue(const Fp8Args& a, const float (&p)[BN / 2], int row_base, int col0, int t) {
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
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = row0 + 8 * h;
      if (row >= a.m) continue;
      float v[2];
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        v[e] = __fmul_rn(p[4 * j + 2 * h + e], __fmul_rn(sx[h], sw[e]));
        if (a.bias) v[e] = __fadd_rn(v[e], bias[e]);
      }
      const int64_t o = static_cast<int64_t>(row) * a.n + col;
      if (two && (o & 1) == 0)
        *reinterpret_cast<float2*>(a.y + o) = make_float2(v[0], v[1]);
      else {
        a.y[o] = v[0];
        if (two) a.y[o + 1] = v[1];
      }
    }
  }
}

template <bool kPromoted>
struct Fp8Op {
  using Acc = float;
  using Args = Fp8Args;
  static constexpr wgmma::Mma kMma = wgmma::Mma::kE4M3;
  static constexpr bool kPromote = kPromoted;
  template <int BN>
  __device__ static void epilogue(const Args& a, const float (&p)[BN / 2], int row0, int col0, int t) {
    fp8_epilogue<BN>(a, p, row0, col0, t);
  }
};

}  // namespace

bool fp8_wgmma_available(const char** why) {
  const wgmma::DeviceInfo& d = wgmma::device_info();
  if (why) *why = d.why;
  return d.ok;
}

bool fp8_wgmma_tiles_built(const Fp8Tiles& tiles, Fp8Accum accum) {
  return wgmma::tiles_built(tiles, accum == Fp8Accum::kPromoted);
}

bool fp8_gemm_wgmma(const Fp8Gemm& g, Fp8Accum accum, Fp8Tiles tiles) {
  if (!wgmma::device_info().ok) return false;
  if (g.k % 16 != 0 || !wgmma::aligned16(g.x) || !wgmma::aligned16(g.w)) return false;
  if (g.m <= 0 || g.n <= 0) return true;
  if (g.m > 0x7fffffff || g.n > 0x7fffffff || g.k > 0x7fffffff)
    throw Error("cuda fp8 GEMM: a dimension exceeds 2^31 - 1");
  const wgmma::Tiles t = wgmma::resolve_tiles(tiles, g.m, g.n, accum == Fp8Accum::kFast ? 256 : 192);
  const wgmma::Operand x{g.x, g.m, g.k, g.k}, w{g.w, g.n, g.k, g.k};
  const Fp8Args a{static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), g.sx, static_cast<int>(g.sx_stride),
                  g.sw, g.bias, g.y};
  if (accum == Fp8Accum::kPromoted)
    wgmma::launch_tiles<Fp8Op<true>>(x, w, a, nullptr, t);
  else
    wgmma::launch_tiles<Fp8Op<false>>(x, w, a, nullptr, t);
  return true;
}

}  // namespace qf::cuda
