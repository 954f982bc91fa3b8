// qforge export / inspect / validate: write a checkpoint from a run, describe one, and prove that
// the standalone runtime reproduces the trained model on the golden inputs it holds.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/modifiers.h"
#include "export/from_torch.h"
#include "runtime/checkpoint_reader.h"
#include "runtime/engine.h"
#include "runtime/inspect.h"
#include "runtime/validate.h"

namespace qf::cli {

void add_export_command(CLI::App& app) {
  struct Options {
    std::string run_dir, output;
    int64_t golden = 64;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("export", "Write a run's trained model as a quantized .qf.h5 checkpoint");
  cmd->add_option("run_dir", opt->run_dir, "Run directory (holds recipe.yaml, checkpoint.pt, metrics.jsonl)")->required();
  cmd->add_option("-o,--output", opt->output, "Checkpoint file to write (default: RUN_DIR/model.qf.h5)");
  cmd->add_option("--golden", opt->golden, "Held-out examples whose outputs are stored for validate")
      ->check(CLI::Range(1, 100000));
  cmd->callback([opt] {
    const std::string out = opt->output.empty() ? (std::filesystem::path(opt->run_dir) / "model.qf.h5").string() : opt->output;
    const Recipe recipe = load_recipe((std::filesystem::path(opt->run_dir) / "recipe.yaml").string());
    exporter::export_run(opt->run_dir, out, opt->golden, recipe, make_modifiers(recipe));
    std::printf("wrote %s (%.1f KiB)\n", out.c_str(), static_cast<double>(std::filesystem::file_size(out)) / 1024.0);
  });
}

void add_inspect_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto show_recipe = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("inspect", "Describe a .qf.h5 checkpoint: layers, bits, sizes, metrics, recipe");
  cmd->add_option("checkpoint", *path, "Checkpoint file (.qf.h5)")->required()->check(CLI::ExistingFile);
  cmd->callback([path] { std::fputs(inspect(read_checkpoint(*path)).to_text().c_str(), stdout); });
}

void add_validate_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto opt = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Run the checkpoint's golden inputs through the standalone runtime and compare with the trained model's "
      "outputs; exits 1 outside the tolerance, 2 on a malformed checkpoint");
  cmd->add_option("checkpoint", *path, "Checkpoint file (.qf.h5)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--min-agreement", opt->min_top1_agreement, "Minimum top-1 agreement (fraction)")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-diff", opt->max_diff_units, "Maximum difference in units of max|output|/127")->capture_default_str();
  cmd->callback([path, opt] {
    Engine engine = [&] {
      try {
        return Engine::load(*path);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "qforge: %s: malformed checkpoint: %s\n", path->c_str(), e.what());
        std::exit(2);
      }
    }();
    const ValidationReport report = validate(engine, *opt);
    std::fputs(report.summary().c_str(), stdout);
    if (!report.passed) std::exit(1);
  });
}

}  // namespace qf::cli
