#include "cli/run_support.h"

#include <filesystem>

#include "cli/modifiers.h"

namespace qf::cli {

std::string default_run_dir(const Recipe& recipe) { return "runs/" + recipe.name; }

torch::Device parse_device(const std::string& name) {
  if (name == "cuda") {
    if (!torch::cuda::is_available())
      throw std::runtime_error("--device cuda: this LibTorch build or machine has no CUDA device");
    return torch::kCUDA;
  }
  return torch::kCPU;
}

train::RunResult run_recipe(const Recipe& recipe, const RunRequest& req) {
  train::RunOptions o;
  o.run_dir = req.run_dir;
  o.resume = req.resume;
  o.device = parse_device(req.device);
  o.threads = req.threads;
  o.progress = req.progress;
  train::Trainer trainer(recipe, o);
  for (auto& m : make_modifiers(recipe)) trainer.add_modifier(m);
  return trainer.run();
}

}  // namespace qf::cli
