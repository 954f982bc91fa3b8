// Reference kernels of the FP8 E4M3 feature: activation quantization with core's loops and the
// exact FP8 GEMM, the oracle for any faster variant.
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core/fp8_quantize.h"
#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::kernels {
namespace {

// core's e4m3_to_int_2p9 for every pattern (the value times 2^9; NaN patterns: 0, flagged).
const std::array<int32_t, 256>& e4m3_int_table() {
  static const std::array<int32_t, 256> t = [] {
    std::array<int32_t, 256> a{};
    for (int b = 0; b < 256; ++b) a[static_cast<size_t>(b)] = e4m3_to_int_2p9(static_cast<uint8_t>(b));
    return a;
  }();
  return t;
}

}  // namespace

// Per output: the exact int64 sum of the integer values (core's e4m3_dot_exact, with the
// activation row decoded once), rounded once to float32, then the epilogue in the contract's order.
void qf8_qf8w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y) {
  const std::array<int32_t, 256>& v = e4m3_int_table();
  const auto* xc = static_cast<const uint8_t*>(x.codes);
  std::vector<int32_t> xi(static_cast<size_t>(w.k));
  for (int64_t i = 0; i < m; ++i) {
    const float sx = x.scales[x.scale_stride * i];
    bool nan = false;
    for (int64_t k = 0; k < w.k; ++k) {
      const uint8_t c = xc[i * w.k + k];
      nan = nan || e4m3_is_nan(c);
      xi[static_cast<size_t>(k)] = v[c];
    }
    for (int64_t o = 0; o < w.n; ++o) {
      const uint8_t* wr = w.packed + o * w.k;
      int64_t acc = 0;  // units of 2^-18
      for (int64_t k = 0; k < w.k; ++k) acc += static_cast<int64_t>(xi[static_cast<size_t>(k)]) * v[wr[k]];
      const float p = nan ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(static_cast<float>(acc), -18);
      const float r = p * (sx * w.scales[o]);
      y[i * w.n + o] = bias ? r + bias[o] : r;
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
