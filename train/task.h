// A Task is the data side of training: which batches to train on (deterministically, from the
// seed, the epoch and the step, so an interrupted run resumes on exactly the same data), the loss,
// and the evaluation metrics. Image classification and byte-level language modelling are tasks.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "train/distributed_sampler.h"

namespace qf {
struct Recipe;
}

namespace qf::train {

class ZooModel;
struct InputShape;

struct Batch {
  torch::Tensor input;   // images [N,C,H,W] float, or token ids [B,T] int64
  torch::Tensor target;  // labels [N] int64, or next tokens [B,T] int64
  // Optional, on the CPU: the training-set index of each example [N] int64, the same every epoch
  // (image tasks fill it; e.g. distillation caches teacher outputs by it). Undefined if unknown.
  torch::Tensor index;
  // Examples in the global batch this one is a shard of (data parallelism: the loss of a shard is
  // weighted by size / global_size). 0: this batch is the whole batch.
  int64_t global_size = 0;
  int64_t global_examples() const { return global_size > 0 ? global_size : input.size(0); }
};

struct Metrics {
  std::map<std::string, double> values;  // e.g. accuracy, or val_loss / perplexity / bits_per_byte
  std::string primary;                   // the key that summarises quality
  bool higher_is_better = true;
  double primary_value() const { return values.at(primary); }
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual int64_t steps_per_epoch() const = 0;
  // The training batch of (epoch, step): with a shard set, only this rank's part of the global
  // batch (train/distributed_sampler.h), global_size telling the whole batch's size.
  virtual Batch train_batch(int64_t epoch, int64_t step_in_epoch) = 0;
  void set_shard(Shard shard) { shard_ = shard; }
  const Shard& shard() const { return shard_; }
  virtual torch::Tensor loss(const torch::Tensor& output, const Batch& batch) = 0;
  virtual Metrics evaluate(ZooModel& model, torch::Device device) = 0;
  // The first n held-out examples, in the order evaluate() uses them: golden inputs of exported
  // checkpoints, and what `qforge eval` feeds the runtime.
  virtual Batch golden_batch(int64_t n) = 0;
  // How many held-out examples evaluate() scores (golden_batch(eval_examples()) is that set).
  virtual int64_t eval_examples() const = 0;
  virtual InputShape input_shape() const = 0;
  // Identifies the training data exactly (FNV-1a over its bytes), for provenance.
  virtual std::string fingerprint() const = 0;
  // How raw data becomes model input (e.g. {"mean": .., "std": ..} of image normalisation).
  virtual std::map<std::string, double> preprocessing() const { return {}; }

 protected:
  Shard shard_;
};

// Builds the task that `data` describes. `seed` fixes subsets and data order.
std::unique_ptr<Task> make_task(const Recipe& recipe);

}  // namespace qf::train
