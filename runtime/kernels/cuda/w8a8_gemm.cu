// W8A8: int8 (or uint8 with a zero point) activations x int8 weights -> int32 on the tensor
// cores (mma.sync m16n8k32), with the reference kernels' float epilogue fused in. On Hopper,
// w8a8_gemm hands per-channel weights at M >= kW8WgmmaMinM to the wgmma kernel
// (w8a8_wgmma_gemm.cu, the same contract); this kernel runs everything else.
//
// Tiles: 128 (M) x 128 (N) x 64 (K) per block of 8 warps (2 x 4, 64 x 32 each), a 4-stage
// cp.async pipeline through shared memory, fragments by ldmatrix. Rows of 64 bytes are stored
// with their four 16-byte chunks XOR-swizzled by (row / 2) % 4, so the 8 rows an ldmatrix phase
// reads fall into 8 different bank quads.
//
// Exactness: integer sums are exact in any order, so only the float epilogue needs care; it
// does the reference's operations in the reference's order with explicitly rounded intrinsics
// (no FMA contraction). The zero point of unsigned activations is applied as
// acc - zx * sum(w) with sums made at load time (exact in int32, like the reference's
// sum((qx - zx) * qw)).
#include <string>

#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/mma_ptx.cuh"

namespace qf::cuda {
namespace {

constexpr int BM = 128, BN = 128, BK = 64, STAGES = 4, THREADS = 256;
constexpr int TILE_BYTES = (BM + BN) * BK;  // one stage
// From this M on, w8a8_gemm runs the Hopper wgmma kernel where it can (measured: RESULTS.md).
constexpr int64_t kW8WgmmaMinM = 16;

__device__ __forceinline__ uint32_t swz(int row, int chunk) {
  return static_cast<uint32_t>(row * BK + ((chunk ^ ((row >> 1) & 3)) << 4));
}

struct W8Args {
  const int8_t* w;          // [N, kpad]
  const float* sw;          // [N, groups]
  const int32_t* rowsums;   // [N, groups]
  const void* x;            // [M, ldx]
  int64_t ldx;
  const float* sx;          // [1] or [M]
  int sx_stride;            // 0 or 1
  int32_t zx;
  const float* bias;
  bool relu;
  float* y;
  void* q;
  int64_t ldq;
  float q_scale;
  int32_t q_zp, q_min, q_max;
  int m, n, k, kpad, groups, gs_tiles;  // gs_tiles: k-tiles per group (0: per channel)
};

template <bool XU8, bool QU8, bool PER_GROUP>
__global__ void __launch_bounds__(THREADS) w8a8_kernel(W8Args p) {
  detail::pdl_entry();
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4;  // warp tile: rows wm*64.., cols wn*32..
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const uint8_t* x = static_cast<const uint8_t*>(p.x);
  const uint32_t sbase = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int ktiles = p.kpad / BK;
  const int xbytes16 = static_cast<int>((p.k + 15) / 16);  // 16-byte chunks of x rows with data

  // Each thread copies 2 chunks of A and 2 of B per stage: chunk id = tid + i*256 -> (row, c).
  auto load_stage = [&](int stage, int kt) {
    const uint32_t sa = sbase + stage * TILE_BYTES, sb = sa + BM * BK;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int id = tid + i * THREADS, row = id / 4, c = id % 4;
      const int kc = kt * 4 + c;  // 16-byte chunk index along K
      const int gm = m0 + row;
      const bool va = gm < p.m && kc < xbytes16;
      ptx::cp_async16(sa + swz(row, c), va ? x + static_cast<int64_t>(gm) * p.ldx + kc * 16 : x, va);
      const int gn = n0 + row;
      const bool vb = gn < p.n;
      ptx::cp_async16(sb + swz(row, c), vb ? p.w + static_cast<int64_t>(gn) * p.kpad + kc * 16 : p.w, vb);
    }
  };

  int acc[4][4][4] = {};
  float total[PER_GROUP ? 4 : 1][PER_GROUP ? 4 : 1][PER_GROUP ? 4 : 1] = {};
  const int g = lane / 4, tig = lane % 4;

  // The (n, k-group) scale factors a flush needs, per thread's columns.
  auto flush = [&](int grp) {
    if constexpr (PER_GROUP) {
#pragma unroll
      for (int nj = 0; nj < 4; ++nj)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int gn = n0 + wn * 32 + nj * 8 + 2 * tig + e;
          const bool ok = gn < p.n;
          const float s = ok ? __ldg(p.sw + static_cast<int64_t>(gn) * p.groups + grp) : 0.0f;
          const int32_t rs = ok ? __ldg(p.rowsums + static_cast<int64_t>(gn) * p.groups + grp) : 0;
#pragma unroll
          for (int mi = 0; mi < 4; ++mi)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              int& a = acc[mi][nj][h * 2 + e];
              const int32_t v = XU8 ? a - p.zx * rs : a;
              total[mi][nj][h * 2 + e] = __fadd_rn(total[mi][nj][h * 2 + e], __fmul_rn(__int2float_rn(v), s));
              a = 0;
            }
        }
    }
  };

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    ptx::cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    ptx::cp_async_wait<STAGES - 2>();
    __syncthreads();
    {  // refill the stage consumed STAGES-1 iterations ago
      const int nk = kt + STAGES - 1;
      if (nk < ktiles) load_stage(nk % STAGES, nk);
      ptx::cp_async_commit();
    }
    const uint32_t sa = sbase + (kt % STAGES) * TILE_BYTES, sb = sa + BM * BK;
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {  // two k32 steps per 64-byte tile
      uint32_t af[4][4], bf[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        const int row = wm * 64 + mi * 16 + (lane % 16);
        ptx::ldmatrix_x4(af[mi], sa + swz(row, ks * 2 + lane / 16));
      }
#pragma unroll
      for (int nj = 0; nj < 4; nj += 2) {
        const int row = wn * 32 + nj * 8 + (lane / 16) * 8 + (lane % 8);
        uint32_t r[4];
        ptx::ldmatrix_x4(r, sb + swz(row, ks * 2 + (lane / 8) % 2));
        bf[nj][0] = r[0];
        bf[nj][1] = r[1];
        bf[nj + 1][0] = r[2];
        bf[nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int nj = 0; nj < 4; ++nj) ptx::mma_16832_s8<XU8>(acc[mi][nj], af[mi], bf[nj][0], bf[nj][1]);
    }
    if constexpr (PER_GROUP) {
      if ((kt + 1) % p.gs_tiles == 0) flush((kt + 1) / p.gs_tiles - 1);
    }
  }
  ptx::cp_async_wait<0>();

  // Epilogue: the reference's float operations, in its order.
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int gm = m0 + wm * 64 + mi * 16 + g + h * 8;
      if (gm >= p.m) continue;
      const float sx = __ldg(p.sx + gm * p.sx_stride);
#pragma unroll
      for (int nj = 0; nj < 4; ++nj)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int gn = n0 + wn * 32 + nj * 8 + 2 * tig + e;
          if (gn >= p.n) continue;
          float v;
          if constexpr (PER_GROUP) {
            v = __fmul_rn(sx, total[mi][nj][h * 2 + e]);
          } else {
            int32_t a = acc[mi][nj][h * 2 + e];
            if (XU8) a -= p.zx * __ldg(p.rowsums + gn);
            v = __fmul_rn(__int2float_rn(a), __fmul_rn(sx, __ldg(p.sw + gn)));
          }
          if (p.bias) v = __fadd_rn(v, __ldg(p.bias + gn));
          if (p.relu) v = v > 0.0f ? v : 0.0f;
          if (p.y) p.y[static_cast<int64_t>(gm) * p.n + gn] = v;
          if (p.q) {
            float q = __fadd_rn(rintf(__fdiv_rn(v, p.q_scale)), static_cast<float>(p.q_zp));
            q = fminf(fmaxf(q, static_cast<float>(p.q_min)), static_cast<float>(p.q_max));
            if constexpr (QU8)
              static_cast<uint8_t*>(p.q)[static_cast<int64_t>(gm) * p.ldq + gn] = static_cast<uint8_t>(static_cast<int>(q));
            else
              static_cast<int8_t*>(p.q)[static_cast<int64_t>(gm) * p.ldq + gn] = static_cast<int8_t>(static_cast<int>(q));
          }
        }
    }
}

template <bool XU8, bool QU8, bool PG>
void launch(const W8Args& a, cudaStream_t s) {
  auto kern = w8a8_kernel<XU8, QU8, PG>;
  constexpr int smem = STAGES * TILE_BYTES;
  static bool configured = [&] {
    QF_CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return true;
  }();
  (void)configured;
  const dim3 grid((a.n + BN - 1) / BN, (a.m + BM - 1) / BM);
  detail::launch_kernel(kern, grid, dim3(THREADS), smem, s, a);
}

}  // namespace

void w8a8_gemm(const W8Device& w, int64_t m, const W8Acts& x, const W8Epilogue& e, void* stream, W8Config cfg) {
  if (m <= 0) return;
  if (x.ldx < w.k || x.ldx % 16 != 0 || reinterpret_cast<uintptr_t>(x.codes) % 16 != 0)
    throw Error("w8a8_gemm: activation codes need a 16-byte aligned base and a row stride (" +
                std::to_string(x.ldx) + ") >= K (" + std::to_string(w.k) + ") that is a multiple of 16");
  if (!x.scales) throw Error("w8a8_gemm: activation scales missing");
  if (!e.y && !e.q_out) throw Error("w8a8_gemm: neither a float output nor a quantized output requested");
  if (e.q_out && e.ldq < w.n) throw Error("w8a8_gemm: quantized output stride < N");
  if (m > (1 << 30) || w.n > (1 << 30) || w.kpad > (1 << 30)) throw Error("w8a8_gemm: dimension too large");
  if (cfg.kernel < 0 || cfg.kernel > 2) throw Error("w8a8_gemm: kernel " + std::to_string(cfg.kernel) + " is not 0, 1 or 2");
  // Hopper: the wgmma kernel (w8a8_wgmma_gemm.cu) from kW8WgmmaMinM rows on, where it was measured
  // faster than this file's mma.sync kernel (docs/RESULTS.md, "W8A8 on Hopper's int8 wgmma").
  if (cfg.kernel == 2 || (cfg.kernel == 0 && m >= kW8WgmmaMinM)) {
    if (w8a8_gemm_wgmma(w, m, x, e, stream, cfg)) return;
    if (cfg.kernel == 2) {
      std::string why;
      if (w8a8_wgmma_available(&why)) why = "per-group weights or a misaligned code base";
      throw Error("w8a8_gemm: the wgmma kernel cannot run these operands here (" + why + ")");
    }
  }
  W8Args a{static_cast<const int8_t*>(w.codes), static_cast<const float*>(w.scales),
           static_cast<const int32_t*>(w.rowsums), x.codes, x.ldx, x.scales, x.per_row ? 1 : 0,
           x.is_unsigned ? x.zero_point : 0, e.bias, e.relu, e.y, e.q_out, e.ldq, e.q_scale, e.q_zero_point,
           e.q_min, e.q_max, static_cast<int>(m), static_cast<int>(w.n), static_cast<int>(w.k),
           static_cast<int>(w.kpad), static_cast<int>(w.groups),
           w.group_size > 0 ? static_cast<int>(w.group_size / BK) : 0};
  auto s = static_cast<cudaStream_t>(stream);
  const bool pg = w.group_size > 0, qu8 = e.q_unsigned;
  if (x.is_unsigned) {
    if (pg) { if (qu8) launch<true, true, true>(a, s); else launch<true, false, true>(a, s); }
    else    { if (qu8) launch<true, true, false>(a, s); else launch<true, false, false>(a, s); }
  } else {
    if (pg) { if (qu8) launch<false, true, true>(a, s); else launch<false, false, true>(a, s); }
    else    { if (qu8) launch<false, true, false>(a, s); else launch<false, false, false>(a, s); }
  }
  QF_CUDA_CHECK(cudaGetLastError());
}

W8Device::W8Device(const W8Prepared& p) : n(p.n), k(p.k), kpad(p.kpad), groups(p.groups), group_size(p.group_size) {
  codes = device_alloc(static_cast<int64_t>(p.codes.size()));
  copy_to_device(codes, p.codes.data(), static_cast<int64_t>(p.codes.size()));
  scales = device_alloc(static_cast<int64_t>(p.scales.size() * 4));
  copy_to_device(scales, p.scales.data(), static_cast<int64_t>(p.scales.size() * 4));
  rowsums = device_alloc(static_cast<int64_t>(p.rowsums.size() * 4));
  copy_to_device(rowsums, p.rowsums.data(), static_cast<int64_t>(p.rowsums.size() * 4));
}
W8Device::~W8Device() {
  device_free(codes);
  device_free(scales);
  device_free(rowsums);
}

}  // namespace qf::cuda
