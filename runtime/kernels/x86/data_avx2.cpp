// Data kernels of the AVX2 table (compiled with -mavx2 -ffp-contract=off): range kernels called
// by data_x86.cpp, the AVX2 counterparts of data_avx512.cpp (same rules, 8 lanes). Bit-identical
// to kernels/ref/.
#include <immintrin.h>

#include <cstring>

#include "core/quant.h"  // kMinScale only (no inline function of core is instantiated here)
#include "runtime/kernels/x86/x86_data_kernels.h"

namespace qf::kernels::x86 {
namespace {

#include "runtime/kernels/x86/data_impl.inc"

// fold_max on 8 lanes: vmaxps(v, m) is `v > m ? v : m`; a NaN v then replaces it (see
// data_avx512.cpp).
inline __m256 fold_max8(__m256 m, __m256 v) {
  return _mm256_blendv_ps(_mm256_max_ps(v, m), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

inline __m256i first_n(int64_t n) {  // lane mask for vmaskmovps: lanes [0, n), n in [0, 8]
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// 2x2 stride 2, no padding: 8 outputs from 16 inputs of each input row; vshufps picks the even
// (0x88) / odd (0xDD) columns per 128-bit lane, vpermpd (0xD8) puts the lanes back in order.
inline __m256 even8(__m256 a, __m256 b) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
inline __m256 odd8(__m256 a, __m256 b) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

void maxpool_2x2s2(const float* in, const Conv2dGeom& g, float* out) {
  const int64_t full_h = g.oh < g.h / 2 ? g.oh : g.h / 2, full_w = g.ow < g.w / 2 ? g.ow : g.w / 2;
  for (int64_t oy = 0; oy < full_h; ++oy) {
    const float* r0 = in + 2 * oy * g.w;
    const float* r1 = r0 + g.w;
    float* o = out + oy * g.ow;
    for (int64_t ox = 0; ox < full_w; ox += 8) {
      const int64_t n = full_w - ox < 8 ? full_w - ox : 8;
      const __m256i lo = first_n(2 * n < 8 ? 2 * n : 8), hi = first_n(2 * n > 8 ? 2 * n - 8 : 0);
      const __m256 a0 = _mm256_maskload_ps(r0 + 2 * ox, lo), a1 = _mm256_maskload_ps(r0 + 2 * ox + 8, hi);
      const __m256 b0 = _mm256_maskload_ps(r1 + 2 * ox, lo), b1 = _mm256_maskload_ps(r1 + 2 * ox + 8, hi);
      __m256 m = even8(a0, a1);
      m = fold_max8(m, odd8(a0, a1));
      m = fold_max8(m, even8(b0, b1));
      m = fold_max8(m, odd8(b0, b1));
      _mm256_maskstore_ps(o + ox, first_n(n), m);
    }
    for (int64_t ox = full_w; ox < g.ow; ++ox) o[ox] = pool_window(in, g, oy, ox);
  }
  for (int64_t oy = full_h; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) out[oy * g.ow + ox] = pool_window(in, g, oy, ox);
}

void maxpool_sx1(const float* in, const Conv2dGeom& g, float* out) {
  const int64_t cx0 = g.pw < g.ow ? g.pw : g.ow;
  int64_t cx1 = g.w - g.kw + g.pw + 1;
  if (cx1 > g.ow) cx1 = g.ow;
  if (cx1 < cx0) cx1 = cx0;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    float* o = out + oy * g.ow;
    const int64_t y0 = oy * g.sh - g.ph;
    const int64_t i0 = y0 < 0 ? -y0 : 0, i1 = y0 + g.kh > g.h ? g.h - y0 : g.kh;
    for (int64_t ox = 0; ox < cx0; ++ox) o[ox] = pool_window(in, g, oy, ox);
    for (int64_t ox = cx0; ox < cx1; ox += 8) {
      const __m256i k = first_n(cx1 - ox < 8 ? cx1 - ox : 8);
      __m256 m = _mm256_set1_ps(-__builtin_inff());
      for (int64_t i = i0; i < i1; ++i) {
        const float* r = in + (y0 + i) * g.w + ox - g.pw;
        for (int64_t j = 0; j < g.kw; ++j) m = fold_max8(m, _mm256_maskload_ps(r + j, k));
      }
      _mm256_maskstore_ps(o + ox, k, m);
    }
    for (int64_t ox = cx1; ox < g.ow; ++ox) o[ox] = pool_window(in, g, oy, ox);
  }
}

// core/quant.h's quantize on 8 lanes (see quantize16 in data_avx512.cpp): vdivps, round to
// nearest even, add z, vmaxps(q, qmin) (NaN -> qmin like fmax), vminps(qmax), exact convert.
inline __m256i quantize8(__m256 x, __m256 s, __m256 z, __m256 lo, __m256 hi) {
  __m256 q = _mm256_div_ps(x, s);
  q = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  q = _mm256_add_ps(q, z);
  q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
  return _mm256_cvtps_epi32(q);
}

// The low byte of each int32 lane (the reference's static_cast), 8 bytes in the low 64 bits.
inline __m128i low_bytes8(__m256i v) {
  const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i b = _mm256_shuffle_epi8(v, pick);
  return _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
}

void quantize_x8(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                 uint8_t* codes) {
  const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(static_cast<float>(zero_point));
  const __m256 lo = _mm256_set1_ps(static_cast<float>(qmin)), hi = _mm256_set1_ps(static_cast<float>(qmax));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), low_bytes8(quantize8(_mm256_loadu_ps(x + i), s, z, lo, hi)));
  if (i < n) {
    alignas(16) uint8_t tmp[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp),
                    low_bytes8(quantize8(_mm256_maskload_ps(x + i, first_n(n - i)), s, z, lo, hi)));
    std::memcpy(codes + i, tmp, static_cast<size_t>(n - i));
  }
}

}  // namespace

void f32_maxpool2d_planes__avx2(const float* x, int64_t p0, int64_t p1, const Conv2dGeom& g, float* y) {
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

void f32_quantize_x8__avx2(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                           uint8_t* codes) {
  quantize_x8(x, n, scale, zero_point, qmin, qmax, codes);
}

void f32_quantize_rows_s8__avx2(const float* x, int64_t r0, int64_t r1, int64_t cols, int8_t* codes, float* scales) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    // vmaxps(|x|, acc) skips a NaN |x| like fmax; the max of non-NaN values is order-free.
    __m256 acc = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) acc = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(xr + k), abs_mask), acc);
    if (k < cols) acc = _mm256_max_ps(_mm256_and_ps(_mm256_maskload_ps(xr + k, first_n(cols - k)), abs_mask), acc);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float s = symmetric_scale_s8(_mm_cvtss_f32(m4));
    scales[r] = s;
    quantize_x8(xr, cols, s, 0, -127, 127, reinterpret_cast<uint8_t*>(codes + r * cols));
  }
}

void f32_im2col_rows__avx2(const float* x, const Conv2dGeom& g, float pad, float* col, int64_t oy0, int64_t oy1) {
  im2col_rows_any(x, g, pad, col, oy0, oy1);
}
void x8_im2col_rows__avx2(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col, int64_t oy0,
                          int64_t oy1) {
  im2col_rows_any(x, g, pad, col, oy0, oy1);
}

void f32_transpose_cols__avx2(const float* x, int64_t rows, int64_t cols, float* y, int64_t c0, int64_t c1) {
  transpose_cols_blocked(x, rows, cols, y, c0, c1);
}

void f32_maxpool2d_nhwc_rows__avx2(const float* x, int64_t channels, const Conv2dGeom& g, bool relu_first, float* y,
                                   int64_t r0, int64_t r1) {
  const __m256 zero = _mm256_setzero_ps();
  // See the AVX-512 version: the reference's window walk per pixel, 8 channels per vector.
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / g.oh, oy = r % g.oh;
    const float* in = x + b * g.h * g.w * channels;
    const int64_t y0 = oy * g.sh - g.ph;
    const int64_t i0 = y0 < 0 ? -y0 : 0, i1 = y0 + g.kh > g.h ? g.h - y0 : g.kh;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t x0 = ox * g.sw - g.pw;
      const int64_t j0 = x0 < 0 ? -x0 : 0, j1 = x0 + g.kw > g.w ? g.w - x0 : g.kw;
      float* o = y + (r * g.ow + ox) * channels;
      int64_t c = 0;
      for (; c + 8 <= channels; c += 8) {
        __m256 m = _mm256_set1_ps(-__builtin_inff());
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) {
            __m256 v = _mm256_loadu_ps(in + ((y0 + i) * g.w + x0 + j) * channels + c);
            // relu's `v > 0 ? v : 0`: the ordered compare is false for NaN and for -0.
            if (relu_first) v = _mm256_and_ps(v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
            m = fold_max8(m, v);
          }
        _mm256_storeu_ps(o + c, m);
      }
      for (; c < channels; ++c) {
        float m = -__builtin_inff();
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) {
            float v = in[((y0 + i) * g.w + x0 + j) * channels + c];
            if (relu_first) v = v > 0.0f ? v : 0.0f;
            m = fold_max(m, v);
          }
        o[c] = m;
      }
    }
  }
}

void x8_im2col_nhwc_rows__avx2(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col, int64_t oy0,
                              int64_t oy1) {
  im2col_nhwc_rows(x, g, pad, ldcol, col, oy0, oy1);
}

}  // namespace qf::kernels::x86
