// `qforge validate`: rerun the checkpoint's golden inputs and compare with the stored outputs
// (export/FORMAT.md, "Validation").
#pragma once

#include <string>
#include <vector>

#include "runtime/engine.h"

namespace qf {

struct ValidateOptions {
  double min_top1_agreement = 0.99;  // fraction of rows whose argmax over the last dim agrees
  double max_diff_units = 2.0;       // max |y - golden| in units of max|golden| / 127
};

struct OutputCheck {
  int golden_case = 0;
  std::string output;
  int64_t rows = 0;           // rows compared for top-1 (all dims but the last)
  int64_t top1_matches = 0;
  double top1_agreement = 0;  // top1_matches / rows
  double max_abs_diff = 0;
  double unit = 1;            // max|golden| / 127 (1 when the golden output is all zeros)
  double max_diff_units = 0;  // max_abs_diff / unit
};

struct ValidationReport {
  std::vector<OutputCheck> checks;
  double top1_agreement = 1;  // over all rows of all checks
  double max_diff_units = 0;  // worst over all checks
  bool passed = false;
  ValidateOptions options;
  std::string summary() const;  // one human-readable line per check + verdict
};

// Throws qf::Error when the checkpoint has no golden cases or an output's shape differs from the
// golden one (that is a broken checkpoint, not a numerical disagreement).
ValidationReport validate(Engine& engine, const ValidateOptions& options = {});

// The comparison itself, for callers that ran outputs themselves.
OutputCheck compare_outputs(const Tensor& got, const Tensor& golden);

}  // namespace qf
