// Data kernels of the AVX-512 table (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -ffp-contract=off): range kernels called by data_x86.cpp. Bit-identical to kernels/ref/ (see
// the comments on each for why).
#include <immintrin.h>

#include "core/quant.h"  // kMinScale only (no inline function of core is instantiated here)
#include "runtime/kernels/x86/x86_data_kernels.h"

namespace qf::kernels::x86 {
namespace {

#include "runtime/kernels/x86/data_impl.inc"

// fold_max on 16 lanes. vmaxps(v, m) returns v only when v > m, else m (also when either is NaN
// or both are zeros), i.e. `v > m ? v : m`; then a NaN v replaces the result: the reference's
// `(v > m || isnan(v)) ? v : m` exactly, including NaN payloads and the sign of zeros.
inline __m512 fold_max16(__m512 m, __m512 v) {
  const __m512 r = _mm512_max_ps(v, m);
  return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}

inline __mmask16 first_n(int64_t n) {  // lanes [0, n), n in [0, 16]
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// 2x2 stride 2, no padding: 16 outputs of a row from 32 inputs of each of the two input rows,
// deinterleaved into even / odd columns by vpermt2ps. Window order (0,0) (0,1) (1,0) (1,1) as in
// the reference; m starts at the first element, which equals folding it into -inf (a -inf first
// element leaves -inf, the same bits).
void maxpool_2x2s2(const float* in, const Conv2dGeom& g, float* out) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const int64_t full_h = g.oh < g.h / 2 ? g.oh : g.h / 2, full_w = g.ow < g.w / 2 ? g.ow : g.w / 2;
  for (int64_t oy = 0; oy < full_h; ++oy) {
    const float* r0 = in + 2 * oy * g.w;
    const float* r1 = r0 + g.w;
    float* o = out + oy * g.ow;
    for (int64_t ox = 0; ox < full_w; ox += 16) {
      const int64_t n = full_w - ox < 16 ? full_w - ox : 16;
      const __mmask16 lo = first_n(2 * n), hi = first_n(2 * n - 16 > 0 ? 2 * n - 16 : 0);
      const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ox + 16);
      const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ox + 16);
      __m512 m = _mm512_permutex2var_ps(a0, even, a1);
      m = fold_max16(m, _mm512_permutex2var_ps(a0, odd, a1));
      m = fold_max16(m, _mm512_permutex2var_ps(b0, even, b1));
      m = fold_max16(m, _mm512_permutex2var_ps(b0, odd, b1));
      _mm512_mask_storeu_ps(o + ox, first_n(n), m);
    }
    for (int64_t ox = full_w; ox < g.ow; ++ox) o[ox] = pool_window(in, g, oy, ox);
  }
  for (int64_t oy = full_h; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) out[oy * g.ow + ox] = pool_window(in, g, oy, ox);
}

// Any geometry, stride 1 along x: 16 adjacent outputs read 16 adjacent inputs per window element
// (interior columns only; border columns and rows take the clipped scalar walk).
void maxpool_sx1(const float* in, const Conv2dGeom& g, float* out) {
  // Columns whose whole window is inside: x0 = ox - pw >= 0 and x0 + kw <= w.
  const int64_t cx0 = g.pw < g.ow ? g.pw : g.ow;
  int64_t cx1 = g.w - g.kw + g.pw + 1;
  if (cx1 > g.ow) cx1 = g.ow;
  if (cx1 < cx0) cx1 = cx0;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    float* o = out + oy * g.ow;
    const int64_t y0 = oy * g.sh - g.ph;
    const int64_t i0 = y0 < 0 ? -y0 : 0, i1 = y0 + g.kh > g.h ? g.h - y0 : g.kh;
    for (int64_t ox = 0; ox < cx0; ++ox) o[ox] = pool_window(in, g, oy, ox);
    for (int64_t ox = cx0; ox < cx1; ox += 16) {
      const __mmask16 k = first_n(cx1 - ox < 16 ? cx1 - ox : 16);
      __m512 m = _mm512_set1_ps(-__builtin_inff());
      for (int64_t i = i0; i < i1; ++i) {
        const float* r = in + (y0 + i) * g.w + ox - g.pw;
        for (int64_t j = 0; j < g.kw; ++j) m = fold_max16(m, _mm512_maskz_loadu_ps(k, r + j));
      }
      _mm512_mask_storeu_ps(o + ox, k, m);
    }
    for (int64_t ox = cx1; ox < g.ow; ++ox) o[ox] = pool_window(in, g, oy, ox);
  }
}

// q = clamp(round_half_even(x / s) + z, qmin, qmax) on 16 lanes, core/quant.h's quantize op for
// op: a true division (vdivps, never a reciprocal), round to nearest even (the default rounding
// of nearbyint), float add of z, then vmaxps(q, qmin): a NaN q gives qmin, as fmax(NaN, qmin)
// does; vminps with qmax. q is then an exact integer, so vcvtps2dq equals the static_cast.
inline __m512i quantize16(__m512 x, __m512 s, __m512 z, __m512 lo, __m512 hi) {
  __m512 q = _mm512_div_ps(x, s);
  q = _mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  q = _mm512_add_ps(q, z);
  q = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
  return _mm512_cvtps_epi32(q);
}

void quantize_x8(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                 uint8_t* codes) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(static_cast<float>(zero_point));
  const __m512 lo = _mm512_set1_ps(static_cast<float>(qmin)), hi = _mm512_set1_ps(static_cast<float>(qmax));
  int64_t i = 0;
  // vpmovdb keeps the low byte of each int32: the reference's static_cast to uint8 / int8.
  for (; i + 16 <= n; i += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i),
                     _mm512_cvtepi32_epi8(quantize16(_mm512_loadu_ps(x + i), s, z, lo, hi)));
  if (i < n) {
    const __mmask16 k = first_n(n - i);
    _mm_mask_storeu_epi8(codes + i, k, _mm512_cvtepi32_epi8(quantize16(_mm512_maskz_loadu_ps(k, x + i), s, z, lo, hi)));
  }
}

}  // namespace

void f32_maxpool2d_planes__avx512(const float* x, int64_t p0, int64_t p1, const Conv2dGeom& g, float* y) {
  const bool k2s2 = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
  for (int64_t p = p0; p < p1; ++p) {
    const float* in = x + p * g.h * g.w;
    float* out = y + p * g.oh * g.ow;
    if (k2s2) maxpool_2x2s2(in, g, out);
    else if (g.sw == 1) maxpool_sx1(in, g, out);
    else
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) out[oy * g.ow + ox] = pool_window(in, g, oy, ox);
  }
}

void f32_quantize_x8__avx512(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                             uint8_t* codes) {
  quantize_x8(x, n, scale, zero_point, qmin, qmax, codes);
}

void f32_quantize_rows_s8__avx512(const float* x, int64_t r0, int64_t r1, int64_t cols, int8_t* codes, float* scales) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    // absmax as fmax(amax, |x|) does it: vmaxps(|x|, acc) returns acc for a NaN |x| (NaN is
    // skipped, like fmax), and the max of non-NaN values does not depend on the order.
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= cols; k += 16) acc = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xr + k)), acc);
    if (k < cols) acc = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(first_n(cols - k), xr + k)), acc);
    const float s = symmetric_scale_s8(_mm512_reduce_max_ps(acc));
    scales[r] = s;
    quantize_x8(xr, cols, s, 0, -127, 127, reinterpret_cast<uint8_t*>(codes + r * cols));
  }
}

void f32_im2col_rows__avx512(const float* x, const Conv2dGeom& g, float pad, float* col, int64_t oy0, int64_t oy1) {
  im2col_rows_any(x, g, pad, col, oy0, oy1);
}
void x8_im2col_rows__avx512(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col, int64_t oy0,
                            int64_t oy1) {
  im2col_rows_any(x, g, pad, col, oy0, oy1);
}

void f32_transpose_cols__avx512(const float* x, int64_t rows, int64_t cols, float* y, int64_t c0, int64_t c1) {
  transpose_cols_blocked(x, rows, cols, y, c0, c1);
}

void f32_maxpool2d_nhwc_rows__avx512(const float* x, int64_t channels, const Conv2dGeom& g, bool relu_first, float* y,
                                     int64_t r0, int64_t r1) {
  const __m512 zero = _mm512_setzero_ps();
  // Per output pixel, the reference's clipped window walk in (i, j) order, 16 channels per
  // vector: each lane folds exactly the reference's sequence of values with fold_max.
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / g.oh, oy = r % g.oh;
    const float* in = x + b * g.h * g.w * channels;
    const int64_t y0 = oy * g.sh - g.ph;
    const int64_t i0 = y0 < 0 ? -y0 : 0, i1 = y0 + g.kh > g.h ? g.h - y0 : g.kh;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t x0 = ox * g.sw - g.pw;
      const int64_t j0 = x0 < 0 ? -x0 : 0, j1 = x0 + g.kw > g.w ? g.w - x0 : g.kw;
      float* o = y + (r * g.ow + ox) * channels;
      for (int64_t c = 0; c < channels; c += 16) {
        const __mmask16 k = first_n(channels - c);
        __m512 m = _mm512_set1_ps(-__builtin_inff());
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) {
            __m512 v = _mm512_maskz_loadu_ps(k, in + ((y0 + i) * g.w + x0 + j) * channels + c);
            // relu's `v > 0 ? v : 0`: the ordered compare is false for NaN and for -0.
            if (relu_first) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v);
            m = fold_max16(m, v);
          }
        _mm512_mask_storeu_ps(o + c, k, m);
      }
    }
  }
}

namespace {

// A first conv's im2col (one channel, 3x3, stride 1, padding <= 1, rows of 12 codes: 9 taps then
// 3 pad codes), 16 output pixels at a time: the three input rows' 18-code windows go into one
// register (bytes 0-17, 18-35, 36-53; the rest holds `pad`), and three vpermb with constant
// indices lay out the 16 pixels' 192 bytes. Border rows and columns read a padded copy of the
// rows. Same bytes as im2col_nhwc_rows.
constexpr int64_t kC1MaxWidth = 1024;

void im2col_c1_3x3_ld12(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col, int64_t oy0, int64_t oy1) {
  alignas(64) uint8_t idx_bytes[3][64];
  for (int q = 0; q < 192; ++q) {
    const int p = q / 12, j = q % 12;
    idx_bytes[q / 64][q % 64] = static_cast<uint8_t>(j < 9 ? (j / 3) * 18 + p + j % 3 : 63);
  }
  const __m512i idx0 = _mm512_load_si512(idx_bytes[0]), idx1 = _mm512_load_si512(idx_bytes[1]),
                idx2 = _mm512_load_si512(idx_bytes[2]);
  // Three padded rows, with slack so that every 18-byte window read stays inside (no std
  // containers here: an inline function instantiated with these -m flags could be the copy the
  // linker keeps for code running on a CPU without them).
  uint8_t rows[3][kC1MaxWidth + 64];
  __builtin_memset(rows, pad, sizeof(rows));
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    uint8_t* r[3];
    for (int i = 0; i < 3; ++i) {
      r[i] = rows[i];
      const int64_t iy = oy - g.ph + i;
      if (iy >= 0 && iy < g.h) __builtin_memcpy(r[i] + g.pw, x + iy * g.w, static_cast<size_t>(g.w));
      else __builtin_memset(r[i] + g.pw, pad, static_cast<size_t>(g.w));
    }
    uint8_t* out = col + oy * g.ow * 12;
    for (int64_t ox = 0; ox < g.ow; ox += 16) {
      __m512i src = _mm512_set1_epi8(static_cast<char>(pad));
      src = _mm512_mask_loadu_epi8(src, 0x3FFFFull, r[0] + ox);
      src = _mm512_mask_loadu_epi8(src, 0x3FFFFull << 18, r[1] + ox - 18);
      src = _mm512_mask_loadu_epi8(src, 0x3FFFFull << 36, r[2] + ox - 36);
      const int64_t n = g.ow - ox < 16 ? g.ow - ox : 16, bytes = n * 12;
      auto mask = [&](int64_t b0) -> __mmask64 {
        const int64_t k = bytes - b0;
        return k >= 64 ? ~0ull : k <= 0 ? 0ull : (1ull << k) - 1;
      };
      uint8_t* o = out + ox * 12;
      _mm512_mask_storeu_epi8(o, mask(0), _mm512_permutexvar_epi8(idx0, src));
      _mm512_mask_storeu_epi8(o + 64, mask(64), _mm512_permutexvar_epi8(idx1, src));
      _mm512_mask_storeu_epi8(o + 128, mask(128), _mm512_permutexvar_epi8(idx2, src));
    }
  }
}

}  // namespace

void x8_im2col_nhwc_rows__avx512(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col, int64_t oy0,
                              int64_t oy1) {
  if (g.c == 1 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.ph <= 1 && g.pw <= 1 && ldcol == 12 &&
      g.w + 2 * g.pw <= kC1MaxWidth &&
      g.oh == g.h + 2 * g.ph - 2 && g.ow == g.w + 2 * g.pw - 2)
    im2col_c1_3x3_ld12(x, g, pad, col, oy0, oy1);
  else
    im2col_nhwc_rows(x, g, pad, ldcol, col, oy0, oy1);
}

}  // namespace qf::kernels::x86
