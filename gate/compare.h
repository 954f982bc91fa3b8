// Comparing measured metrics with a baseline: one verdict per metric, with the rule that decided
// it and a message a person can act on. Std-only.
//
// The rule (recipes/baselines/README.md):
//   - the baseline holds `seeds` (>= 2 per-seed values): the statistical rule of
//     gate/statistics.h (a pooled one-sided t-test; for one candidate value, the prediction
//     bound) at the baseline's alpha. A `tolerance` then is a minimum effect: the metric fails
//     only when the rule says "worse" and it is worse by more than the tolerance too.
//   - otherwise a fixed margin: fail when the candidate (the mean of its values) is worse than
//     `value` by more than max(tolerance, tolerance_pct% of |value|).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "gate/baseline.h"

namespace qf::gate {

// Measured values per metric: one per checkpoint (several for a multi-seed target).
using Measurements = std::map<std::string, std::vector<double>>;

struct MetricResult {
  std::string name, unit;
  bool higher_is_better = true;
  bool passed = false;
  std::string rule;             // "margin" | "prediction" (one value) | "t-test" (several)
  std::vector<double> values;   // candidate values
  double candidate = 0;         // their mean
  double reference = 0;         // baseline value (or mean of its seeds)
  double limit = 0;             // the worst passing candidate value (mean)
  double p_value = -1;          // statistical rules: one-sided p; -1 otherwise
  std::string baseline_text;    // e.g. "92.95 ± 0.12 (5 seeds)" or "92.96 (−0.5)"
  std::string message;          // why it passed or failed
};

struct CheckReport {
  std::string target, baseline_file, recipe;
  double alpha = 0.01;
  std::vector<MetricResult> results;  // baseline order
  bool passed() const;
  int failures() const;
};

// Throws std::runtime_error "<baseline>:<line>: ..." when the baseline names a metric that was
// not measured for this target (e.g. perplexity for an image classifier): bad input, not a
// regression.
CheckReport compare(const Baseline& baseline, const Measurements& measured, const std::string& target);

}  // namespace qf::gate
