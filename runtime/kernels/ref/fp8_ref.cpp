// Reference kernels of the FP8 E4M3 feature: activation quantization with core's loops and the
// exact FP8 GEMM (core's e4m3_dot_exact per output), the oracle for any faster variant.
#include "core/fp8_quantize.h"
#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::kernels {

void qf8_qf8w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y) {
  const auto* xc = static_cast<const uint8_t*>(x.codes);
  for (int64_t i = 0; i < m; ++i) {
    const float sx = x.scales[x.scale_stride * i];
    for (int64_t o = 0; o < w.n; ++o) {
      const float p = e4m3_dot_exact(xc + i * w.k, w.packed + o * w.k, w.k);
      const float v = p * (sx * w.scales[o]);
      y[i * w.n + o] = bias ? v + bias[o] : v;
    }
  }
}

void f32_quantize_e4m3_ref(const float* x, int64_t n, float scale, uint8_t* codes) {
  quantize_e4m3_tensor(x, n, scale, codes);
}

void f32_quantize_per_row_e4m3_ref(const float* x, int64_t rows, int64_t cols, uint8_t* codes, float* scales) {
  quantize_e4m3_per_row(x, rows, cols, codes, scales);
}

}  // namespace qf::kernels
