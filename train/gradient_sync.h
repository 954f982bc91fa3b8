// Data-parallel gradient averaging, overlapped with backward (the scheme of PyTorch's DDP
// reducer, much reduced): parameters are grouped into buckets of about `bucket_bytes`, in reverse
// registration order (the order backward produces their gradients); a hook on each parameter
// copies its gradient into its bucket's flat buffer as soon as autograd computes it, and a full
// bucket is all-reduced asynchronously while backward goes on. finish() launches what is left,
// waits, and writes the reduced gradients back.
//
// The reduction is a SUM: the trainer scales each rank's loss by (its examples / the global
// batch) before backward, so the sum is the gradient of the global batch's mean loss, also when
// the last batch splits unevenly.
//
// Buckets are launched strictly in bucket order on every rank (c10d matches collectives by
// order). A parameter that receives no gradient on a step (unused by that step's graph) keeps an
// undefined gradient, as in a single process; the same graph runs on every rank, so the set is
// the same everywhere.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "train/distributed.h"

namespace qf::train {

class GradientSync {
 public:
  GradientSync(ProcessGroup& group, std::vector<torch::Tensor> params, int64_t bucket_bytes = 25 << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Call before loss.backward(): hooks only act on armed steps (other backward passes pass through).
  void begin_step();
  // Call after loss.backward(): every gradient is then the sum over ranks.
  void finish();

  size_t buckets() const { return buckets_.size(); }
  // Time compute waited in finish() for the all-reduces (communication not hidden behind
  // backward), summed over steps: host time on Gloo, GPU stream stall on NCCL (ProcessGroup).
  double exposed_comm_seconds() const { return group_.waited_seconds(); }

 private:
  struct Slot {
    size_t bucket;
    int64_t offset, numel;
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor buffer;
    std::vector<size_t> params;
    size_t ready = 0;
    std::unique_ptr<PendingCollective> work;
  };
  void on_grad(size_t param, const torch::Tensor& grad);
  void launch(size_t bucket);
  void launch_ready_in_order();

  ProcessGroup& group_;
  std::vector<torch::Tensor> params_;
  std::vector<unsigned> hook_ids_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  bool armed_ = false;
};

}  // namespace qf::train
