// Reference decoder kernels: plain loops in the order the contract (FORMAT.md, "Ops") states.
#include "runtime/kernels/ref/decoder_ref.h"
#include "runtime/kernels/ref/attention_impl.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace qf::kernels {

void f32_rms_norm_ref(const float* x, int64_t n, int64_t d, const float* w, float eps, int plus_one, float* y) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * d;
    double ss = 0.0;  // double: the statistic is the precision-sensitive part
    for (int64_t c = 0; c < d; ++c) ss += static_cast<double>(xr[c]) * xr[c];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + static_cast<double>(eps)));
    for (int64_t c = 0; c < d; ++c) y[r * d + c] = (xr[c] * inv) * (plus_one ? 1.0f + w[c] : w[c]);
  }
}

void f32_rope_ref(const float* x, int64_t rows, int64_t period, int64_t p0, int64_t heads, int64_t h2,
                  const float* inv_freq, float* y) {
  const int64_t c = heads * 2 * h2;
  for (int64_t r = 0; r < rows; ++r) {
    const float pos = static_cast<float>(p0 + r % period);
    for (int64_t i = 0; i < h2; ++i) {
      // cos / sin of the float32 angle in double, rounded once: libms agree on these bits.
      const float a = pos * inv_freq[i];
      const float cs = static_cast<float>(std::cos(static_cast<double>(a)));
      const float sn = static_cast<float>(std::sin(static_cast<double>(a)));
      for (int64_t h = 0; h < heads; ++h) {
        const float* xh = x + r * c + h * 2 * h2;
        float* yh = y + r * c + h * 2 * h2;
        const float lo = xh[i], hi = xh[i + h2];  // read both before writing (in-place safe)
        yh[i] = lo * cs - hi * sn;
        yh[i + h2] = hi * cs + lo * sn;
      }
    }
  }
}

void f32_gqa_attention_ref(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                           int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                           float scale, float* scratch, float* y) {
  (void)scratch;
  ref_impl::gqa_attention(q, q_stride, ref_impl::FloatRows{k, v, kv_stride}, t, l, heads, kv_heads, d, window, scale, y);
}

void f32_gated_act_ref(const float* g, const float* u, int64_t n, int act, float* y) {
  // The activation in double, rounded once, then one float32 multiply by u.
  if (act == 0) {
    for (int64_t i = 0; i < n; ++i) {
      const double x = g[i];
      y[i] = static_cast<float>(x / (1.0 + std::exp(-x))) * u[i];
    }
  } else {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's gelu(approximate='tanh').
    const double k = 0.79788456080286535588;
    for (int64_t i = 0; i < n; ++i) {
      const double x = g[i];
      y[i] = static_cast<float>(0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)))) * u[i];
    }
  }
}

void f32_scale_ref(const float* x, int64_t n, float s, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s;
}

}  // namespace qf::kernels
