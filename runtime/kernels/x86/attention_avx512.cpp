// Attention blocks of the AVX-512 table (compiled with -mavx512{f,bw,vl,dq} -mfma
// -ffp-contract=off): 16 floats per vector, masked loads / stores for the head-dimension tail.
#include <immintrin.h>

#include <cstdint>

#define QF_ISA_SUFFIX avx512

namespace qf::kernels::x86 {
namespace {

struct V {
  using F = __m512;
  static constexpr int W = 16;
  static __mmask16 mask(int64_t n) { return n >= W ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1); }
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F loadn(const float* p, int64_t n) { return n >= W ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mask(n), p); }
  static F loadn_fill(const float* p, int64_t n, float fill) { return _mm512_mask_loadu_ps(set1(fill), mask(n), p); }
  static void storen(float* p, F x, int64_t n) {
    if (n >= W) _mm512_storeu_ps(p, x);
    else _mm512_mask_storeu_ps(p, mask(n), x);
  }
  static F blend_tail(F x, int64_t n) { return _mm512_maskz_mov_ps(mask(n), x); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  // Fixed orders (halves folded pairwise), the same for every call.
  static float reduce_add(F x) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }
  // The horizontal sums of a[0..3], times `scale`, into out[0..3]. Each sum adds only its own
  // vector's lanes, in one fixed tree: pairs within 128-bit lanes (unpack), then the four
  // 128-bit lanes.
  static void reduce4(const F* a, float scale, float* out) {
    const F t0 = _mm512_add_ps(_mm512_unpacklo_ps(a[0], a[1]), _mm512_unpackhi_ps(a[0], a[1]));
    const F t1 = _mm512_add_ps(_mm512_unpacklo_ps(a[2], a[3]), _mm512_unpackhi_ps(a[2], a[3]));
    // per 128-bit lane: (a0, a1, a0, a1) and (a2, a3, a2, a3) partial sums -> (a0, a1, a2, a3)
    const F u = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))),
                              _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))));
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(u), _mm512_extractf32x8_ps(u, 1));
    const __m128 r = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    _mm_storeu_ps(out, _mm_mul_ps(r, _mm_set1_ps(scale)));
  }
  static float reduce_max(F x) { return _mm512_reduce_max_ps(x); }
  // exp(x) for x <= 0 (softmax arguments): x = n ln2 + r, |r| <= ln2 / 2, a degree-7 polynomial
  // for e^r (the Cephes expf coefficients), scaled by 2^n; below -87.33 (where float's exp
  // leaves the normal range) it returns 0, where the reference returns a subnormal < 2^-126.
  static F exp(F x) {
    const __mmask16 tiny = _mm512_cmp_ps_mask(x, set1(-87.33654f), _CMP_LT_OQ);
    x = _mm512_max_ps(x, set1(-87.33654f));
    const F n = _mm512_roundscale_ps(_mm512_mul_ps(x, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
    F r = _mm512_fnmadd_ps(n, set1(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, set1(-2.12194440e-4f), r);
    F p = set1(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, set1(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, set1(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, set1(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, set1(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, set1(5.0000001201e-1f));
    F e = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    e = _mm512_add_ps(e, set1(1.0f));
    return _mm512_maskz_mov_ps(static_cast<__mmask16>(~tiny), _mm512_scalef_ps(e, n));
  }
  // n int4 codes of a row from code e on (code 2j: low nibble of byte j), as floats; lanes >= n
  // are 0.
  static F nibbles(const uint8_t* row, int64_t e, int64_t n, bool symmetric) {
    if (e & 1) {  // an odd start (odd head dimension): each lane shifts its own byte
      const int64_t first = e / 2, count = (e + n - 1) / 2 - first + 1;
      const __m512i b = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(static_cast<__mmask16>(mask(count)), row + first));
      const __m512i lane = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);  // k - e + 1 (e odd)
      const __m512i code = _mm512_and_si512(
          _mm512_srlv_epi32(_mm512_permutexvar_epi32(_mm512_srli_epi32(lane, 1), b),
                            _mm512_slli_epi32(_mm512_and_si512(lane, _mm512_set1_epi32(1)), 2)),
          _mm512_set1_epi32(0xF));
      const __m512i i32 = symmetric ? _mm512_sub_epi32(_mm512_xor_si512(code, _mm512_set1_epi32(8)), _mm512_set1_epi32(8)) : code;
      return _mm512_maskz_cvtepi32_ps(mask(n), i32);
    }
    const uint8_t* p = row + e / 2;
    const __m128i b = _mm_maskz_loadu_epi8(static_cast<__mmask16>(mask((n + 1) / 2)), p);
    const __m128i w = _mm_cvtepu8_epi16(b);  // 8 bytes -> 8 words: byte j in word j
    // word j = lo nibble | hi nibble << 8: as bytes, code 2j then code 2j + 1
    __m128i t = _mm_or_si128(_mm_and_si128(w, _mm_set1_epi16(0x000F)),
                             _mm_and_si128(_mm_slli_epi16(w, 4), _mm_set1_epi16(0x0F00)));
    __m512i i32;
    if (symmetric) {  // two's complement nibble: (c ^ 8) - 8
      t = _mm_sub_epi8(_mm_xor_si128(t, _mm_set1_epi8(8)), _mm_set1_epi8(8));
      i32 = _mm512_cvtepi8_epi32(t);
    } else {
      i32 = _mm512_cvtepu8_epi32(t);
    }
    return _mm512_maskz_cvtepi32_ps(mask(n), i32);
  }
  // A broadcast fp16 scale (vcvtph2ps: exact, subnormals included).
  static F half1(uint16_t h) { return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(h))); }
#define QF_V_HAS_HALF1 1
  // n 8-bit codes (int8 symmetric, uint8 asymmetric) as floats; lanes >= n are 0.
  static F bytes(const uint8_t* p, int64_t n, bool symmetric) {
    const __m128i b = _mm_maskz_loadu_epi8(mask(n), p);
    return _mm512_cvtepi32_ps(symmetric ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
  }
};

}  // namespace
}  // namespace qf::kernels::x86

#include "runtime/kernels/x86/attention_impl.inc"

namespace qf::kernels::x86 {
namespace {

// float -> fp16 bits, round to nearest even (vcvtps2ph; what core/fp16.h's fp32_to_fp16 computes
// for the finite values a scale takes), and back.
uint16_t to_half(float x) {
  const __m256i h = _mm512_cvtps_ph(_mm512_set1_ps(x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return static_cast<uint16_t>(_mm_cvtsi128_si32(_mm256_castsi256_si128(h)) & 0xFFFF);
}
float from_half(uint16_t h) { return _mm512_cvtss_f32(_mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(h)))); }

}  // namespace

// core/kv_quant.h's symmetric rule, 16 values per vector, for groups that are whole vectors:
// the group's absmax (a max: any order gives the same value), the scale in scalar float ops as
// kv_group_params computes it, then per value x / s (vdivps), round half to even, clamp, codes.
void f32_quantize_kv_rows_sym__avx512(const float* x, int64_t rows, int64_t x_stride, int64_t c, const KvQuant& q,
                                      uint8_t* codes, int64_t code_stride, uint16_t* scales, int64_t scale_stride) {
  const float qmax = q.bits == 4 ? 7.0f : 127.0f;
  const int64_t groups = c / q.group;
  const __m512 sign_off = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    uint8_t* cr = codes + r * code_stride;
    for (int64_t g = 0; g < groups; ++g) {
      const float* xg = xr + g * q.group;
      __m512 am = _mm512_setzero_ps();
      for (int64_t i = 0; i < q.group; i += 16) am = _mm512_max_ps(am, _mm512_and_ps(_mm512_loadu_ps(xg + i), sign_off));
      const float absmax = _mm512_reduce_max_ps(am);
      const float s32 = __builtin_fminf((absmax * q.clip) / qmax, 65504.0f);
      uint16_t bits = to_half(s32);
      float s = from_half(bits);
      if (s == 0.0f) {
        bits = to_half(absmax > 0.0f ? 5.9604644775390625e-08f : 1.0f);
        s = from_half(bits);
      }
      scales[r * scale_stride + g] = bits;
      const __m512 sv = _mm512_set1_ps(s), lo = _mm512_set1_ps(-qmax), hi = _mm512_set1_ps(qmax);
      for (int64_t i = 0; i < q.group; i += 16) {
        const __m512 v = _mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(xg + i), sv), _MM_FROUND_TO_NEAREST_INT);
        const __m128i b = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi)));
        const int64_t k = g * q.group + i;  // even: groups are whole vectors
        if (q.bits == 8) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(cr + k), b);
        } else {  // bytes 2j, 2j+1 -> one byte: low nibble, high nibble
          const __m128i t = _mm_and_si128(b, _mm_set1_epi8(0x0F));
          const __m128i w = _mm_and_si128(_mm_or_si128(t, _mm_srli_epi16(t, 4)), _mm_set1_epi16(0x00FF));
          _mm_storel_epi64(reinterpret_cast<__m128i*>(cr + k / 2), _mm_packus_epi16(w, w));
        }
      }
    }
  }
}

}  // namespace qf::kernels::x86
