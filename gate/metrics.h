// The metrics `qforge check` gates on: their names (the keys of a baseline's `metrics:` map),
// units and which way is better. recipes/baselines/README.md documents the same table. Std-only.
#pragma once

#include <string>
#include <vector>

namespace qf::gate {

struct MetricInfo {
  const char* name;
  const char* unit;
  bool higher_is_better;
  const char* meaning;
};

// All known metrics, in the order reports list them.
const std::vector<MetricInfo>& known_metrics();
// nullptr when `name` is not a known metric.
const MetricInfo* find_metric(const std::string& name);

}  // namespace qf::gate
