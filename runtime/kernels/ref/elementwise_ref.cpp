// Reference float kernels: activations, softmax, layernorm, causal attention.
#include <cmath>
#include <limits>

#include "runtime/kernels/ref/attention_impl.h"
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
  ref_impl::causal_attention(q, q_stride, ref_impl::FloatRows{k, v, kv_stride}, t, l, c, heads, scratch, y);
}

}  // namespace qf::kernels
