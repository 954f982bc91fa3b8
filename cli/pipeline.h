// `qforge run RECIPE` as one job: train -> export -> validate -> eval -> summary. Each stage is
// skipped when its output is current (a finished run of the same recipe text; a model.qf.h5
// newer than checkpoint.pt; a summary.json measured on that very model.qf.h5) and an interrupted
// training resumes from its last epoch. The summary (quality, delta vs the float teacher, size,
// bits per weight, agreement, wall time, samples/s) is printed and kept in RUN_DIR/summary.json.
#pragma once

#include <string>

#include "cli/run_support.h"
#include "core/json.h"

namespace qf::cli {

struct PipelineOptions {
  bool train_only = false;  // stop after training (the old `qforge run`)
  bool fresh = false;       // retrain even if a finished run of the same recipe exists
  int64_t eval_limit = 0;   // evaluate only the first N held-out examples (tests)
};

// Runs the stages for `recipe` into request.run_dir; returns RUN_DIR/summary.json's content
// (null with train_only).
Json run_pipeline(const Recipe& recipe, const RunRequest& request, const PipelineOptions& options);

// The summary table of one run, from its summary.json record.
std::string summary_table(const Json& summary);

}  // namespace qf::cli
