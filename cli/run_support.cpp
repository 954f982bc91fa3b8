#include "cli/run_support.h"

#include <filesystem>

#include "cli/modifiers.h"
#include "train/distributed.h"
#include "train/metrics_log.h"

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

namespace fs = std::filesystem;

bool run_finished(const std::string& run_dir) {
  for (const Json& r : train::MetricsLog::read((fs::path(run_dir) / "metrics.jsonl").string()))
    if (r.contains("event") && r.at("event").as_string() == "final") return true;
  return false;
}

std::string ensure_run_of(const std::string& recipe_or_run_dir, const std::string& relative_to_file,
                          const RunRequest& req, const std::string& key) {
  fs::path target = recipe_or_run_dir;
  const fs::path beside = fs::path(relative_to_file).parent_path() / target;
  if (target.is_relative() && !fs::exists(target) && fs::exists(beside)) target = beside;
  if (fs::is_directory(target)) return target.string();
  if (target.extension() != ".yaml" && target.extension() != ".yml")
    throw std::runtime_error(relative_to_file + ": " + key + " '" + recipe_or_run_dir +
                             "' is neither a run directory nor a recipe (.yaml)");
  const Recipe parent = load_recipe(target.string());
  RunRequest parent_req = req;
  parent_req.calibrate_only = false;
  parent_req.stop_after_epochs = 0;  // an interruption simulated for this run is not the parent's
  parent_req.run_dir = default_run_dir(parent);
  parent_req.resume = true;
  if (!run_finished(parent_req.run_dir)) {
    if (train::current_group() != nullptr)  // N workers must not each train it into one folder
      throw std::runtime_error(relative_to_file + ": " + key + " run " + parent_req.run_dir + " has not finished: "
                               "train it first (qforge run " + target.string() + "), then start the data-parallel run");
    std::fprintf(stderr, "%s needs %s: training it first into %s\n", relative_to_file.c_str(), parent.name.c_str(),
                 parent_req.run_dir.c_str());
    run_recipe(parent, parent_req);
  }
  return parent_req.run_dir;
}

std::string ensure_init_run(const Recipe& recipe, const RunRequest& req) {
  if (recipe.model.init_from.empty()) return "";
  return ensure_run_of(recipe.model.init_from, recipe.file, req, "model.init_from");
}

train::RunResult run_recipe(const Recipe& recipe, const RunRequest& req) {
  // Modifier sections are parsed (and checked against the checkpoint contract) before anything
  // runs: a bad recipe neither trains the runs it refers to nor creates a run directory.
  const auto modifiers = make_modifiers(recipe);
  const std::string init_run = ensure_init_run(recipe, req);
  train::RunOptions o;
  if (!init_run.empty()) o.init_checkpoint = (fs::path(init_run) / "checkpoint.pt").string();
  o.run_dir = req.run_dir;
  o.resume = req.resume;
  o.device = parse_device(req.device);
  if (o.device.is_cuda() && train::current_group() != nullptr)  // one GPU per worker: LOCAL_RANK's
    o.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(train::distributed_env_from_environment().local_rank));
  o.threads = req.threads;
  o.progress = req.progress;
  o.calibrate_only = req.calibrate_only;
  o.stop_after_epochs = req.stop_after_epochs;
  train::Trainer trainer(recipe, o);
  for (auto& m : modifiers) trainer.add_modifier(m);
  try {
    return trainer.run();
  } catch (const std::exception& e) {
    // The initial weights are loaded in run(); say which recipe key named them.
    const std::string what = e.what();
    if (!o.init_checkpoint.empty() && what.rfind(o.init_checkpoint, 0) == 0)
      throw std::runtime_error(recipe.file + ":" + std::to_string(recipe.model.init_from_line) + ": key 'init_from' in 'model' ('" +
                               recipe.model.init_from + "'): " + what);
    throw;
  }
}

}  // namespace qf::cli
