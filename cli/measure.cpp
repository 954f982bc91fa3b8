#include "cli/measure.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "cli/eval_checkpoint.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "export/from_torch.h"
#include "runtime/engine.h"
#include "runtime/inspect.h"
#include "runtime/kernels/threads.h"
#include "runtime/validate.h"
#include "train/recipe.h"

namespace qf::cli {

namespace fs = std::filesystem;

CheckpointMeasurement measure_checkpoint(const std::string& path, const MeasureOptions& o) {
  kernels::set_num_threads(o.threads);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const kernels::KernelTable& table = kernels::select_kernels();
  std::optional<Engine> engine;
  try {
    engine.emplace(Engine::load(path, &table));
  } catch (const std::exception& e) {
    throw BadInput(path + ": malformed checkpoint: " + e.what());
  }
  CheckpointMeasurement m;
  m.path = path;
  m.kernels = engine->kernel_table().name;
  Recipe recipe;
  try {
    recipe = load_recipe_from_string(engine->checkpoint().recipe_yaml, path + ":/recipe");
  } catch (const std::exception& e) {
    throw BadInput(e.what());
  }
  if (!o.data.empty()) recipe.data.path = o.data;
  m.recipe_name = recipe.name;
  m.language_model = recipe.model.family == "gpt";

  const InspectSummary s = inspect(engine->checkpoint());
  m.values["size_bytes"] = static_cast<double>(s.total_bytes);
  m.values["bits_per_weight"] = s.bits_per_weight;

  const ValidationReport v = validate(*engine);
  m.values["agreement"] = v.top1_agreement;
  m.values["validate"] = v.passed ? 1 : 0;
  std::string summary = v.summary(false);
  while (!summary.empty() && summary.back() == '\n') summary.pop_back();
  m.validate_summary = summary.substr(summary.rfind('\n') == std::string::npos ? 0 : summary.rfind('\n') + 1);

  auto task = train::make_task(recipe);
  m.examples = o.limit > 0 ? std::min(o.limit, task->eval_examples()) : task->eval_examples();
  const auto t0 = std::chrono::steady_clock::now();
  const train::Metrics q = evaluate_checkpoint(*engine, *task, m.language_model, o.limit);
  m.eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& [k, val] : q.values)
    if (k == "accuracy" || k == "perplexity" || k == "bits_per_byte") m.values[k] = val;
  // Samples are images, or text windows for a language model.
  m.values["samples_per_s"] = m.eval_seconds > 0 ? static_cast<double>(m.examples) / m.eval_seconds : 0;
  return m;
}

std::string ensure_exported(const std::string& run_dir, int64_t golden) {
  const fs::path ck = fs::path(run_dir) / "checkpoint.pt", out = fs::path(run_dir) / "model.qf.h5";
  if (fs::exists(out) && (!fs::exists(ck) || fs::last_write_time(out) >= fs::last_write_time(ck))) return out.string();
  if (!fs::exists(ck)) throw BadInput(run_dir + ": no checkpoint.pt and no model.qf.h5 (not a run directory?)");
  const Recipe recipe = load_recipe((fs::path(run_dir) / "recipe.yaml").string());
  exporter::export_run(run_dir, out.string(), golden, recipe, make_modifiers(recipe));
  return out.string();
}

namespace {

std::vector<std::string> seed_dirs(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("seed-", 0) == 0) out.push_back(e.path().string());
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    auto num = [](const std::string& p) { return std::stoll(fs::path(p).filename().string().substr(5)); };
    return num(a) < num(b);
  });
  return out;
}

std::string run_checkpoint(const std::string& dir) {
  if (fs::exists(fs::path(dir) / "checkpoint.pt") && !run_finished(dir))
    throw BadInput(dir + ": the run has not finished (no \"final\" record in metrics.jsonl); finish it with qforge run --resume");
  return ensure_exported(dir);
}

}  // namespace

std::vector<std::string> target_checkpoints(const std::string& target) {
  if (!fs::exists(target)) throw BadInput(target + ": no such file or run directory");
  if (fs::is_regular_file(target)) return {target};
  const std::vector<std::string> seeds = seed_dirs(target);
  if (!seeds.empty()) {
    std::vector<std::string> out;
    for (const std::string& d : seeds) out.push_back(run_checkpoint(d));
    return out;
  }
  if (!fs::exists(fs::path(target) / "model.qf.h5") && !fs::exists(fs::path(target) / "checkpoint.pt"))
    throw BadInput(target + ": neither a checkpoint (.qf.h5) nor a run directory (no checkpoint.pt, model.qf.h5 or seed-*/)");
  return {run_checkpoint(target)};
}

}  // namespace qf::cli
