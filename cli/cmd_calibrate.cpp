// qforge calibrate RECIPE -o model.qf.h5: post-training quantization, the PTQ twin of `qforge run`.
// The recipe's model starts `init_from` a float run; its quantization modifier names a PTQ weight
// method in a `ptq` section (gptq, mse, percentile, kl, minmax). Nothing is trained: activation
// ranges are calibrated, weights quantized (GPTQ layer by layer), the result evaluated, saved as a
// run directory (so QAT can continue from it), exported and validated through the runtime.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "export/from_torch.h"
#include "runtime/engine.h"
#include "runtime/kernels/kernels.h"
#include "runtime/validate.h"
#include "train/metrics_log.h"

namespace qf::cli {
namespace {

namespace fs = std::filesystem;

// The "final" record of a run's metrics.jsonl; for a run cut short, its last epoch record (empty
// object when there is neither).
Json final_metrics(const std::string& run_dir) {
  Json final = Json::object(), epoch = Json::object();
  for (const Json& r : train::MetricsLog::read((fs::path(run_dir) / "metrics.jsonl").string())) {
    if (!r.contains("event")) continue;
    if (r.at("event").as_string() == "final") final = r;
    if (r.at("event").as_string() == "epoch") epoch = r;
  }
  return final.as_object().empty() ? epoch : final;
}

bool has_ptq_section(const Recipe& recipe) {
  for (const ModifierSpec& m : recipe.modifiers)
    if (m.type == "quantization" && m.node.has("ptq")) return true;
  return false;
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  struct Options {
    std::string recipe, output, run_dir, device = "cpu";
    int64_t golden = 64;
    int threads = 0;
    bool no_validate = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate",
      "Post-training quantization: calibrate a float run as the recipe's quantization modifier says (ptq: "
      "gptq | mse | percentile | kl | minmax), without training; write, then validate, a .qf.h5 checkpoint");
  cmd->add_option("recipe", opt->recipe, "Recipe (YAML) with model.init_from and a quantization modifier with ptq")
      ->required();
  cmd->add_option("-o,--output", opt->output, "Checkpoint to write (default: RUN_DIR/model.qf.h5)");
  cmd->add_option("--run-dir", opt->run_dir, "Run directory of the calibrated model (default: runs/<name>_ptq)");
  cmd->add_option("--golden", opt->golden, "Held-out examples stored for validate")->check(CLI::Range(1, 100000));
  cmd->add_option("--device", opt->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--threads", opt->threads, "CPU threads (default: all cores)");
  cmd->add_flag("--no-validate", opt->no_validate, "Skip running the checkpoint through the runtime");
  cmd->callback([opt] {
    const Recipe recipe = load_recipe(opt->recipe);
    if (recipe.model.init_from.empty())
      throw std::runtime_error(recipe.file + ": qforge calibrate needs model.init_from (the float run to calibrate)");
    if (!has_ptq_section(recipe))
      throw std::runtime_error(recipe.file +
                               ": qforge calibrate needs a quantization modifier with a ptq section (e.g. "
                               "ptq: {method: gptq}); see recipes/README.md");
    RunRequest req;
    req.run_dir = opt->run_dir.empty() ? default_run_dir(recipe) + "_ptq" : opt->run_dir;
    req.calibrate_only = true;
    req.device = opt->device;
    req.threads = opt->threads;
    const std::string init_run = ensure_init_run(recipe, req);
    const train::RunResult r = run_recipe(recipe, req);

    const std::string out = opt->output.empty() ? (fs::path(req.run_dir) / "model.qf.h5").string() : opt->output;
    std::fprintf(stderr, "exporting %s\n", out.c_str());
    exporter::export_run(req.run_dir, out, opt->golden, recipe, make_modifiers(recipe));

    const Json fl = final_metrics(init_run);
    std::printf("%-12s %s\n", "float", init_run.c_str());
    std::printf("%-12s %s\n", "calibrated", req.run_dir.c_str());
    for (const auto& [k, v] : r.metrics.values) {
      std::printf("  %-16s float %10.4f   ptq %10.4f", k.c_str(), fl.contains(k) ? fl.at(k).as_double() : NAN, v);
      std::printf("\n");
    }
    std::printf("wrote %s (%.1f KiB)\n", out.c_str(), static_cast<double>(fs::file_size(out)) / 1024.0);
    if (opt->no_validate) return;
    const kernels::KernelTable& table = kernels::select_kernels();
    Engine engine = Engine::load(out, &table);
    const ValidationReport report = validate(engine, ValidateOptions{});
    std::fputs(report.summary(false).c_str(), stdout);
    if (!report.passed) {
      std::fprintf(stderr, "qforge calibrate: %s does not validate through the runtime\n", out.c_str());
      std::exit(1);
    }
  });
}

}  // namespace qf::cli
