// GELU and layernorm of the AVX2 table (compiled with -mavx2 -mfma -ffp-contract=off).
#include <immintrin.h>

#include <cstdint>

namespace qf::kernels::x86 {
namespace {
struct LnVec {  // 8 doubles as two __m256d
  struct D {
    __m256d lo, hi;
  };
  static __m256i mask8(int64_t k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k < 8 ? k : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static D dzero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static D dset1(double x) { return {_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
  static D dadd(D a, D b) { return {_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)}; }
  static D dsub(D a, D b) { return {_mm256_sub_pd(a.lo, b.lo), _mm256_sub_pd(a.hi, b.hi)}; }
  static D dfmadd(D a, D b, D c) { return {_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)}; }
  static D dmask(D a, int64_t k) {
    const __m256i m = mask8(k);  // 8 int32 lanes -> two sets of 4 int64 lanes
    const __m256d lo = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(m)));
    const __m256d hi = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1)));
    return {_mm256_and_pd(a.lo, lo), _mm256_and_pd(a.hi, hi)};
  }
  static double dsum(D a) {
    const __m256d s = _mm256_add_pd(a.lo, a.hi);
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    t = _mm_add_sd(t, _mm_unpackhi_pd(t, t));
    return _mm_cvtsd_f64(t);
  }
  static D to_double(const float* p, int64_t k) {
    const __m256 f = k >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask8(k));
    return {_mm256_cvtps_pd(_mm256_castps256_ps128(f)), _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1))};
  }
  static void epilogue(const float* x, int64_t n, float mu, float rstd, const float* g, const float* b, float* y) {
    const __m256 m = _mm256_set1_ps(mu), r = _mm256_set1_ps(rstd);
    for (int64_t i = 0; i < n; i += 8) {
      const __m256i k = mask8(n - i);
      const __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), m), r),
                                     _mm256_maskload_ps(g + i, k));
      _mm256_maskstore_ps(y + i, k, _mm256_add_ps(v, _mm256_maskload_ps(b + i, k)));
    }
  }
};
}  // namespace
}  // namespace qf::kernels::x86

#define Eigen qforge_eigen_avx2_nocontract  // not f32_avx2.cpp's: other flags (-ffp-contract=off)
#define QF_ISA_SUFFIX avx2
#include "runtime/kernels/x86/norm_act_impl.inc"
