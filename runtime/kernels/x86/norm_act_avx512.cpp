// GELU and layernorm of the AVX-512 table (compiled with -mavx512{f,bw,vl,dq} -mfma -ffp-contract=off).
#include <immintrin.h>

#include <cstdint>

namespace qf::kernels::x86 {
namespace {
struct LnVec {
  using D = __m512d;
  static __mmask8 mask(int64_t k) { return static_cast<__mmask8>(k >= 8 ? 0xFF : (1u << k) - 1); }
  static D dzero() { return _mm512_setzero_pd(); }
  static D dset1(double x) { return _mm512_set1_pd(x); }
  static D dadd(D a, D b) { return _mm512_add_pd(a, b); }
  static D dsub(D a, D b) { return _mm512_sub_pd(a, b); }
  static D dfmadd(D a, D b, D c) { return _mm512_fmadd_pd(a, b, c); }
  static D dmask(D a, int64_t k) { return _mm512_maskz_mov_pd(mask(k), a); }
  static double dsum(D a) { return _mm512_reduce_add_pd(a); }
  static D to_double(const float* p, int64_t k) { return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask(k), p)); }
  // y = ((x - mu) * rstd) * g + b, float, op for op as the reference (no FMA).
  static void epilogue(const float* x, int64_t n, float mu, float rstd, const float* g, const float* b, float* y) {
    const __m512 m = _mm512_set1_ps(mu), r = _mm512_set1_ps(rstd);
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 k = static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
      const __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m), r),
                                     _mm512_maskz_loadu_ps(k, g + i));
      _mm512_mask_storeu_ps(y + i, k, _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, b + i)));
    }
  }
};
}  // namespace
}  // namespace qf::kernels::x86

#define Eigen qforge_eigen_avx512_nocontract  // not f32_avx512.cpp's: other flags (-ffp-contract=off)
#define QF_ISA_SUFFIX avx512
#include "runtime/kernels/x86/norm_act_impl.inc"
