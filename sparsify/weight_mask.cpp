#include "sparsify/weight_mask.h"

#include <sstream>

#include "sparsify/masks.h"

namespace qf::sparsify {
namespace {

// The optimizer state map is keyed by std::string in LibTorch 1.x and by void* in 2.x; both are
// derived from the parameter's TensorImpl address.
[[maybe_unused]] std::string state_key(const torch::Tensor& p, std::string*) {
  std::ostringstream ss;
  ss << p.unsafeGetTensorImpl();
  return ss.str();
}
[[maybe_unused]] void* state_key(const torch::Tensor& p, void**) { return p.unsafeGetTensorImpl(); }

void mask_optimizer_state(torch::optim::Optimizer& optimizer, const torch::Tensor& param, const torch::Tensor& mask) {
  auto& state = optimizer.state();
  using Key = typename std::decay_t<decltype(state)>::key_type;
  auto it = state.find(state_key(param, static_cast<Key*>(nullptr)));
  if (it == state.end()) return;
  torch::optim::OptimizerParamState* s = it->second.get();
  if (auto* a = dynamic_cast<torch::optim::AdamWParamState*>(s)) {
    a->exp_avg().mul_(mask);
    a->exp_avg_sq().mul_(mask);
  } else if (auto* b = dynamic_cast<torch::optim::AdamParamState*>(s)) {
    b->exp_avg().mul_(mask);
    b->exp_avg_sq().mul_(mask);
  } else if (auto* c = dynamic_cast<torch::optim::SGDParamState*>(s)) {
    if (c->momentum_buffer().defined()) c->momentum_buffer().mul_(mask);
  }
}

}  // namespace

WeightMaskImpl::WeightMaskImpl(const torch::Tensor& weight, std::pair<int64_t, int64_t> nm,
                               std::pair<int64_t, int64_t> block)
    : nm_(nm), block_(block) {
  mask_ = register_buffer("mask", torch::ones_like(weight.detach()));
}

void WeightMaskImpl::set_mask(const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  mask_.copy_(mask);
}

void WeightMaskImpl::enforce(torch::Tensor& raw, torch::optim::Optimizer* optimizer) const {
  torch::NoGradGuard no_grad;
  raw.mul_(mask_);
  if (optimizer) mask_optimizer_state(*optimizer, raw, mask_);
}

std::string WeightMaskImpl::storage_sparsity() const {
  if (block_.first > 0 && satisfies_blocks(mask_, block_.first, block_.second))
    return "block:" + std::to_string(block_.first) + "x" + std::to_string(block_.second);
  if (nm_.second > 0 && satisfies_nm(mask_, nm_.first, nm_.second))
    return std::to_string(nm_.first) + ":" + std::to_string(nm_.second);
  return "dense";
}

}  // namespace qf::sparsify
