// qforge run RECIPE: trains what the recipe says into a run directory.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/launcher.h"
#include "cli/modifiers.h"
#include "cli/run_support.h"
#include "train/trainer.h"

namespace qf::cli {

void add_run_command(CLI::App& app) {
  struct Options {
    std::string recipe, out, device = "cpu";
    bool resume = false, quiet = false, calibrate = false;
    int threads = 0;
    int nproc = 1;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("run", "Train a model as a recipe says (QAT, pruning, distillation included)");
  cmd->add_option("recipe", opt->recipe, "Recipe file (YAML), e.g. recipes/fashion_cnn_fp32.yaml")->required();
  cmd->add_option("-o,--out", opt->out, "Run directory (default: runs/<recipe name>)");
  cmd->add_flag("--resume", opt->resume, "Continue from the run directory's last checkpoint");
  cmd->add_option("--device", opt->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--threads", opt->threads, "CPU threads (default: all cores)");
  cmd->add_flag("-q,--quiet", opt->quiet, "No progress line");
  cmd->add_option("--nproc", opt->nproc,
                  "Data parallelism: N local worker processes (Gloo on cpu, NCCL on cuda, one GPU each), "
                  "like torchrun; the recipe's batch size is the global batch (docs/DISTRIBUTED.md)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--calibrate-only", opt->calibrate,
                "Post-training quantization: prepare and calibrate the recipe's modifiers on the initial model, "
                "evaluate and save, without training (run directory default: runs/<name>_ptq)");
  cmd->callback([opt] {
    if (opt->nproc > 1) return launch_local_workers(opt->nproc);  // re-runs this command as the workers
    join_job_from_environment(opt->device);                       // a worker (--nproc or torchrun)
    const Recipe recipe = load_recipe(opt->recipe);
    RunRequest req;
    req.run_dir = opt->out.empty() ? default_run_dir(recipe) + (opt->calibrate ? "_ptq" : "") : opt->out;
    req.calibrate_only = opt->calibrate;
    req.resume = opt->resume;
    req.device = opt->device;
    req.threads = opt->threads;
    req.progress = !opt->quiet;
    const train::RunResult r = run_recipe(recipe, req);
    std::printf("%s: %s", req.run_dir.c_str(), recipe.name.c_str());
    for (const auto& [k, v] : r.metrics.values) std::printf("  %s %.4f", k.c_str(), v);
    std::printf("  (%.1f s)\n", r.train_seconds);
  });
}

}  // namespace qf::cli
