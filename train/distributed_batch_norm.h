// Synchronised BatchNorm for data parallelism: normalise with the statistics of the global batch,
// not of this rank's shard, so that N workers train the same function as one process. Per-channel
// sum, sum of squares and count are all-reduced with a differentiable all-reduce (its backward
// all-reduces the gradients), and the running statistics are updated as BatchNorm2d does, from
// the global mean and the unbiased global variance, identically on every rank.
#pragma once

#include <torch/torch.h>

#include "train/distributed.h"

namespace qf::train {

// y: [N, C, H, W] in training mode; updates bn's running_mean / running_var / num_batches_tracked.
torch::Tensor sync_batch_norm(const torch::Tensor& y, torch::nn::BatchNorm2dImpl& bn, ProcessGroup& group);

}  // namespace qf::train
