#include "cli/pipeline.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/measure.h"
#include "cli/plots.h"
#include "gate/report_writers.h"
#include "train/distributed.h"
#include "train/metrics_log.h"

namespace qf::cli {

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Identifies the exact model.qf.h5 a summary was measured on: size and modification time (ns).
std::string file_stamp(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return "";
  return std::to_string(st.st_size) + "@" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

// Training wall time and throughput from the run's metrics.jsonl (resumed epochs included).
void add_training_stats(const std::string& run_dir, int64_t batch_size, Json& out) {
  double seconds = 0;
  int64_t steps = 0, epochs = 0;
  for (const Json& r : train::MetricsLog::read((fs::path(run_dir) / "metrics.jsonl").string())) {
    if (!r.contains("event") || r.at("event").as_string() != "epoch") continue;
    if (r.contains("seconds")) seconds += r.at("seconds").as_double();
    if (r.contains("step")) steps = r.at("step").as_int();
    ++epochs;
  }
  out["train_seconds"] = seconds;
  out["train_epochs"] = epochs;
  out["train_steps"] = steps;
  out["train_samples_per_s"] = seconds > 0 ? static_cast<double>(steps * batch_size) / seconds : 0.0;
}

// The float teacher's quality (its run's last evaluation, LibTorch), when the recipe starts from
// one (model.init_from) or distills from one.
void add_teacher(const Recipe& recipe, const RunRequest& req, Json& out) {
  std::string teacher;
  if (!recipe.model.init_from.empty()) {
    teacher = ensure_init_run(recipe, req);
  } else {
    for (const ModifierSpec& m : recipe.modifiers)
      if (m.type == "distillation")
        if (const auto t = m.node.get_optional<std::string>("teacher")) teacher = ensure_run_of(*t, recipe.file, req, "teacher");
  }
  if (teacher.empty()) return;
  const std::string key = recipe.model.family == "gpt" ? "perplexity" : "accuracy";
  for (const Json& r : train::MetricsLog::read((fs::path(teacher) / "metrics.jsonl").string()))
    if (r.contains(key)) out["teacher_" + key] = r.at(key).as_double();
  out["teacher_run"] = teacher;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

Json run_pipeline(const Recipe& recipe, const RunRequest& req_in, const PipelineOptions& opt) {
  RunRequest req = req_in;
  const fs::path dir = req.run_dir;
  Json stages = Json::object();
  // --- train: skipped when a finished run of this very recipe text is there; resumed when not finished.
  const bool same_recipe = fs::exists(dir / "recipe.yaml") && read_text(dir / "recipe.yaml") == recipe.text;
  if (!opt.fresh && same_recipe && run_finished(dir.string())) {
    stages["train"] = "current (finished run of the same recipe)";
    std::fprintf(stderr, "train: %s is finished and its recipe.yaml is this recipe: skipped\n", dir.c_str());
  } else {
    const bool can_resume = !opt.fresh && same_recipe && fs::exists(dir / "checkpoint.pt");
    req.resume = req.resume || can_resume;
    if (!same_recipe && fs::exists(dir / "recipe.yaml") && !opt.fresh)
      std::fprintf(stderr, "train: %s holds a run of another recipe text: training from scratch\n", dir.c_str());
    const train::RunResult r = run_recipe(recipe, req);
    stages["train"] = std::string(can_resume ? "resumed" : "trained") + ", " + std::to_string(r.epochs_run) + " epoch(s) in this call";
  }
  if (opt.train_only) return Json();
  // Data parallel: the stages below run on rank 0 alone (the other ranks stop after training), so
  // it leaves the job; its collectives would wait on workers that have gone.
  train::set_current_group(nullptr);
  if (!run_finished(dir.string()))
    throw std::runtime_error(dir.string() + ": training stopped before the end (no \"final\" record); run again to resume");

  // --- export
  const fs::path model = dir / "model.qf.h5";
  const std::string before = file_stamp(model);
  ensure_exported(dir.string());
  stages["export"] = before == file_stamp(model) ? "current (model.qf.h5 newer than checkpoint.pt)" : "wrote model.qf.h5";

  // --- validate + eval (+ size): reused when summary.json was measured on this model.qf.h5.
  const fs::path summary_path = dir / "summary.json";
  Json summary;
  const std::string stamp = file_stamp(model);
  if (fs::exists(summary_path)) {
    try {
      Json old = Json::parse(read_text(summary_path));
      if (old.contains("model_stamp") && old.at("model_stamp").as_string() == stamp &&
          old.contains("eval_limit") && old.at("eval_limit").as_int() == opt.eval_limit)
        summary = old;
    } catch (const std::exception&) {
      // a damaged summary is measured again
    }
  }
  if (!summary.is_null()) {
    stages["validate"] = "current (summary.json measured on this model.qf.h5)";
    stages["eval"] = "current";
  } else {
    MeasureOptions mo;
    mo.threads = req.threads;
    mo.limit = opt.eval_limit;
    const CheckpointMeasurement m = measure_checkpoint(model.string(), mo);
    summary = Json::object();
    summary["run_dir"] = dir.string();
    summary["recipe"] = recipe.name;
    summary["seed"] = recipe.seed;
    summary["model_stamp"] = stamp;
    summary["eval_limit"] = opt.eval_limit;
    summary["kernels"] = m.kernels;
    summary["eval_examples"] = m.examples;
    summary["validate_summary"] = m.validate_summary;
    Json metrics = Json::object();
    for (const auto& [k, v] : m.values) metrics[k] = v;
    summary["metrics"] = metrics;
    stages["validate"] = m.values.at("validate") == 1 ? "PASS" : "FAIL";
    stages["eval"] = "measured";
  }
  add_training_stats(dir.string(), recipe.data.batch_size, summary);
  add_teacher(recipe, req, summary);
  // --- plots: the training curves (a missing gnuplot costs the picture, not the run)
  const fs::path curves = dir / "curves.png";
  if (fs::exists(curves) && fs::last_write_time(curves) >= fs::last_write_time(dir / "metrics.jsonl")) {
    stages["plots"] = "current (curves.png)";
  } else {
    try {
      plot_training_curves(dir.string());
      stages["plots"] = "wrote curves.png";
    } catch (const std::exception& e) {
      stages["plots"] = std::string("skipped: ") + e.what();
    }
  }
  summary["stages"] = stages;
  gate::write_file_atomically(summary_path.string(), summary.dump() + "\n");
  return summary;
}

std::string summary_table(const Json& s) {
  const Json& m = s.at("metrics");
  auto has = [&](const char* k) { return m.contains(k); };
  std::string out = "\nsummary: " + s.at("run_dir").as_string() + " (recipe " + s.at("recipe").as_string() + ", seed " +
                    std::to_string(s.at("seed").as_int()) + ")\n";
  if (s.contains("stages"))
    for (const char* k : {"train", "export", "validate", "eval", "plots"})  // pipeline order
      if (s.at("stages").contains(k))
        out += "  stage " + std::string(k) + std::string(10 - std::min<size_t>(9, std::strlen(k)), ' ') +
               s.at("stages").at(k).as_string() + "\n";
  auto row = [&](const std::string& name, const std::string& value) {
    out += "  " + name + std::string(name.size() < 24 ? 24 - name.size() : 1, ' ') + value + "\n";
  };
  const std::string n = std::to_string(s.at("eval_examples").as_int());
  if (has("accuracy")) {
    row("accuracy (runtime)", fmt("%.2f %%", m.at("accuracy").as_double()) + " on " + n + " held-out images");
    if (s.contains("teacher_accuracy"))
      row("delta vs float teacher", fmt("%+.2f points", m.at("accuracy").as_double() - s.at("teacher_accuracy").as_double()) +
                                        fmt(" (teacher %.2f %%, LibTorch, ", s.at("teacher_accuracy").as_double()) +
                                        s.at("teacher_run").as_string() + ")");
  }
  if (has("perplexity")) {
    row("perplexity (runtime)", fmt("%.4f", m.at("perplexity").as_double()) + " on " + n + " held-out windows");
    if (s.contains("teacher_perplexity"))
      row("delta vs float teacher", fmt("%+.4f", m.at("perplexity").as_double() - s.at("teacher_perplexity").as_double()) +
                                        fmt(" (teacher %.4f, LibTorch, ", s.at("teacher_perplexity").as_double()) +
                                        s.at("teacher_run").as_string() + ")");
  }
  const double bytes = m.at("size_bytes").as_double(), bpw = m.at("bits_per_weight").as_double();
  row("size (layers)", fmt("%.1f KiB", bytes / 1024) + (bpw > 0 ? fmt(", %.1fx smaller than float32", 32 / bpw) : ""));
  row("bits per weight", fmt("%.2f", bpw));
  row("agreement", fmt("top-1 %.2f %% with the golden outputs; ", 100 * m.at("agreement").as_double()) +
                       (m.at("validate").as_double() == 1 ? "validate PASS" : "validate FAIL"));
  const double ts = s.at("train_seconds").as_double();
  row("train wall time", (ts >= 120 ? fmt("%.1f min", ts / 60) : fmt("%.1f s", ts)) + " (" +
                             std::to_string(s.at("train_epochs").as_int()) + " epochs, " +
                             std::to_string(s.at("train_steps").as_int()) + " steps)");
  row("train samples/s", fmt("%.0f", s.at("train_samples_per_s").as_double()));
  row("runtime samples/s", fmt("%.0f", m.at("samples_per_s").as_double()) + " (eval, kernels " + s.at("kernels").as_string() + ")");
  return out;
}

}  // namespace qf::cli
