// qforge check TARGET --baseline FILE: the accuracy-regression gate for CI. Measures the target
// through the standalone runtime (cli/measure.h), compares with the committed baseline
// (gate/compare.h: a fixed margin, or a statistical rule when the baseline holds per-seed
// values), prints a table, writes JUnit XML / JSON, and exits 0 (pass), 1 (regression) or
// 2 (bad input: malformed baseline, missing or unfinished target, recipe mismatch).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/measure.h"
#include "gate/baseline.h"
#include "gate/compare.h"
#include "gate/metrics.h"
#include "gate/report_writers.h"
#include "gate/statistics.h"

namespace qf::cli {
namespace {

// Metrics whose run-to-run spread is what a distribution of seeds describes; the others are
// deterministic functions of the recipe (sizes) or of the runtime (validate), or too machine-
// dependent (speed) to be gated statistically.
bool seed_distributed(const std::string& metric) {
  return metric == "accuracy" || metric == "perplexity" || metric == "bits_per_byte";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int update_baseline(const std::string& file, const std::string& recipe, const gate::Measurements& measured) {
  std::vector<gate::MetricUpdate> updates;
  const bool exists = std::filesystem::exists(file);
  std::vector<std::string> names;
  if (exists) {
    for (const gate::MetricBaseline& m : gate::load_baseline(file).metrics) names.push_back(m.name);
  } else {
    for (const gate::MetricInfo& info : gate::known_metrics())
      if (measured.count(info.name) && std::string(info.name) != "samples_per_s") names.push_back(info.name);
  }
  for (const std::string& name : names) {
    const auto it = measured.find(name);
    if (it == measured.end()) throw BadInput(file + ": metric '" + name + "' is not measured for this target");
    gate::MetricUpdate u;
    u.name = name;
    u.value = gate::summarize(it->second).mean;
    if (it->second.size() >= 2 && seed_distributed(name)) u.seeds = it->second;
    updates.push_back(u);
  }
  const std::string text = exists ? gate::update_baseline_text(read_text(file), file, updates)
                                  : gate::new_baseline_text(recipe, updates);
  gate::write_file_atomically(file, text);
  std::printf("%s %s (%zu metrics)\n", exists ? "updated" : "wrote", file.c_str(), updates.size());
  return 0;
}

}  // namespace

void add_check_command(CLI::App& app) {
  struct Options {
    std::string target, baseline, junit, json;
    bool update = false;
    MeasureOptions measure;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "check",
      "Gate a checkpoint or run against a committed baseline: accuracy/perplexity through the runtime, agreement "
      "(validate), size, bits per weight, speed. Exit 0 pass, 1 regression, 2 bad input. Baseline schema and the "
      "statistical rule: recipes/baselines/README.md");
  cmd->add_option("target", opt->target,
                  "A .qf.h5 checkpoint, a run directory (its model.qf.h5, exported if stale) or a multi-seed run "
                  "directory (seed-*/, from qforge run --seeds)")
      ->required();
  cmd->add_option("-b,--baseline", opt->baseline, "Baseline file (YAML), e.g. recipes/baselines/fashion_cnn_w4a8_sp24_kd.yaml")
      ->required();
  cmd->add_option("--junit", opt->junit, "Also write a JUnit XML report (one test case per metric) here");
  cmd->add_option("--json", opt->json, "Also write a JSON report here");
  cmd->add_flag("--update-baseline", opt->update,
                "Rewrite the baseline's values from this target instead of checking (comments are kept; a missing "
                "file is created with default tolerances)");
  cmd->add_option("--threads", opt->measure.threads, "CPU threads for the runtime's kernels (default: all cores)");
  cmd->add_option("--limit", opt->measure.limit, "Evaluate only the first N held-out examples (tests; default all)");
  cmd->add_option("--data", opt->measure.data, "Dataset location, if not the one the recipe names");
  cmd->callback([opt] {
    const auto t0 = std::chrono::steady_clock::now();
    int code = 0;
    try {
      std::optional<gate::Baseline> baseline;
      if (!opt->update || std::filesystem::exists(opt->baseline)) {
        try {
          baseline = gate::load_baseline(opt->baseline);
        } catch (const std::exception& e) {
          throw BadInput(std::string("malformed baseline: ") + e.what());
        }
      }
      const std::vector<std::string> checkpoints = target_checkpoints(opt->target);
      gate::Measurements measured;
      std::string recipe;
      for (const std::string& ck : checkpoints) {
        std::fprintf(stderr, "measuring %s\n", ck.c_str());
        const CheckpointMeasurement m = measure_checkpoint(ck, opt->measure);
        if (!recipe.empty() && m.recipe_name != recipe)
          throw BadInput(ck + ": recipe '" + m.recipe_name + "', but the other seeds are '" + recipe + "'");
        recipe = m.recipe_name;
        for (const auto& [k, v] : m.values) measured[k].push_back(v);
      }
      if (baseline && baseline->recipe != recipe)
        throw BadInput(opt->baseline + ": the baseline is for recipe '" + baseline->recipe + "', but " + opt->target +
                       " was trained from recipe '" + recipe + "'");
      if (opt->update) {
        code = update_baseline(opt->baseline, recipe, measured);
      } else {
        gate::CheckReport report;
        try {
          report = gate::compare(*baseline, measured, opt->target);
        } catch (const std::exception& e) {
          throw BadInput(e.what());
        }
        std::fputs(gate::report_table(report).c_str(), stdout);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!opt->junit.empty()) gate::write_file_atomically(opt->junit, gate::report_junit_xml(report, secs));
        if (!opt->json.empty()) gate::write_file_atomically(opt->json, gate::report_json(report));
        code = report.passed() ? 0 : 1;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "qforge check: error: %s\n", e.what());
      code = 2;
    }
    std::fflush(stdout);
    std::exit(code);
  });
}

}  // namespace qf::cli
