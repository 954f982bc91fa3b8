// The block-sparse decode GEMV (block_sparse_gemv.h): one CTA per slice of 32 outputs, its warps
// splitting the slice's k32 steps, R steps in flight per warp, dp4a on the steps as the mma
// kernel stores them. Before the steps, in one round trip that depends on no other load: the
// slice's step range, the epilogue's operands, and the activation rows (staged whole in shared
// memory, since which k the slice keeps is not known yet).
//
// A lane (g = lane / 4, t = lane % 4) of a step holds, for n8 tile nt = 0..3, output row
// 8 nt + g at k = kq + 8 t .. + 7 (int8: 8 bytes; int4: one word of nibbles, expanded to
// 16 x code per byte as in the mma kernel). It needs the activations of those 8 k, one uint2 per
// row of M, and keeps acc[row of M][nt]. At the end the 4 t-lanes of each output are summed by
// shuffles, each warp writes its 32 x M partial sums to shared memory, and the epilogue sums the
// warps' partials (int32: exact in any order, so the result does not depend on the split) and
// applies the reference's float operations in its order (the library is built with -fmad=false
// and the intrinsics round explicitly).
//
// Exactness: int8: sum x * code in int32, minus zx * rowsum (qu8), as the reference's
// sum (x - zx) * code (equal in int32). int4: the bytes are 16 x code, so the int32 sum is
// 16 x the codes' sum, exact while 16 * 255 * 8 * K < 2^31 (the layout's 65536-k bound),
// shifted right by 4 once.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>

#include "runtime/kernels/cuda/block_sparse_gemv.h"
#include "runtime/kernels/cuda/launch_util.cuh"

namespace qf::cuda {
namespace {

constexpr int kMaxWarps = 16;
constexpr int kDefaultWarps = 16;
constexpr int64_t kStageMax = 32 << 10;  // activation bytes staged: with red (16 KB at M = 8), the 48 KB a CTA gets without opt-in
constexpr int kR = 4;                    // steps in flight per warp (H100: 8 was slower, docs/RESULTS.md)
constexpr unsigned kFull = 0xffffffffu;

std::atomic<int> g_warps{0};

struct Params {
  const uint8_t* x;
  int32_t zx;
  const float* sx;
  int64_t sx_stride;
  const int32_t* slice_ptr;
  const int32_t* step_k;
  const uint4* data;
  const float* sw;
  const int32_t* rowsums;
  const float* bias;
  float* y;
  int m, n, k, kpad;  // kpad: the staged row stride (k rounded up to 32)
  bool x_aligned;     // x % 16 == 0 and k % 16 == 0: 16-byte staging loads
};
// a . b over 4 bytes plus c: a the activations (uint8 for qu8, int8 for qs8), b signed weights.
template <bool XU8>
__device__ __forceinline__ int32_t dot4(uint32_t a, uint32_t b, int32_t c) {
  if constexpr (XU8) {
    int32_t d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
  } else {
    return __dp4a(static_cast<int>(a), static_cast<int>(b), c);
  }
}

template <bool XU8, bool INT4, int MR>
__global__ void __launch_bounds__(kMaxWarps * 32, 1) bs_gemv_kernel(Params p) {
  detail::pdl_entry();
  constexpr int R = kR;
  extern __shared__ uint4 xs_vec[];   // [m][kpad] activation codes, zero past K
  __shared__ int32_t red[kMaxWarps][MR][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int warps = blockDim.x >> 5;
  const int slice = blockIdx.x, n0 = slice * 32;

  // Round trip 1: nothing here depends on another load.
  const int q0 = __ldg(p.slice_ptr + slice), q1 = __ldg(p.slice_ptr + slice + 1);
  const int em = threadIdx.x >> 5, en = n0 + (threadIdx.x & 31);  // this thread's output in the epilogue
  const bool eok = em < p.m && en < p.n;
  float e_sw = 0.0f, e_sx = 0.0f, e_bias = 0.0f;
  int32_t e_rs = 0;
  if (eok) {
    e_sw = __ldg(p.sw + en);
    e_sx = __ldg(p.sx + em * p.sx_stride);
    if (p.bias) e_bias = __ldg(p.bias + en);
    if constexpr (XU8) e_rs = __ldg(p.rowsums + en);
  }
  // The activations of every row of M, whole rows (the kept steps are not known yet), into
  // shared memory: a step then reads its 8 k per row without another trip.
  uint8_t* xs = reinterpret_cast<uint8_t*>(xs_vec);
  if (p.x_aligned) {
    const int per_row = p.kpad / 16, total = p.m * per_row;
    for (int i0 = threadIdx.x; i0 < total; i0 += 4 * blockDim.x) {
      uint4 v[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int i = i0 + r * blockDim.x, row = i / per_row, c = i - row * per_row;
        v[r] = make_uint4(0u, 0u, 0u, 0u);
        if (i < total && c * 16 < p.k) v[r] = __ldg(reinterpret_cast<const uint4*>(p.x + static_cast<int64_t>(row) * p.k) + c);
      }
#pragma unroll
      for (int r = 0; r < 4; ++r)
        if (i0 + r * blockDim.x < total) xs_vec[i0 + r * blockDim.x] = v[r];
    }
  } else {
    const int total = p.m * p.kpad;
    for (int i = threadIdx.x; i < total; i += blockDim.x) {
      const int row = i / p.kpad, c = i - row * p.kpad;
      xs[i] = c < p.k ? __ldg(p.x + static_cast<int64_t>(row) * p.k + c) : uint8_t{0};
    }
  }

  // Round trip 2: this warp's steps q0 + warp + j * warps, R at a time (step list and weights
  // depend only on q0), issued before the barrier that publishes the staged activations.
  constexpr int kVec = INT4 ? 1 : 2;  // uint4 per lane per step
  uint4 wb[R][kVec];
  int kb[R];
  auto load_batch = [&](int base) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int q = base + r * warps;
      kb[r] = 0;
      if (q < q1) {  // warp-uniform
        kb[r] = __ldg(p.step_k + q);
#pragma unroll
        for (int v = 0; v < kVec; ++v) wb[r][v] = __ldg(p.data + static_cast<int64_t>(q) * (32 * kVec) + v * 32 + lane);
      }
    }
  };
  int base = q0 + warp;
  load_batch(base);
  __syncthreads();  // the staged activations

  int32_t acc[MR][4] = {};
  while (base < q1) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (base + r * warps >= q1) break;  // warp-uniform
      uint2 xv[MR];
#pragma unroll
      for (int i = 0; i < MR; ++i)
        xv[i] = i < p.m ? *reinterpret_cast<const uint2*>(xs + i * p.kpad + kb[r] + 8 * t) : make_uint2(0u, 0u);
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        uint32_t b0, b1;  // k 8t .. 8t+3 and 8t+4 .. 8t+7 of row 8 nt + g
        if constexpr (INT4) {
          const uint4 w = wb[r][0];
          const uint32_t wn = nt == 0 ? w.x : nt == 1 ? w.y : nt == 2 ? w.z : w.w;
          b0 = (wn << 4) & 0xF0F0F0F0u;  // 16 x codes 0..3 (low nibbles)
          b1 = wn & 0xF0F0F0F0u;         // 16 x codes 4..7 (high nibbles)
        } else {
          const uint4 h = wb[r][nt / 2];
          b0 = (nt % 2) ? h.z : h.x;
          b1 = (nt % 2) ? h.w : h.y;
        }
#pragma unroll
        for (int i = 0; i < MR; ++i) acc[i][nt] = dot4<XU8>(xv[i].x, b0, dot4<XU8>(xv[i].y, b1, acc[i][nt]));
      }
    }
    base += R * warps;
    if (base < q1) load_batch(base);
  }

  // The 4 t-lanes of an output, then lane (g, t) keeps tile nt = t: output 8 t + g.
#pragma unroll
  for (int i = 0; i < MR; ++i) {
    int32_t mine = 0;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      int32_t v = acc[i][nt];
      v += __shfl_xor_sync(kFull, v, 1);
      v += __shfl_xor_sync(kFull, v, 2);
      if (nt == t) mine = v;
    }
    red[warp][i][8 * t + g] = mine;
  }
  __syncthreads();

  // Epilogue: the reference's float operations in its order.
  if (eok) {
    int32_t a = 0;
    for (int w = 0; w < warps; ++w) a += red[w][em][threadIdx.x & 31];
    if (INT4) a >>= 4;  // the sum of 16 x codes is exact: back to the codes' sum
    if (XU8) a -= p.zx * e_rs;
    float v = __fmul_rn(__int2float_rn(a), __fmul_rn(e_sx, e_sw));
    if (p.bias) v = __fadd_rn(v, e_bias);
    p.y[static_cast<int64_t>(em) * p.n + en] = v;
  }
}

template <bool XU8, bool INT4, int MR>
void launch_mr(const Params& p, unsigned slices, int warps) {
  const size_t smem = static_cast<size_t>(p.m) * p.kpad;
  detail::launch_kernel(bs_gemv_kernel<XU8, INT4, MR>, dim3(slices), dim3(warps * 32), smem, nullptr, p);
  detail::check_launch("bs_gemv_kernel");
}

template <bool XU8, bool INT4>
void launch(const Params& p, unsigned slices, int warps) {
  if (p.m <= 1) launch_mr<XU8, INT4, 1>(p, slices, warps);
  else if (p.m <= 2) launch_mr<XU8, INT4, 2>(p, slices, warps);
  else if (p.m <= 4) launch_mr<XU8, INT4, 4>(p, slices, warps);
  else launch_mr<XU8, INT4, 8>(p, slices, warps);
}

}  // namespace

void set_bs_gemv_config(BSGemvConfig c) {
  g_warps.store(c.warps);
}

bool bs_gemv_applies(int64_t m, int64_t k) {
  return m >= 1 && m <= kBSGemvMaxM && k >= 1 && k <= (int64_t{1} << 30) && m * ((k + 31) / 32 * 32) <= kStageMax;
}

bool bs_gemv(const BSGemvArgs& a) {
  if (!bs_gemv_applies(a.m, a.k) || a.n < 1 || a.slices < 1) return false;
  Params p{static_cast<const uint8_t*>(a.x), a.zx, a.sx, a.sx_stride, a.slice_ptr, a.step_k,
           static_cast<const uint4*>(a.step_data), a.sw, a.rowsums, a.bias, a.y,
           static_cast<int>(a.m), static_cast<int>(a.n), static_cast<int>(a.k),
           static_cast<int>((a.k + 31) / 32 * 32), false};
  p.x_aligned = reinterpret_cast<uintptr_t>(a.x) % 16 == 0 && a.k % 16 == 0;
  const int want_warps = g_warps.load();
  // At least one warp per row of M: warp i writes row i in the epilogue.
  const int warps = std::max<int>(static_cast<int>(a.m), want_warps > 0 ? std::min(want_warps, kMaxWarps) : kDefaultWarps);
  const unsigned slices = static_cast<unsigned>(a.slices);
  if (a.x_unsigned) {
    if (a.int4) launch<true, true>(p, slices, warps);
    else launch<true, false>(p, slices, warps);
  } else {
    if (a.int4) launch<false, true>(p, slices, warps);
    else launch<false, false>(p, slices, warps);
  }
  return true;
}

}  // namespace qf::cuda
