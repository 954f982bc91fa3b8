// An exponential moving average (Polyak averaging) of a model's floating-point parameters, the
// recipe's `train.ema`. The trainer updates it after every optimizer step and copies it into the
// model when training ends, so that the run's checkpoint (what is exported, validated and
// evaluated) holds the averaged weights.
//
//   shadow = param                                  after steps before start_step
//   shadow = decay * shadow + (1 - decay) * param   after step start_step and every later step
//
// Only parameters are averaged. Buffers (observer ranges, static weight scales, masks, BatchNorm
// statistics) keep the trained model's values: the QAT weight fake-quant with `method: minmax`
// computes its scales from the weights it is given at every forward, so after the copy they are
// the averaged weights' own scales; learned (LSQ) scales are parameters and are averaged too.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace qf::train {

class WeightEma {
 public:
  // `params`: the model's parameters (non-floating-point ones are skipped); the shadow copies
  // start as their current values.
  WeightEma(double decay, int64_t start_step, const std::vector<torch::Tensor>& params);

  // After optimizer step `step` (0-based, global).
  void update(int64_t step);
  // Copies the averaged weights into the model's parameters.
  void copy_to_model();

  const std::vector<torch::Tensor>& shadows() const { return shadows_; }
  double decay() const { return decay_; }

  // Checkpoint: the shadow copies as tensors "0", "1", ... in parameter order.
  void save(torch::serialize::OutputArchive& archive) const;
  // Throws std::runtime_error when the archive does not hold one shadow of the right shape per
  // parameter.
  void load(torch::serialize::InputArchive& archive);

 private:
  double decay_;
  int64_t start_step_;
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> shadows_;
};

}  // namespace qf::train
