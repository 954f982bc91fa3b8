#include "runtime/validate.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace qf {

OutputCheck compare_outputs(const Tensor& got, const Tensor& golden) {
  if (got.shape != golden.shape)
    throw Error("validate: output shape " + shape_str(got.shape) + " differs from the golden " + shape_str(golden.shape));
  OutputCheck c;
  double gmax = 0;
  for (float v : golden.f32) gmax = std::fmax(gmax, std::fabs(v));
  c.unit = gmax > 0 ? gmax / 127.0 : 1.0;
  for (size_t i = 0; i < got.f32.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got.f32[i]) - golden.f32[i]);
    if (!(d <= c.max_abs_diff)) c.max_abs_diff = std::isnan(d) ? INFINITY : d;
  }
  c.max_diff_units = c.max_abs_diff / c.unit;
  const int64_t cols = golden.shape.empty() ? 1 : golden.shape.back();
  c.rows = cols > 0 ? golden.numel() / cols : 0;
  for (int64_t r = 0; r < c.rows; ++r) {
    int64_t ag = 0, ay = 0;
    for (int64_t k = 1; k < cols; ++k) {
      if (golden.f32[static_cast<size_t>(r * cols + k)] > golden.f32[static_cast<size_t>(r * cols + ag)]) ag = k;
      if (got.f32[static_cast<size_t>(r * cols + k)] > got.f32[static_cast<size_t>(r * cols + ay)]) ay = k;
    }
    c.top1_matches += ag == ay;
  }
  c.top1_agreement = c.rows ? static_cast<double>(c.top1_matches) / static_cast<double>(c.rows) : 1.0;
  return c;
}

ValidationReport validate(Engine& engine, const ValidateOptions& options) {
  const Checkpoint& ck = engine.checkpoint();
  if (ck.golden.empty()) throw Error("validate: checkpoint " + ck.source + " has no golden cases");
  ValidationReport rep;
  rep.options = options;
  int64_t rows = 0, matches = 0;
  for (size_t i = 0; i < ck.golden.size(); ++i) {
    auto out = engine.run(ck.golden[i].inputs);
    for (const auto& kv : ck.golden[i].outputs) {
      OutputCheck c = compare_outputs(out.at(kv.first), kv.second);
      c.golden_case = static_cast<int>(i);
      c.output = kv.first;
      rows += c.rows;
      matches += c.top1_matches;
      rep.max_diff_units = std::fmax(rep.max_diff_units, c.max_diff_units);
      rep.checks.push_back(c);
    }
  }
  rep.top1_agreement = rows ? static_cast<double>(matches) / static_cast<double>(rows) : 1.0;
  rep.passed = rep.top1_agreement >= options.min_top1_agreement && rep.max_diff_units <= options.max_diff_units;
  return rep;
}

std::string ValidationReport::summary() const {
  std::string s;
  char buf[256];
  for (const OutputCheck& c : checks) {
    std::snprintf(buf, sizeof buf, "case %d output %s: top-1 %lld/%lld (%.2f%%), max |diff| %.3g = %.3f units of %.3g\n",
                  c.golden_case, c.output.c_str(), static_cast<long long>(c.top1_matches),
                  static_cast<long long>(c.rows), 100.0 * c.top1_agreement, c.max_abs_diff, c.max_diff_units, c.unit);
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "%s: top-1 agreement %.2f%% (need >= %.2f%%), max diff %.3f units (need <= %.3f)\n",
                passed ? "PASS" : "FAIL", 100.0 * top1_agreement, 100.0 * options.min_top1_agreement, max_diff_units,
                options.max_diff_units);
  return s + buf;
}

}  // namespace qf
