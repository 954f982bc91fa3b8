// Running a recipe the way every command does: run directory, device, threads, modifiers, and
// the teacher/initial run a recipe refers to (trained first when it does not exist yet).
#pragma once

#include <string>

#include "train/trainer.h"

namespace qf::cli {

struct RunRequest {
  std::string run_dir;
  bool resume = false;
  std::string device = "cpu";
  int threads = 0;
  bool progress = true;
  bool calibrate_only = false;
  int64_t stop_after_epochs = 0;  // > 0: stop after this many epochs in this call (tests simulate interruption)
};

std::string default_run_dir(const Recipe& recipe);
torch::Device parse_device(const std::string& name);
train::RunResult run_recipe(const Recipe& recipe, const RunRequest& request);

// The run directory that `recipe.model.init_from` names (see recipes/README.md), trained first
// (resuming if interrupted) when it has not finished; empty when the recipe has no init_from.
std::string ensure_init_run(const Recipe& recipe, const RunRequest& request);

// The run directory that `recipe_or_run_dir` names: a run directory as it is, or a recipe (.yaml)
// whose run runs/<name> is trained first (resuming if interrupted) when it has not finished.
// Relative paths are tried as given, then beside `relative_to_file` (the recipe that names them).
// `key` names the recipe key in error messages (e.g. "teacher").
std::string ensure_run_of(const std::string& recipe_or_run_dir, const std::string& relative_to_file,
                          const RunRequest& request, const std::string& key = "run");

// True when a run directory holds a finished run (its metrics.jsonl has a "final" record).
bool run_finished(const std::string& run_dir);

}  // namespace qf::cli
