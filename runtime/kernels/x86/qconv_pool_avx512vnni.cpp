// AVX-512 VNNI range kernel of the fused conv + pool entry (x86_conv_kernels.h). A tile is PIX
// pool windows (4 conv rows each) x NP panels of 16 outputs: the GEMM's k-loop of
// qgemm_avx512vnni.cpp (vpdpbusd on u8 activations, rowsum compensation), then per window the
// reference's ops lane by lane, in its order, without FMA (-ffp-contract=off): float(acc) *
// (sx * sw) + bias, relu, maxpool's fold from -inf (v > m || isnan(v) ? v : m) over (i, j),
// relu, and quantize (vdivps, round to nearest even, + z, clamp, low byte). Only the pooled
// outputs are stored: no [pixels, O] float buffer, no separate pooling / quantize pass. Where
// that epilogue is monotone the window is pooled on the int32 sums first ("Pooling in int32").
#include <immintrin.h>

#include <cstring>
#include <limits>
#include <vector>

#include "runtime/kernels/x86/x86_conv_kernels.h"

namespace qf::kernels::x86 {
namespace {

constexpr int NR = 16;

inline int32_t load_u32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// See qgemm_avx512vnni.cpp: inline asm keeps GCC 12 from spilling the accumulators.
inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

// Pooling in int32. With s = sx * sw a normal, finite, nonzero float and a finite bias,
// f(acc) = float(acc - comp) * s + b (and relu after it) is monotone in acc -- increasing for
// s > 0, decreasing for s < 0 -- since every rounding step is monotone; it never gives NaN, and
// every zero it gives has the same sign (|float(acc) * s| >= FLT_MIN unless acc = comp, which
// gives 0 * s; a nonzero x + b rounds to +0 only when it cancels exactly, and then b != 0 so
// 0 * s + b = b is not zero). So equal values have equal bits, and the reference's fold
// (v > m || isnan(v) ? v : m over the window) equals f(max acc) (s < 0: f(min acc)) bit for bit:
// one epilogue per window instead of four. Other lanes (s zero, subnormal, inf or NaN; b inf or
// NaN) take the reference's four-value fold.
inline __m512 relu(__m512 v) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v); }

// One panel's epilogue constants, computed once per call (not per tile: a first conv's tile has
// few k-blocks, so per-tile set-up was a visible share of it).
struct PanelEpilogue {
  __m512i comp;            // zc * rowsum(w)
  __m512 scale, bias;      // sx * sw; bias (0 in masked lanes)
  __mmask16 mask;          // valid outputs
  __mmask16 decreasing;    // int32 pooling: lanes with sx * sw < 0 take the min
  bool int_pool;           // every valid lane monotone ("Pooling in int32" above)
};

// rowsum / scales: [panels * 16] (the dense and the 2:4 packings lay them out alike).
PanelEpilogue panel_epilogue(const QConvPoolArgs& a, int64_t n, const int32_t* rowsum, const float* scales,
                             const float* bias, int64_t p, bool int32_pooling) {
  PanelEpilogue e;
  const int64_t n0 = p * NR, valid = n - n0;
  e.mask = valid >= NR ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1);
  const __m512i zc = _mm512_set1_epi32(a.x_unsigned ? a.zero_point : 128);
  e.comp = _mm512_mullo_epi32(_mm512_loadu_si512(rowsum + n0), zc);
  e.scale = _mm512_mul_ps(_mm512_set1_ps(a.sx), _mm512_loadu_ps(scales + n0));  // sx * sw
  e.bias = bias ? _mm512_maskz_loadu_ps(e.mask, bias + n0) : _mm512_setzero_ps();
  const __m512 abs_scale = _mm512_abs_ps(e.scale);
  __mmask16 monotone = _mm512_cmp_ps_mask(abs_scale, _mm512_set1_ps(std::numeric_limits<float>::min()), _CMP_GE_OQ) &
                       _mm512_cmp_ps_mask(abs_scale, _mm512_set1_ps(std::numeric_limits<float>::max()), _CMP_LE_OQ);
  if (bias) monotone &= _mm512_cmp_ps_mask(_mm512_abs_ps(e.bias), _mm512_set1_ps(std::numeric_limits<float>::max()), _CMP_LE_OQ);
  e.int_pool = int32_pooling && (monotone & e.mask) == e.mask;
  e.decreasing = _mm512_cmp_ps_mask(e.scale, _mm512_setzero_ps(), _CMP_LT_OQ) & e.mask;
  return e;
}

template <int NP, int PIX>
inline void window_epilogue(const QConvPoolArgs& a, int64_t n, const float* bias, int64_t img, int64_t py, int64_t px,
                            int64_t p0, const PanelEpilogue* pe, __m512i (&acc)[4 * PIX][NP]);

template <int NP, int PIX>
void tile(const QConvPoolArgs& a, const PackedQWeights& W, const float* bias, int64_t img, int64_t py, int64_t px,
          int64_t p0, const PanelEpilogue* pe) {
  constexpr int MR = 4 * PIX;
  const uint8_t* xr[MR];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const int64_t oy = 2 * py + (r % 4) / 2, ox = 2 * (px + r / 4) + r % 2;
    xr[r] = a.x + img * a.x_image + oy * a.x_row + ox * a.x_pixel;
  }
  const uint8_t* wp[NP];
  #pragma GCC unroll 4
  for (int p = 0; p < NP; ++p) wp[p] = W.panel_ptr(p0 + p);
  __m512i acc[MR][NP];
  #pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_setzero_si512();
  // s8 codes become u8 by x ^ 0x80 (x + 128), compensated with zc = 128 like the GEMM.
  const int32_t flip = a.x_unsigned ? 0 : static_cast<int32_t>(0x80808080u);
  const int64_t bps = W.k / a.segs / 4;  // k-blocks per run
  for (int64_t s = 0; s < a.segs; ++s) {
    const __m512i* wq[NP];
    #pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) wq[p] = reinterpret_cast<const __m512i*>(wp[p]) + s * bps;
    const uint8_t* xs[MR];
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) xs[r] = xr[r] + s * a.x_seg;
    for (int64_t b = 0; b < bps; ++b) {
      __m512i wv[NP];
      #pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) wv[p] = _mm512_loadu_si512(wq[p] + b);
      #pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512i xv = _mm512_set1_epi32(load_u32(xs[r] + b * 4) ^ flip);
        #pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], xv, wv[p]);
      }
    }
  }
  window_epilogue<NP, PIX>(a, W.n, bias, img, py, px, p0, pe, acc);
}

// The window's epilogue on acc[4 * PIX][NP] (rows: PIX windows of 4 conv rows in maxpool's order).
template <int NP, int PIX>
inline void window_epilogue(const QConvPoolArgs& a, int64_t n, const float* bias, int64_t img, int64_t py, int64_t px,
                            int64_t p0, const PanelEpilogue* pe, __m512i (&acc)[4 * PIX][NP]) {
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 qs = _mm512_set1_ps(a.out_scale), qz = _mm512_set1_ps(static_cast<float>(a.out_zero_point));
  const __m512 qlo = _mm512_set1_ps(static_cast<float>(a.out_qmin)), qhi = _mm512_set1_ps(static_cast<float>(a.out_qmax));
  #pragma GCC unroll 4
  for (int p = 0; p < NP; ++p) {
    const int64_t n0 = (p0 + p) * NR;
    const __m512i comp = pe[p].comp;
    const __m512 scale = pe[p].scale, bv = pe[p].bias;
    const __mmask16 decreasing = pe[p].decreasing, mask = pe[p].mask;
    const bool int_pool = pe[p].int_pool;  // "Pooling in int32": one epilogue per window
    #pragma GCC unroll 2
    for (int q = 0; q < PIX; ++q) {
      __m512 m = neg_inf;
      if (int_pool) {
        __m512i hi = _mm512_max_epi32(_mm512_max_epi32(acc[4 * q][p], acc[4 * q + 1][p]),
                                      _mm512_max_epi32(acc[4 * q + 2][p], acc[4 * q + 3][p]));
        if (decreasing) {
          const __m512i lo = _mm512_min_epi32(_mm512_min_epi32(acc[4 * q][p], acc[4 * q + 1][p]),
                                              _mm512_min_epi32(acc[4 * q + 2][p], acc[4 * q + 3][p]));
          hi = _mm512_mask_mov_epi32(hi, decreasing, lo);
        }
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(hi, comp)), scale);
        if (bias) v = _mm512_add_ps(v, bv);
        if (a.relu_before) v = relu(v);
        m = v;  // the fold of one value that is never NaN: v > -inf ? v : -inf is v
      } else {
        #pragma GCC unroll 4
        for (int t = 0; t < 4; ++t) {
          __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[4 * q + t][p], comp)), scale);
          if (bias) v = _mm512_add_ps(v, bv);  // no "+ 0" without bias: -0.0 stays -0.0 as in ref
          if (a.relu_before) v = relu(v);
          const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
          m = _mm512_mask_mov_ps(m, take, v);
        }
      }
      if (a.relu_after) m = relu(m);
      const int64_t off = img * a.y_image + py * a.y_row + (px + q) * n + n0;
      if (!a.out_codes) {
        _mm512_mask_storeu_ps(static_cast<float*>(a.y) + off, mask, m);
      } else {  // core/quant.h's quantize, as data_avx512.cpp's quantize16
        __m512 c = _mm512_roundscale_ps(_mm512_div_ps(m, qs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        c = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(c, qz), qlo), qhi);
        _mm_mask_storeu_epi8(static_cast<uint8_t*>(a.y) + off, mask, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(c)));
      }
    }
  }
}

using TileFn = void (*)(const QConvPoolArgs&, const PackedQWeights&, const float*, int64_t, int64_t, int64_t, int64_t,
                        const PanelEpilogue*);

// Few panels (a first conv's 32 outputs): two windows per tile keep 16 accumulators busy.
template <int PIX>
TileFn pick(int np) {
  switch (np) {
    case 1: return tile<1, PIX>;
    case 2: return tile<2, PIX>;
    case 3: return tile<3, 1>;
    default: return tile<4, 1>;
  }
}

// The 2:4 tile (x86_conv_kernels.h): one pool window (4 conv rows) x NP panels. Per 64-k block of
// the (c, i, j) K: 4 image rows x 128 bytes read once (8 loads), one vpermt2b per conv row and
// window row fills each row's table, then every step of 8 k issues per row and panel one vpermb
// (the 4 activations each lane's kept codes select) and one vpdpbusd -- against the dense
// kernel's two vpdpbusd per 8 k. Zen 4 overlaps vpermb and vpdpbusd only partly, so a pair costs
// ~1.35 vpdpbusd (docs/RESULTS.md).
template <int NP>
void tile_sp24(const QConvPoolArgs& a, const PackedConvSparse24& W, const CijPlan& plan, const float* bias,
                      int64_t img, int64_t py, int64_t px, int64_t p0, const PanelEpilogue* pe) {
  constexpr int MR = 4;
  const uint8_t* y0 = a.x + img * a.x_image + 2 * py * a.x_row + 2 * px * a.x_pixel;
  const uint8_t* wp[NP];
  #pragma GCC unroll 4
  for (int p = 0; p < NP; ++p) wp[p] = W.data + (p0 + p) * W.steps * 128;
  __m512i acc[MR][NP];
  #pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_setzero_si512();
  const __m512i flip = a.x_unsigned ? _mm512_setzero_si512() : _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < plan.blocks; ++b) {
    __m512i lo[4], hi[4];
    const uint8_t* tb = y0 + plan.base[static_cast<size_t>(b)];
    const __mmask64 mlo = plan.lo[static_cast<size_t>(b)], mhi = plan.hi[static_cast<size_t>(b)];
    #pragma GCC unroll 4
    for (int yy = 0; yy < 4; ++yy) {
      lo[yy] = _mm512_maskz_loadu_epi8(mlo, tb + yy * a.x_row);
      hi[yy] = _mm512_maskz_loadu_epi8(mhi, tb + yy * a.x_row + 64);
    }
    __m512i xv[MR];
    #pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const int dy = r / 2, dx = r % 2;
      const size_t e = (static_cast<size_t>(b) * 2 + dx) * 3;
      const uint8_t* ix = plan.idx.data() + e * 64;
      const __m512i t0 = _mm512_maskz_permutex2var_epi8(plan.sel[e], lo[dy], _mm512_loadu_si512(ix), hi[dy]);
      const __m512i t1 =
          _mm512_maskz_permutex2var_epi8(plan.sel[e + 1], lo[dy + 1], _mm512_loadu_si512(ix + 64), hi[dy + 1]);
      const __m512i t2 =
          _mm512_maskz_permutex2var_epi8(plan.sel[e + 2], lo[dy + 2], _mm512_loadu_si512(ix + 128), hi[dy + 2]);
      xv[r] = _mm512_ternarylogic_epi64(t0, t1, t2, 0xFE);  // t0 | t1 | t2 (disjoint bytes)
      if (!a.x_unsigned) xv[r] = _mm512_xor_si512(xv[r], flip);
    }
    const int64_t t1 = 8 * b + 8 < W.steps ? 8 * b + 8 : W.steps;
    for (int64_t t = 8 * b; t < t1; ++t) {
      #pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) {
        const uint8_t* blk = wp[p] + t * 128;
        const __m512i v = _mm512_load_si512(blk), c = _mm512_load_si512(blk + 64);
        #pragma GCC unroll 4
        for (int r = 0; r < MR; ++r) acc[r][p] = dpbusd(acc[r][p], _mm512_permutexvar_epi8(c, xv[r]), v);
      }
    }
  }
  window_epilogue<NP, 1>(a, W.n, bias, img, py, px, p0, pe, acc);
}

}  // namespace

void x8_conv2d_pool_sp24_rows__avx512vnni(const QConvPoolArgs& a, const PackedConvSparse24& w, const CijPlan& plan,
                                          const float* bias, int64_t r0, int64_t r1, bool int32_pooling) {
  constexpr int64_t NPMAX = 4;
  std::vector<PanelEpilogue> pe(static_cast<size_t>(w.panels));
  for (int64_t p = 0; p < w.panels; ++p)
    pe[static_cast<size_t>(p)] = panel_epilogue(a, w.n, w.rowsum, w.scales, bias, p, int32_pooling);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t img = r / a.pooled_h, py = r % a.pooled_h;
    for (int64_t p0 = 0; p0 < w.panels; p0 += NPMAX) {
      const int np = static_cast<int>(w.panels - p0 < NPMAX ? w.panels - p0 : NPMAX);
      const auto run_tile = np == 1 ? tile_sp24<1> : np == 2 ? tile_sp24<2> : np == 3 ? tile_sp24<3> : tile_sp24<4>;
      for (int64_t px = 0; px < a.pooled_w; ++px) run_tile(a, w, plan, bias, img, py, px, p0, pe.data() + p0);
    }
  }
}

void x8_conv2d_pool_rows__avx512vnni(const QConvPoolArgs& a, const PackedQWeights& w, const float* bias, int64_t r0,
                                     int64_t r1, bool int32_pooling) {
  constexpr int64_t NPMAX = 4;
  std::vector<PanelEpilogue> pe(static_cast<size_t>(w.panels));
  for (int64_t p = 0; p < w.panels; ++p)
    pe[static_cast<size_t>(p)] = panel_epilogue(a, w.n, w.rowsum, w.scales, bias, p, int32_pooling);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t img = r / a.pooled_h, py = r % a.pooled_h;
    for (int64_t p0 = 0; p0 < w.panels; p0 += NPMAX) {
      const int np = static_cast<int>(w.panels - p0 < NPMAX ? w.panels - p0 : NPMAX);
      const TileFn two = pick<2>(np), one = pick<1>(np);
      const int64_t step = np <= 2 ? 2 : 1;
      int64_t px = 0;
      for (; px + step <= a.pooled_w; px += step) two(a, w, bias, img, py, px, p0, pe.data() + p0);
      for (; px < a.pooled_w; ++px) one(a, w, bias, img, py, px, p0, pe.data() + p0);
    }
  }
}

}  // namespace qf::kernels::x86
