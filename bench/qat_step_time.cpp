// QAT step time over float step time, same recipe, model, batch and thread count, one run.
//   qforge_bench_qat_step RECIPE [--steps N] [--threads T]
// The float baseline is the recipe's model without its modifiers; QAT is the model after the
// recipe's modifiers prepared it (fake quantization on). Prints a table; asserts nothing.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/modifiers.h"
#include "train/trainer.h"

using namespace qf;

namespace {

double ms_per_step(train::ZooModel& model, train::Task& task, int64_t steps) {
  torch::optim::AdamW opt(model.parameters(), torch::optim::AdamWOptions(1e-4));
  model.train();
  auto step = [&](int64_t i) {
    const train::Batch b = task.train_batch(0, i % task.steps_per_epoch());
    opt.zero_grad();
    task.loss(model.forward(b.input), b).backward();
    opt.step();
  };
  for (int64_t i = 0; i < 3; ++i) step(i);  // warm-up: allocator, caches
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step(i);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
         static_cast<double>(steps);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"QAT step time over float step time for one recipe"};
  std::string path;
  int64_t steps = 30;
  int threads = 0;
  app.add_option("recipe", path, "A recipe with a quantization modifier")->required();
  app.add_option("--steps", steps, "Timed steps per variant")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (default: all cores)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) torch::set_num_threads(threads);

  const Recipe recipe = load_recipe(path);
  auto task = train::make_task(recipe);
  torch::manual_seed(0);
  auto float_model = train::make_model(recipe.model, task->input_shape());
  torch::manual_seed(0);
  auto qat_model = train::make_model(recipe.model, task->input_shape());
  train::TrainState st{recipe, *qat_model, *task, torch::kCPU};
  for (auto& m : cli::make_modifiers(recipe)) m->prepare(st);

  // Interleave the two to spread any drift of the machine over both.
  double f = 0, q = 0;
  for (int round = 0; round < 2; ++round) {
    f += ms_per_step(*float_model, *task, steps / 2);
    q += ms_per_step(*qat_model, *task, steps / 2);
  }
  f /= 2;
  q /= 2;
  std::printf("| recipe | batch | threads | float ms/step | QAT ms/step | QAT / float |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  std::printf("| %s | %lld | %d | %.1f | %.1f | %.2fx |\n", recipe.name.c_str(),
              static_cast<long long>(recipe.data.batch_size), torch::get_num_threads(), f, q, q / f);
  return 0;
}
