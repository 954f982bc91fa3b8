#include "train/distributed_batch_norm.h"

namespace qf::train {
namespace {

// y = sum over ranks of x; the gradient of a sum over ranks is the sum over ranks of the gradients.
struct AllReduceSumFn : public torch::autograd::Function<AllReduceSumFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x) {
    torch::Tensor out = x.clone();
    current_group()->all_reduce(out, ReduceOp::kSum);
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    torch::Tensor g = grads[0].contiguous().clone();
    current_group()->all_reduce(g, ReduceOp::kSum);
    return {g};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& y, torch::nn::BatchNorm2dImpl& bn, ProcessGroup& group) {
  const int64_t C = y.size(1);
  const double local_count = static_cast<double>(y.numel() / C);
  const torch::Tensor stats =
      torch::cat({y.sum({0, 2, 3}), (y * y).sum({0, 2, 3}), torch::full({1}, local_count, y.options())});
  const torch::Tensor global = AllReduceSumFn::apply(stats);
  const torch::Tensor n = global.narrow(0, 2 * C, 1);
  const torch::Tensor mean = global.narrow(0, 0, C) / n;
  const torch::Tensor var = (global.narrow(0, C, C) / n - mean * mean).clamp_min(0);  // biased, as BN normalises
  const double eps = bn.options.eps();
  const auto shape = std::vector<int64_t>{1, C, 1, 1};
  torch::Tensor out = (y - mean.view(shape)) * torch::rsqrt(var.view(shape) + eps);
  if (bn.options.affine()) out = out * bn.weight.view(shape) + bn.bias.view(shape);
  if (bn.options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    const double count = n.item<double>();
    const double momentum = bn.options.momentum().value_or(0.1);
    bn.running_mean.mul_(1 - momentum).add_(mean.detach() * momentum);
    bn.running_var.mul_(1 - momentum).add_(var.detach() * (count / std::max(1.0, count - 1)) * momentum);
    bn.num_batches_tracked.add_(1);
  }
  return out;
}

}  // namespace qf::train
