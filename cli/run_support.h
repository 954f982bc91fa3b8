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
};

std::string default_run_dir(const Recipe& recipe);
torch::Device parse_device(const std::string& name);
train::RunResult run_recipe(const Recipe& recipe, const RunRequest& request);

}  // namespace qf::cli
