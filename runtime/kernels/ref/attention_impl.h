// The reference attention loops, written once over a "rows" accessor so that the float cache
// (rows are pointers into it) and the quantized cache (rows dequantized into a small buffer as
// they are read) run the very same arithmetic: the quantized kernels equal the float kernels on
// the dequantized cache, bit for bit (tests/runtime/kv_cache_test.cpp).
//   rows.key(j, off, n, buf) / rows.value(...): values [off, off + n) of cache row j, either a
//   pointer into the cache or `buf` (>= n floats) filled with them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace qf::kernels::ref_impl {

template <typename Rows>
void causal_attention(const float* q, int64_t q_stride, const Rows& rows, int64_t t, int64_t l, int64_t c,
                      int64_t heads, float* scratch, float* y) {
  const int64_t d = c / heads;
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  std::vector<float> buf(static_cast<size_t>(d));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < t; ++i) {
      const float* qi = q + i * q_stride + h * d;
      const int64_t visible = l - t + i + 1;  // causal: keys 0 .. position of query i
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < visible; ++j) {
        const float* kj = rows.key(j, h * d, d, buf.data());
        float s = 0.0f;
        for (int64_t e = 0; e < d; ++e) s += qi[e] * kj[e];
        scratch[j] = s * inv_sqrt_d;
        m = std::fmax(m, scratch[j]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j < visible; ++j) sum += (scratch[j] = std::exp(scratch[j] - m));
      float* yi = y + i * c + h * d;
      for (int64_t e = 0; e < d; ++e) yi[e] = 0.0f;
      for (int64_t j = 0; j < visible; ++j) {
        const float p = scratch[j] / sum;
        const float* vj = rows.value(j, h * d, d, buf.data());
        for (int64_t e = 0; e < d; ++e) yi[e] += p * vj[e];
      }
    }
}

template <typename Rows>
void gqa_attention(const float* q, int64_t q_stride, const Rows& rows, int64_t t, int64_t l, int64_t heads,
                   int64_t kv_heads, int64_t d, int64_t window, float scale, float* y) {
  // Scores, softmax and the weighted sum in double, rounded once: two implementations that sum
  // in different orders then agree to the last float bit almost always, so a per-token
  // quantizer downstream sees the same codes (FORMAT.md, gqa_attention).
  std::vector<double> p(static_cast<size_t>(l)), acc(static_cast<size_t>(d));
  std::vector<float> buf(static_cast<size_t>(d));
  const int64_t group = heads / kv_heads, c = heads * d;
  for (int64_t h = 0; h < heads; ++h) {
    const int64_t g = h / group;
    for (int64_t i = 0; i < t; ++i) {
      const float* qi = q + i * q_stride + h * d;
      const int64_t pos = l - t + i;
      const int64_t first = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = first; j <= pos; ++j) {
        const float* kj = rows.key(j, g * d, d, buf.data());
        double s = 0.0;
        for (int64_t e = 0; e < d; ++e) s += static_cast<double>(qi[e]) * kj[e];
        p[j] = s * static_cast<double>(scale);
        m = std::fmax(m, p[j]);
      }
      double sum = 0.0;
      for (int64_t j = first; j <= pos; ++j) sum += (p[j] = std::exp(p[j] - m));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = first; j <= pos; ++j) {
        const double w = p[j] / sum;
        const float* vj = rows.value(j, g * d, d, buf.data());
        for (int64_t e = 0; e < d; ++e) acc[e] += w * vj[e];
      }
      float* yi = y + i * c + h * d;
      for (int64_t e = 0; e < d; ++e) yi[e] = static_cast<float>(acc[e]);
    }
  }
}

// A float cache: rows are pointers into it.
struct FloatRows {
  const float *k, *v;
  int64_t stride;
  const float* key(int64_t j, int64_t off, int64_t, float*) const { return k + j * stride + off; }
  const float* value(int64_t j, int64_t off, int64_t, float*) const { return v + j * stride + off; }
};

}  // namespace qf::kernels::ref_impl
