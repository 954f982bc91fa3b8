#include "core/fp8_quantize.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/quant.h"

namespace qf {

float e4m3_scale(float absmax) {
  float s = absmax / kE4M3Max;
  if (!(s > kMinScale)) s = absmax > 0.0f ? kMinScale : 1.0f;
  return s;
}

void quantize_e4m3_matrix(const float* x, const QuantLayout& layout, const float* given, float* scales,
                          uint8_t* codes) {
  if (layout.granularity == Granularity::kGroup)
    throw Error("fp8_e4m3 scales are per tensor or per channel, not per group");
  const int64_t rows = layout.rows, cols = layout.cols, np = layout.num_params();
  if (given) {
    for (int64_t p = 0; p < np; ++p) {
      if (!std::isfinite(given[p]) || !(given[p] > 0.0f))
        throw Error("fp8_e4m3 scale " + std::to_string(p) + " is not finite and > 0");
      scales[p] = given[p];
    }
  } else {
    std::vector<float> amax(static_cast<size_t>(np), 0.0f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k) {
        float& a = amax[static_cast<size_t>(layout.param_index(r, k))];
        a = std::fmax(a, std::fabs(x[r * cols + k]));
      }
    for (int64_t p = 0; p < np; ++p) scales[p] = e4m3_scale(amax[static_cast<size_t>(p)]);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k)
      codes[r * cols + k] = fp32_to_e4m3(x[r * cols + k] / scales[layout.param_index(r, k)]);
}

void dequantize_e4m3_matrix(const uint8_t* codes, const QuantLayout& layout, const float* scales, float* x) {
  for (int64_t r = 0; r < layout.rows; ++r)
    for (int64_t k = 0; k < layout.cols; ++k)
      x[r * layout.cols + k] = e4m3_to_fp32(codes[r * layout.cols + k]) * scales[layout.param_index(r, k)];
}

void quantize_e4m3_tensor(const float* x, int64_t n, float scale, uint8_t* codes) {
  for (int64_t i = 0; i < n; ++i) codes[i] = fp32_to_e4m3(x[i] / scale);
}

void quantize_e4m3_per_row(const float* x, int64_t rows, int64_t cols, uint8_t* codes, float* scales) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float amax = 0.0f;
    for (int64_t k = 0; k < cols; ++k) amax = std::fmax(amax, std::fabs(xr[k]));  // fmax skips NaN
    scales[r] = e4m3_scale(amax);
    quantize_e4m3_tensor(xr, cols, scales[r], codes + r * cols);
  }
}

float e4m3_dot_exact(const uint8_t* a, const uint8_t* b, int64_t n) {
  int64_t acc = 0;  // in units of 2^-18
  bool nan = false;
  for (int64_t k = 0; k < n; ++k) {
    nan = nan || e4m3_is_nan(a[k]);
    acc += static_cast<int64_t>(e4m3_to_int_2p9(a[k])) * e4m3_to_int_2p9(b[k]);
  }
  if (nan) return std::numeric_limits<float>::quiet_NaN();
  // int64 -> float32 rounds to nearest even once; the power-of-two scaling is exact (a nonzero
  // |acc| >= 1 stays a normal float32).
  return std::ldexp(static_cast<float>(acc), -18);
}

}  // namespace qf
