// The recipe-driven training loop: optimizer, LR schedule, epochs, evaluation, events for
// modifiers, metrics log, progress line, atomic checkpoints and resume.
//
// A run directory holds:
//   recipe.yaml     the recipe text the run was started with
//   checkpoint.pt   model + optimizer + progress (+ the EMA weights with train.ema), rewritten
//                   (atomically) at every epoch end; with train.ema, once more at the end, its
//                   model then holding the EMA weights
//   metrics.jsonl   one JSON object per line: a "start" record (evaluation after the modifiers
//                   prepared the model, before any training: for QAT, the PTQ result), an
//                   "epoch" record per epoch, a "final" one at the end (with train.ema: the
//                   metrics of the EMA weights, "weights": "ema"; epoch records: raw weights)
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "train/modifier.h"
#include "train/models.h"
#include "train/recipe.h"
#include "train/task.h"

namespace qf::train {

struct RunOptions {
  std::string run_dir;
  bool resume = false;
  torch::Device device = torch::kCPU;
  int threads = 0;              // 0 = all cores
  bool progress = true;         // progress line on stderr
  int64_t stop_after_epochs = 0;  // > 0: stop (as if killed) after this many epochs; for tests
  std::string init_checkpoint;    // checkpoint.pt whose model weights the run starts from
  bool calibrate_only = false;    // prepare (PTQ calibration), evaluate and save; no training
  int64_t bucket_bytes = 25 << 20;  // data parallelism: gradient all-reduce bucket size
};

struct RunResult {
  Metrics metrics;              // evaluation after the last epoch
  int64_t epochs_run = 0;       // epochs trained by this call (excludes resumed ones)
  double train_seconds = 0;
  double seconds_per_step = 0;  // mean wall time of one optimizer step in this call
  int64_t samples = 0;          // training examples (global batches) processed by this call
  double comm_seconds = 0;      // data parallelism: gradient all-reduce time not hidden by backward
};

class GradientSync;
class WeightEma;

class Trainer {
 public:
  Trainer(Recipe recipe, RunOptions options);
  ~Trainer();

  void add_modifier(std::shared_ptr<Modifier> m) { modifiers_.push_back(std::move(m)); }
  RunResult run();

  ZooModel& model() { return *model_; }
  Task& task() { return *task_; }
  const Recipe& recipe() const { return recipe_; }

 private:
  void prepare();
  double lr_at(int64_t step, int64_t total_steps) const;
  std::string modifier_state_key(size_t i) const;
  void save_checkpoint(int64_t epochs_done, int64_t step);
  bool load_checkpoint(int64_t& epochs_done, int64_t& step);
  template <typename Fn> void emit(Fn fn);

  Recipe recipe_;
  RunOptions options_;
  std::unique_ptr<Task> task_;
  std::shared_ptr<ZooModel> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<double> lr_factors_;  // per optimizer parameter group: multiple of the schedule's lr
  std::vector<std::shared_ptr<Modifier>> modifiers_;
  std::unique_ptr<TrainState> state_;
  std::unique_ptr<GradientSync> grad_sync_;  // set when the process belongs to a group
  std::unique_ptr<WeightEma> ema_;           // set when the recipe has train.ema
  int rank_ = 0, world_ = 1;
  bool writer() const { return rank_ == 0; }  // the one rank that writes the run directory
};

// The optimizer's parameter groups: group 0 holds every parameter of `params` that no modifier's
// lr_factor_groups() claims (factor 1), then one group per claimed set, in modifier order.
// `factors` receives each group's learning-rate factor. A parameter claimed twice is an error.
std::vector<torch::optim::OptimizerParamGroup> lr_factor_param_groups(
    const std::vector<std::shared_ptr<Modifier>>& modifiers, const std::vector<torch::Tensor>& params,
    std::vector<double>& factors);

// Loads the model weights of `checkpoint` (a run's checkpoint.pt) into `model`.
void load_model_weights(torch::nn::Module& model, const std::string& checkpoint);

// Loads the model a finished (or interrupted) run directory holds: rebuilt from its recipe.yaml,
// then `modifiers` are prepared on it (so QAT slots exist), then checkpoint.pt is loaded.
std::shared_ptr<ZooModel> load_run_model(const std::string& run_dir, const Recipe& recipe, Task& task,
                                         const std::vector<std::shared_ptr<Modifier>>& modifiers);

}  // namespace qf::train
