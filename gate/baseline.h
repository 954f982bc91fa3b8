// A baseline: the committed reference values `qforge check` compares a target with, read from
// YAML (schema: recipes/baselines/README.md). Parsed with the recipes' strict parser
// (train/recipe_node.h), so errors name file:line and the key:
//   recipes/baselines/x.yaml:7: key 'tolerance' in 'metrics.accuracy' must be a number, got 'small'
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace qf::gate {

struct MetricBaseline {
  std::string name;
  int line = 1;                  // line of the metric's key
  std::optional<double> value;   // reference value (a single run, or the mean of `seeds`)
  std::vector<double> seeds;     // per-seed values: when >= 2, the statistical rule applies
  double tolerance = 0;          // allowed worsening in metric units
  double tolerance_pct = 0;      // allowed worsening in % of `value` (the larger of the two wins)
};

struct Baseline {
  std::string file;
  std::string recipe;  // the target's recipe name must be this
  double alpha = 0.01;  // false-alarm rate of the statistical rule
  std::vector<MetricBaseline> metrics;  // document order
};

// Throws std::runtime_error "<file>:<line>: ..." on anything malformed.
Baseline load_baseline(const std::string& path);
Baseline parse_baseline(const std::string& text, const std::string& file_name);

// The new values --update-baseline writes for one metric: `value`, and `seeds` when the target
// had several seeds (then `value` is their mean).
struct MetricUpdate {
  std::string name;
  double value = 0;
  std::vector<double> seeds;  // empty: a single-run target (an existing `seeds:` list is removed)
};

// Rewrites `text` (a baseline that parses) with the updates applied in place: only the scalars
// and lists that change are replaced, so comments, key order and layout stay. A metric absent
// from the file is added at the end of `metrics:` (block style). Throws std::runtime_error naming
// file:line when a value it must change is written in a form it cannot edit in place.
std::string update_baseline_text(const std::string& text, const std::string& file_name,
                                 const std::vector<MetricUpdate>& updates);

// A new baseline file's text for `recipe` with default tolerances (see the README).
std::string new_baseline_text(const std::string& recipe, const std::vector<MetricUpdate>& updates);

// Shortest decimal text that reads back as the same double ("92.96", not "92.959999999999994").
std::string format_number(double v);

}  // namespace qf::gate
