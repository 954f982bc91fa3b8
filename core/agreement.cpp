#include "core/agreement.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/error.h"

namespace qf {
namespace {

// One row of [rows, cols] outputs: whether the argmaxes (first maximum wins) differ and, when they
// do, how far the reference prefers its argmax over got's and the row's largest |got - reference|.
bool row_flip(const float* g, const float* ref, int64_t cols, double& margin, double& row_diff) {
  const int64_t ar = std::max_element(ref, ref + cols) - ref, ag = std::max_element(g, g + cols) - g;
  if (ar == ag) return false;
  margin = static_cast<double>(ref[ar]) - ref[ag];
  row_diff = 0;
  for (int64_t k = 0; k < cols; ++k) row_diff = std::fmax(row_diff, std::fabs(static_cast<double>(g[k]) - ref[k]));
  return true;
}

}  // namespace

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
    double margin = 0, row_diff = 0;
    if (!row_flip(got.f32.data() + r * cols, reference.f32.data() + r * cols, cols, margin, row_diff)) {
      ++a.top1_matches;
      continue;
    }
    a.near_tie_flips += margin <= 2 * row_diff && row_diff <= kNearTieMaxUnits * a.unit;
  }
  a.top1 = a.rows ? static_cast<double>(a.top1_matches) / static_cast<double>(a.rows) : 1.0;
  return a;
}

std::string describe_disagreement(const Tensor& got, const Tensor& reference) {
  const Agreement a = measure_agreement(got, reference);  // checks the shapes, gives the unit
  const int64_t cols = reference.shape.empty() ? 1 : reference.shape.back();
  std::vector<double> margin, row_diff;
  for (int64_t r = 0; r < a.rows; ++r) {
    double m = 0, d = 0;
    if (!row_flip(got.f32.data() + r * cols, reference.f32.data() + r * cols, cols, m, d)) continue;
    margin.push_back(m / a.unit);
    row_diff.push_back(d / a.unit);
  }
  if (margin.empty()) return "";
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "at the %zu disagreeing rows the reference prefers its argmax by %.3g units (median; max %.3g), and "
                "the rows differ by up to %.3g units (median; max %.3g)",
                margin.size(), median(margin), *std::max_element(margin.begin(), margin.end()), median(row_diff),
                *std::max_element(row_diff.begin(), row_diff.end()));
  return buf;
}

}  // namespace qf
