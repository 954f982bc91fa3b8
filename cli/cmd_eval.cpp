// qforge eval RUN_DIR: evaluates a trained run (LibTorch model, fake-quant included) on its
// recipe's test data. (Checkpoints .qf.h5 are evaluated through the runtime.)
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/modifiers.h"
#include "train/trainer.h"

namespace qf::cli {

void add_eval_command(CLI::App& app) {
  struct Options {
    std::string target;
    int threads = 0;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a run directory on its test data");
  cmd->add_option("target", opt->target, "Run directory (holds recipe.yaml and checkpoint.pt)")->required();
  cmd->add_option("--threads", opt->threads, "CPU threads (default: all cores)");
  cmd->callback([opt] {
    if (opt->threads > 0) torch::set_num_threads(opt->threads);
    const Recipe recipe = load_recipe((std::filesystem::path(opt->target) / "recipe.yaml").string());
    auto task = train::make_task(recipe);
    auto model = train::load_run_model(opt->target, recipe, *task, make_modifiers(recipe));
    const train::Metrics m = task->evaluate(*model, torch::kCPU);
    std::printf("%s (%s)\n", opt->target.c_str(), recipe.name.c_str());
    for (const auto& [k, v] : m.values) std::printf("  %-22s %.4f\n", k.c_str(), v);
  });
}

}  // namespace qf::cli
