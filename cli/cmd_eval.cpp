// qforge eval TARGET: accuracy (or perplexity) on the recipe's held-out data.
//   TARGET a run directory: the LibTorch model (fake quantization included).
//   TARGET a .qf.h5 checkpoint: the standalone runtime's integer kernels.
#include <torch/torch.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/device_option.h"
#include "cli/eval_checkpoint.h"
#include "cli/modifiers.h"
#include "export/from_torch.h"
#include "runtime/engine.h"
#include "runtime/kernels/threads.h"
#include "train/trainer.h"

namespace qf::cli {

namespace F = torch::nn::functional;

// Runs the whole held-out set through the runtime in chunks and scores it like Task::evaluate.
train::Metrics evaluate_checkpoint(Engine& engine, train::Task& task, bool language_model, int64_t limit) {
  const Graph& g = engine.checkpoint().graph;
  // The same examples, in the same order, as the LibTorch evaluation of the run.
  const train::Batch all = task.golden_batch(limit > 0 ? std::min(limit, task.eval_examples()) : task.eval_examples());
  const int64_t n = all.input.size(0), chunk = language_model ? 8 : 250;
  double loss_sum = 0;
  int64_t correct = 0, count = 0;
  const bool tty = isatty(STDERR_FILENO);
  for (int64_t i = 0; i < n; i += chunk) {
    const int64_t m = std::min(chunk, n - i);
    const auto out = engine.run({{g.inputs.at(0).name, exporter::to_qf(all.input.narrow(0, i, m))}});
    const torch::Tensor logits = exporter::to_torch(out.at(g.outputs.at(0)));
    const torch::Tensor target = all.target.narrow(0, i, m);
    const torch::Tensor flat = logits.reshape({-1, logits.size(-1)});
    loss_sum += F::cross_entropy(flat, target.reshape({-1}), F::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += flat.argmax(1).eq(target.reshape({-1})).sum().item<int64_t>();
    count += target.numel();
    if (tty) std::fprintf(stderr, "\r\033[Kevaluating %lld/%lld", static_cast<long long>(i + m), static_cast<long long>(n));
  }
  if (tty) std::fputc('\n', stderr);
  train::Metrics m;
  const double loss = loss_sum / static_cast<double>(count);
  if (language_model) {
    m.values = {{"val_loss", loss}, {"perplexity", std::exp(loss)}, {"bits_per_byte", loss / std::log(2.0)}};
    m.primary = "bits_per_byte";
  } else {
    m.values = {{"accuracy", 100.0 * static_cast<double>(correct) / static_cast<double>(count)}, {"test_loss", loss}};
    m.primary = "accuracy";
  }
  return m;
}

void add_eval_command(CLI::App& app) {
  struct Options {
    std::string target, data, device = "cpu";
    int threads = 0;
    int64_t limit = 0;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Evaluate a run directory (LibTorch) or a .qf.h5 checkpoint (standalone runtime) on held-out data");
  cmd->add_option("target", opt->target, "Run directory or .qf.h5 checkpoint")->required()->check(CLI::ExistingPath);
  cmd->add_option("--data", opt->data, "Dataset location, if not the one the recipe names");
  cmd->add_option("--limit", opt->limit,
                  "Evaluate only the first N of the recipe's held-out examples (windows for text)");
  cmd->add_option("--threads", opt->threads, "CPU threads for LibTorch and the runtime's kernels (default: all cores)");
  add_device_option(cmd, opt->device);
  cmd->callback([opt] {
    if (opt->threads > 0) torch::set_num_threads(opt->threads);
    kernels::set_num_threads(opt->threads);
    const bool is_checkpoint = std::filesystem::is_regular_file(opt->target);
    std::optional<Engine> engine;
    Recipe recipe;
    if (is_checkpoint) {
      engine.emplace(Engine::load(opt->target, &table_for_device_or_exit(opt->device)));
      recipe = load_recipe_from_string(engine->checkpoint().recipe_yaml, opt->target + ":/recipe");
    } else {
      recipe = load_recipe((std::filesystem::path(opt->target) / "recipe.yaml").string());
    }
    if (!opt->data.empty()) recipe.data.path = opt->data;
    auto task = train::make_task(recipe);
    train::Metrics m;
    if (is_checkpoint) {
      m = evaluate_checkpoint(*engine, *task, recipe.model.family == "gpt" || recipe.model.family == "hf", opt->limit);
    } else {
      auto model = train::load_run_model(opt->target, recipe, *task, make_modifiers(recipe));
      m = task->evaluate(*model, torch::kCPU);
    }
    const std::string how = is_checkpoint ? std::string("runtime, kernels ") + engine->kernel_table().name + ", " +
                                                std::to_string(kernels::num_threads()) + " thread(s)"
                                          : "LibTorch";
    std::printf("%s (%s, %s)\n", opt->target.c_str(), recipe.name.c_str(), how.c_str());
    for (const auto& [k, v] : m.values) std::printf("  %-22s %.4f\n", k.c_str(), v);
  });
}

}  // namespace qf::cli
