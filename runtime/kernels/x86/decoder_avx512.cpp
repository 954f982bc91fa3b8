// gqa_attention's block kernel on AVX-512 (-mavx512f/dq, -ffp-contract=off): the reference's
// arithmetic in double, bit for bit, eight lanes at a time (decoder_x86.cpp threads the blocks).
//
// Scores: a block of 8 keys is transposed once into [e][8 keys] doubles and reused by every query
// head of the kv head and every query of the block; lane j then sums q[e] * k_j[e] in e order,
// exactly the reference's chain for key j (the product of two floats is exact in double, so no
// rounding differs). Softmax: the reference's scalar loops (fmax, libm exp, sum in j order). The
// weighted sum: 8 output elements per vector, each lane adding w * v_j[e] in j order with a
// separate multiply and add, as the reference does. Keys of a block past a query's position (or
// before its window) are computed and never read.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/kernels/x86/x86_decoder_kernels.h"

namespace qf::kernels::x86 {

int64_t gqa_block_scratch_doubles__avx512(int64_t t_block, int64_t group, int64_t l, int64_t d) {
  return t_block * group * (l + 8) + 8 * d + d;
}

void gqa_block__avx512(const GqaBlock& b, double* scratch) {
  const int64_t d = b.d, group = b.h1 - b.h0, nq = b.i1 - b.i0;
  const int64_t lp = b.l + 8;  // a score row, padded to whole key blocks
  double* p = scratch;                   // [h - h0][i - i0][lp]
  double* kt = p + nq * group * lp;      // [e][8]
  double* acc = kt + 8 * d;              // [d]
  const float* kg = b.k + b.g * d;
  const float* vg = b.v + b.g * d;
  const __m512d scale = _mm512_set1_pd(static_cast<double>(b.scale));
  // Keys needed by the block's queries: [lo, hi].
  const int64_t pos_lo = b.l - b.t + b.i0, pos_hi = b.l - b.t + b.i1 - 1;
  const int64_t lo = b.window > 0 ? std::max<int64_t>(0, pos_lo - b.window + 1) : 0;
  for (int64_t j0 = lo / 8 * 8; j0 <= pos_hi; j0 += 8) {
    const int64_t nk = std::min<int64_t>(8, b.l - j0);  // keys that exist
    for (int64_t jj = 0; jj < 8; ++jj) {
      const float* kr = kg + (j0 + jj) * b.kv_stride;
      if (jj < nk)
        for (int64_t e = 0; e < d; ++e) kt[e * 8 + jj] = kr[e];
      else
        for (int64_t e = 0; e < d; ++e) kt[e * 8 + jj] = 0.0;
    }
    // The (head, query) rows that need this key block, four at a time: four independent add
    // chains per step of e (one chain would wait on the add latency at every e).
    const float* qrow[4];
    double* prow[4];
    int nr = 0;
    auto flush = [&](int n) {
      __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
      const float* q0 = qrow[0];
      const float* q1 = qrow[n > 1 ? 1 : 0];
      const float* q2 = qrow[n > 2 ? 2 : 0];
      const float* q3 = qrow[n > 3 ? 3 : 0];
      for (int64_t e = 0; e < d; ++e) {
        const __m512d ke = _mm512_loadu_pd(kt + e * 8);
        s0 = _mm512_add_pd(s0, _mm512_mul_pd(_mm512_set1_pd(static_cast<double>(q0[e])), ke));
        s1 = _mm512_add_pd(s1, _mm512_mul_pd(_mm512_set1_pd(static_cast<double>(q1[e])), ke));
        s2 = _mm512_add_pd(s2, _mm512_mul_pd(_mm512_set1_pd(static_cast<double>(q2[e])), ke));
        s3 = _mm512_add_pd(s3, _mm512_mul_pd(_mm512_set1_pd(static_cast<double>(q3[e])), ke));
      }
      _mm512_storeu_pd(prow[0], _mm512_mul_pd(s0, scale));
      if (n > 1) _mm512_storeu_pd(prow[1], _mm512_mul_pd(s1, scale));
      if (n > 2) _mm512_storeu_pd(prow[2], _mm512_mul_pd(s2, scale));
      if (n > 3) _mm512_storeu_pd(prow[3], _mm512_mul_pd(s3, scale));
    };
    for (int64_t h = b.h0; h < b.h1; ++h)
      for (int64_t i = b.i0; i < b.i1; ++i) {
        const int64_t pos = b.l - b.t + i;
        if (j0 > pos) continue;
        if (b.window > 0 && j0 + 8 <= pos - b.window + 1) continue;
        qrow[nr] = b.q + i * b.q_stride + h * d;
        prow[nr] = p + ((h - b.h0) * nq + (i - b.i0)) * lp + j0;
        if (++nr == 4) {
          flush(4);
          nr = 0;
        }
      }
    if (nr > 0) flush(nr);
  }
  for (int64_t h = b.h0; h < b.h1; ++h)
    for (int64_t i = b.i0; i < b.i1; ++i) {
      double* pr = p + ((h - b.h0) * nq + (i - b.i0)) * lp;
      const int64_t pos = b.l - b.t + i;
      const int64_t first = b.window > 0 ? std::max<int64_t>(0, pos - b.window + 1) : 0;
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = first; j <= pos; ++j) m = std::fmax(m, pr[j]);
      double sum = 0.0;
      for (int64_t j = first; j <= pos; ++j) sum += (pr[j] = std::exp(pr[j] - m));
      float* yi = b.y + (i - b.i0) * b.y_stride + (h - b.h0) * d;
      if (d % 8 == 0) {
        for (int64_t e = 0; e < d; e += 8) _mm512_storeu_pd(acc + e, _mm512_setzero_pd());
        for (int64_t j = first; j <= pos; ++j) {
          const __m512d w = _mm512_set1_pd(pr[j] / sum);
          const float* vj = vg + j * b.kv_stride;
          for (int64_t e = 0; e < d; e += 8) {
            const __m512d vv = _mm512_cvtps_pd(_mm256_loadu_ps(vj + e));
            _mm512_storeu_pd(acc + e, _mm512_add_pd(_mm512_loadu_pd(acc + e), _mm512_mul_pd(w, vv)));
          }
        }
        for (int64_t e = 0; e < d; e += 8) _mm256_storeu_ps(yi + e, _mm512_cvtpd_ps(_mm512_loadu_pd(acc + e)));
      } else {
        std::fill(acc, acc + d, 0.0);
        for (int64_t j = first; j <= pos; ++j) {
          const double w = pr[j] / sum;
          const float* vj = vg + j * b.kv_stride;
          for (int64_t e = 0; e < d; ++e) acc[e] += w * vj[e];
        }
        for (int64_t e = 0; e < d; ++e) yi[e] = static_cast<float>(acc[e]);
      }
    }
}

}  // namespace qf::kernels::x86
