// Attention blocks of the AVX2 table (compiled with -mavx2 -mfma -ffp-contract=off): 8 floats
// per vector, lane masks (maskload / maskstore) for the head-dimension tail.
#include <immintrin.h>

#include <cstdint>

#define QF_ISA_SUFFIX avx2

namespace qf::kernels::x86 {
namespace {

struct V {
  using F = __m256;
  static constexpr int W = 8;
  static __m256i mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < W ? n : W)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F loadn(const float* p, int64_t n) { return n >= W ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask(n)); }
  static F loadn_fill(const float* p, int64_t n, float fill) {
    return n >= W ? _mm256_loadu_ps(p) : _mm256_blendv_ps(set1(fill), _mm256_maskload_ps(p, mask(n)), _mm256_castsi256_ps(mask(n)));
  }
  static void storen(float* p, F x, int64_t n) {
    if (n >= W) _mm256_storeu_ps(p, x);
    else _mm256_maskstore_ps(p, mask(n), x);
  }
  static F blend_tail(F x, int64_t n) { return n >= W ? x : _mm256_and_ps(x, _mm256_castsi256_ps(mask(n))); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static float reduce_add(F x) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }
  // As the AVX-512 file's reduce4, with two 128-bit lanes.
  static void reduce4(const F* a, float scale, float* out) {
    const F t0 = _mm256_add_ps(_mm256_unpacklo_ps(a[0], a[1]), _mm256_unpackhi_ps(a[0], a[1]));
    const F t1 = _mm256_add_ps(_mm256_unpacklo_ps(a[2], a[3]), _mm256_unpackhi_ps(a[2], a[3]));
    const F u = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t1))),
                              _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t1))));
    const __m128 r = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
    _mm_storeu_ps(out, _mm_mul_ps(r, _mm_set1_ps(scale)));
  }
  static float reduce_max(F x) {
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }
  // As the AVX-512 file's exp (same polynomial), 2^n built in the exponent bits.
  static F exp(F x) {
    const F tiny = _mm256_cmp_ps(x, set1(-87.33654f), _CMP_LT_OQ);
    x = _mm256_max_ps(x, set1(-87.33654f));
    const F n = _mm256_round_ps(_mm256_mul_ps(x, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    F r = _mm256_fnmadd_ps(n, set1(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, set1(-2.12194440e-4f), r);
    F p = set1(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, set1(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, set1(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, set1(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, set1(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, set1(5.0000001201e-1f));
    F e = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    e = _mm256_add_ps(e, set1(1.0f));
    const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tiny, _mm256_mul_ps(e, _mm256_castsi256_ps(pow2)));
  }
  static F nibbles(const uint8_t* row, int64_t e, int64_t n, bool symmetric) {
    if (e & 1) {  // an odd start (odd head dimension): each lane shifts its own byte
      const int64_t first = e / 2, count = (e + n - 1) / 2 - first + 1;
      uint64_t raw = 0;
      __builtin_memcpy(&raw, row + first, static_cast<size_t>(count));
      const __m256i b = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(raw)));
      const __m256i lane = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8);  // k - e + 1 (e odd)
      const __m256i code = _mm256_and_si256(
          _mm256_srlv_epi32(_mm256_permutevar8x32_epi32(b, _mm256_srli_epi32(lane, 1)),
                            _mm256_slli_epi32(_mm256_and_si256(lane, _mm256_set1_epi32(1)), 2)),
          _mm256_set1_epi32(0xF));
      const __m256i i32 = symmetric ? _mm256_sub_epi32(_mm256_xor_si256(code, _mm256_set1_epi32(8)), _mm256_set1_epi32(8)) : code;
      return blend_tail(_mm256_cvtepi32_ps(i32), n);
    }
    const uint8_t* p = row + e / 2;
    uint32_t raw = 0;
    __builtin_memcpy(&raw, p, static_cast<size_t>((n < W ? n : W) + 1) / 2);
    const __m128i w = _mm_cvtepu8_epi16(_mm_cvtsi32_si128(static_cast<int>(raw)));
    __m128i t = _mm_or_si128(_mm_and_si128(w, _mm_set1_epi16(0x000F)),
                             _mm_and_si128(_mm_slli_epi16(w, 4), _mm_set1_epi16(0x0F00)));
    __m256i i32;
    if (symmetric) {
      t = _mm_sub_epi8(_mm_xor_si128(t, _mm_set1_epi8(8)), _mm_set1_epi8(8));
      i32 = _mm256_cvtepi8_epi32(t);
    } else {
      i32 = _mm256_cvtepu8_epi32(t);
    }
    return blend_tail(_mm256_cvtepi32_ps(i32), n);
  }
  static F bytes(const uint8_t* p, int64_t n, bool symmetric) {
    uint64_t raw = 0;
    __builtin_memcpy(&raw, p, static_cast<size_t>(n < W ? n : W));
    const __m128i b = _mm_cvtsi64_si128(static_cast<long long>(raw));
    return _mm256_cvtepi32_ps(symmetric ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b));
  }
};

}  // namespace
}  // namespace qf::kernels::x86

#include "runtime/kernels/x86/attention_impl.inc"
