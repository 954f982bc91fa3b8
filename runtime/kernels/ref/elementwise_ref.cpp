// Reference float kernels: activations, softmax, layernorm, causal attention.
#include <cmath>
#include <limits>

#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::kernels {

void f32_relu_ref(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void f32_gelu_ref(const float* x, int64_t n, float* y) {
  // Exact (erf) GELU, torch.nn.functional.gelu's default.
  const float inv_sqrt2 = 0.70710678118654752440f;
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * inv_sqrt2));
}

void f32_softmax_ref(const float* x, int64_t rows, int64_t cols, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < cols; ++c) m = std::fmax(m, xr[c]);
    float s = 0.0f;
    for (int64_t c = 0; c < cols; ++c) s += (yr[c] = std::exp(xr[c] - m));
    for (int64_t c = 0; c < cols; ++c) yr[c] /= s;
  }
}

void f32_layernorm_ref(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                       float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    double mean = 0.0, var = 0.0;  // double: the statistics are the precision-sensitive part
    for (int64_t c = 0; c < cols; ++c) mean += xr[c];
    mean /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= static_cast<double>(cols);  // biased, like PyTorch
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const float mu = static_cast<float>(mean);
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = (xr[c] - mu) * rstd * gamma[c] + beta[c];
  }
}

void f32_causal_attention_ref(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                              int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y) {
  const int64_t d = c / heads;
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < t; ++i) {
      const float* qi = q + i * q_stride + h * d;
      const int64_t visible = l - t + i + 1;  // causal: keys 0 .. position of query i
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < visible; ++j) {
        const float* kj = k + j * kv_stride + h * d;
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
        const float* vj = v + j * kv_stride + h * d;
        for (int64_t e = 0; e < d; ++e) yi[e] += p * vj[e];
      }
    }
}

}  // namespace qf::kernels
