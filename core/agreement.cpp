#include "core/agreement.h"

#include <cmath>

#include "core/error.h"

namespace qf {

Agreement measure_agreement(const Tensor& got, const Tensor& reference) {
  if (got.shape != reference.shape)
    throw Error("output shape " + shape_str(got.shape) + " differs from the reference " + shape_str(reference.shape));
  Agreement a;
  double rmax = 0;
  for (float v : reference.f32) rmax = std::fmax(rmax, std::fabs(v));
  a.unit = rmax > 0 ? rmax / 127.0 : 1.0;
  for (size_t i = 0; i < got.f32.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got.f32[i]) - reference.f32[i]);
    if (!(d <= a.max_abs_diff)) a.max_abs_diff = std::isnan(d) ? INFINITY : d;
  }
  a.max_diff_units = a.max_abs_diff / a.unit;
  const int64_t cols = reference.shape.empty() ? 1 : reference.shape.back();
  a.rows = cols > 0 ? reference.numel() / cols : 0;
  for (int64_t r = 0; r < a.rows; ++r) {
    int64_t ar = 0, ag = 0;
    for (int64_t k = 1; k < cols; ++k) {
      if (reference.f32[static_cast<size_t>(r * cols + k)] > reference.f32[static_cast<size_t>(r * cols + ar)]) ar = k;
      if (got.f32[static_cast<size_t>(r * cols + k)] > got.f32[static_cast<size_t>(r * cols + ag)]) ag = k;
    }
    a.top1_matches += ar == ag;
  }
  a.top1 = a.rows ? static_cast<double>(a.top1_matches) / static_cast<double>(a.rows) : 1.0;
  return a;
}

}  // namespace qf
