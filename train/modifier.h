// The training loop's events, and the Modifier: an object that subscribes to them. Quantization,
// pruning and distillation are modifiers; the loop itself never names them.
//
// Order of events for one run:
//   prepare (once, before the optimizer exists: modifiers may change the model's structure)
//   train_start
//   for each epoch:  epoch_start
//     for each step: before_forward -> [forward, loss] -> after_loss -> [backward]
//                    -> after_backward -> [optimizer step] -> after_step
//   epoch_end (after evaluation and before the checkpoint is written)
//   train_end
// On --resume, prepare and train_start run again before the checkpoint is loaded, so the model
// has the same structure (and parameters) as when it was saved.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "train/task.h"

namespace qf {
struct Recipe;
}

namespace qf::train {

class ZooModel;

struct TrainState {
  TrainState(const Recipe& r, ZooModel& m, Task& t, torch::Device d) : recipe(r), model(m), task(t), device(d) {}

  const Recipe& recipe;
  ZooModel& model;
  Task& task;
  torch::Device device;
  torch::optim::Optimizer* optimizer = nullptr;  // null during prepare
  // prepare only rebuilds the structure for a checkpoint about to be loaded (load_run_model):
  // modifiers may skip expensive one-off work (e.g. GPTQ) whose result the checkpoint holds.
  bool restoring = false;
  // qforge calibrate / run --calibrate-only: nothing will be trained, so a modifier that would
  // reach its target during training (pruning) reaches it at prepare time instead (one-shot).
  bool calibrate_only = false;

  int64_t epoch = 0;            // 0-based
  int64_t epochs = 0;           // epochs begun by the run; the last one may be partial
  int64_t step = 0;             // global optimizer step, 0-based, of the step in progress
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;      // exactly train.steps when given, else epochs * steps_per_epoch

  Batch batch;                  // valid from before_forward to after_step
  torch::Tensor output;         // the model's output for `batch`
  torch::Tensor loss;           // after_loss: modifiers may add terms to it
  std::map<std::string, double> step_log;    // scalars for the progress line (e.g. "kd")
  std::map<std::string, double> epoch_log;   // scalars for metrics.jsonl at epoch end
};

// Parameters that train at `factor` times the schedule's learning rate (their own optimizer
// parameter group), e.g. learned quantization scales: Adam normalises every parameter's step, so
// at the weights' rate one scale moves as far per step as one weight while it moves its whole
// group of weights (docs/RESULTS.md "QAT quality on the Brown GPT").
struct LrFactorGroup {
  std::vector<torch::Tensor> params;
  double factor = 1.0;
};

class Modifier {
 public:
  virtual ~Modifier() = default;
  virtual std::string name() const = 0;
  virtual void prepare(TrainState&) {}
  // Modifiers prepare in ascending order of this (stable: recipe order among equals). Pruning
  // prepares first, so that calibration in any later modifier (activation ranges, GPTQ) already
  // sees the masked layers whatever the recipe's order.
  virtual int prepare_order() const { return 0; }
  // Asked once after every modifier has prepared, when the optimizer is built. A parameter in no
  // group trains at factor 1.
  virtual std::vector<LrFactorGroup> lr_factor_groups() const { return {}; }
  virtual void train_start(TrainState&) {}
  virtual void epoch_start(TrainState&) {}
  virtual void before_forward(TrainState&) {}
  virtual void after_loss(TrainState&) {}
  virtual void after_backward(TrainState&) {}
  virtual void after_step(TrainState&) {}
  virtual void epoch_end(TrainState&) {}
  virtual void train_end(TrainState&) {}
  // State kept outside the model and the optimizer (e.g. per-weight statistics), written into
  // checkpoint.pt at each epoch end so that --resume continues exactly. load_state runs after
  // prepare and train_start, with what save_state wrote; it is not called for a checkpoint
  // written before the modifier kept state.
  virtual void save_state(torch::serialize::OutputArchive&) const {}
  virtual void load_state(torch::serialize::InputArchive&) {}
};

// Calls prepare on every modifier in prepare_order (stable).
void prepare_modifiers(const std::vector<std::shared_ptr<Modifier>>& modifiers, TrainState& st);

}  // namespace qf::train
