// Decoder entries of the x86 tables (baseline flags): gqa_attention over the float KV cache and
// gated_act, bit-identical to the reference kernels, threaded.
//
// Why: the reference is one thread and its q.k dot products are one dependent chain of double
// adds each (d adds of ~4 cycles per key and head); the profile of a Llama-3.2-1B-shaped decoding
// step with a float cache (bench/llama_race_qforge --profile) put it after the GEMVs, and a
// 512-token prompt spends most of its attention time there, on one core of two.
//
// Exactness (the contract is FORMAT.md's "in double, rounded once"; this is the reference's
// arithmetic, not just within it): every dot product is still summed in e order in its own chain
// (four keys' chains interleaved, which changes the schedule, not one operation), the product of
// two floats is exact in double (so contraction could not change it either), the max, the exp
// sum and each output element's weighted sum run in the reference's j order, and the split over
// threads is by (query block, kv head): each output element is computed by one thread, whole.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/kernels/ref/decoder_ref.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_decoder_kernels.h"

namespace qf::kernels::x86 {
namespace {

// The scalar block (GqaBlock): the reference's loops, four keys' dot products interleaved.
void gqa_block_scalar(const GqaBlock& b, double* scratch) {
  const int64_t d = b.d;
  double* p = scratch;
  double* acc = scratch + b.l;
  const float* kg = b.k + b.g * d;
  const float* vg = b.v + b.g * d;
  const double scale = static_cast<double>(b.scale);
  for (int64_t h = b.h0; h < b.h1; ++h) {
    for (int64_t i = b.i0; i < b.i1; ++i) {
      const float* qi = b.q + i * b.q_stride + h * d;
      const int64_t pos = b.l - b.t + i;
      const int64_t first = b.window > 0 ? std::max<int64_t>(0, pos - b.window + 1) : 0;
      int64_t j = first;
      for (; j + 4 <= pos + 1; j += 4) {
        const float* k0 = kg + j * b.kv_stride;
        const float* k1 = k0 + b.kv_stride;
        const float* k2 = k1 + b.kv_stride;
        const float* k3 = k2 + b.kv_stride;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        for (int64_t e = 0; e < d; ++e) {
          const double qe = qi[e];
          s0 += qe * k0[e];
          s1 += qe * k1[e];
          s2 += qe * k2[e];
          s3 += qe * k3[e];
        }
        p[j] = s0 * scale;
        p[j + 1] = s1 * scale;
        p[j + 2] = s2 * scale;
        p[j + 3] = s3 * scale;
      }
      for (; j <= pos; ++j) {
        const float* kj = kg + j * b.kv_stride;
        double s = 0.0;
        for (int64_t e = 0; e < d; ++e) s += static_cast<double>(qi[e]) * kj[e];
        p[j] = s * scale;
      }
      double m = -std::numeric_limits<double>::infinity();
      for (j = first; j <= pos; ++j) m = std::fmax(m, p[j]);
      double sum = 0.0;
      for (j = first; j <= pos; ++j) sum += (p[j] = std::exp(p[j] - m));
      std::fill(acc, acc + d, 0.0);
      for (j = first; j <= pos; ++j) {
        const double w = p[j] / sum;
        const float* vj = vg + j * b.kv_stride;
        for (int64_t e = 0; e < d; ++e) acc[e] += w * vj[e];
      }
      float* yi = b.y + (i - b.i0) * b.y_stride + (h - b.h0) * d;
      for (int64_t e = 0; e < d; ++e) yi[e] = static_cast<float>(acc[e]);
    }
  }
}

using GqaBlockFn = void (*)(const GqaBlock&, double*);

void gqa_attention(GqaBlockFn block, bool wide, const float* q, int64_t q_stride, const float* k, const float* v,
                   int64_t kv_stride, int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                   float scale, float* y) {
  if (t <= 0 || heads <= 0 || d <= 0) return;
  const int64_t group = heads / kv_heads, c = heads * d;
  // Tasks: (query block, kv head). A kv head's query heads write d * group consecutive floats
  // of each output row, so a task writes its rows in place (stride c).
  const int64_t qb = std::min<int64_t>(t, 16);
  const int64_t qblocks = (t + qb - 1) / qb;
  const int64_t need = wide ? gqa_block_scratch_doubles__avx512(qb, group, l, d) : l + d;
  const double cost = 4.0 * static_cast<double>(qb) * static_cast<double>(l) * static_cast<double>(group * d);
  parallel_for(qblocks * kv_heads, cost, [&](int64_t a0, int64_t a1) {
    thread_local std::vector<double> scratch;
    if (scratch.size() < static_cast<size_t>(need)) scratch.resize(static_cast<size_t>(need));
    for (int64_t a = a0; a < a1; ++a) {
      // Later query blocks see more keys: hand them out first (the pool claims chunks in order).
      const int64_t qbi = qblocks - 1 - a / kv_heads, g = a % kv_heads;
      const int64_t i0 = qbi * qb, i1 = std::min(t, i0 + qb);
      const GqaBlock b{q, k, v, q_stride, kv_stride, t, l, d, window, scale, g, g * group, (g + 1) * group, i0, i1,
                       y + i0 * c + g * group * d, c};
      block(b, scratch.data());
    }
  });
}

}  // namespace

void f32_gqa_attention__x86(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                            int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                            float scale, float* scratch, float* y) {
  (void)scratch;
  gqa_attention(gqa_block_scalar, false, q, q_stride, k, v, kv_stride, t, l, heads, kv_heads, d, window, scale, y);
}

void f32_gqa_attention__avx512(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                               int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                               float scale, float* scratch, float* y) {
  (void)scratch;
  gqa_attention(gqa_block__avx512, true, q, q_stride, k, v, kv_stride, t, l, heads, kv_heads, d, window, scale, y);
}

void f32_gated_act__x86(const float* g, const float* u, int64_t n, int act, float* y) {
  // Elementwise: the reference on chunks of 1024 (a double exp or tanh per element, ~10 ns: a
  // decoding step's 8192 are worth a second thread).
  constexpr int64_t kChunk = 1024;
  parallel_for((n + kChunk - 1) / kChunk, 40.0 * kChunk, [&](int64_t c0, int64_t c1) {
    const int64_t i0 = c0 * kChunk, i1 = std::min(n, c1 * kChunk);
    f32_gated_act_ref(g + i0, u + i0, i1 - i0, act, y + i0);
  });
}

}  // namespace qf::kernels::x86
