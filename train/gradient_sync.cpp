#include "train/gradient_sync.h"

namespace qf::train {

GradientSync::GradientSync(ProcessGroup& group, std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : group_(group) {
  for (auto& p : params)
    if (p.requires_grad()) params_.push_back(p);
  slots_.resize(params_.size());
  // Reverse order: the last layers' gradients come first in backward, so their bucket fills first.
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const torch::Tensor& p = params_[k];
    const bool new_bucket = buckets_.empty() || bytes >= bucket_bytes ||
                            buckets_.back().buffer.scalar_type() != p.scalar_type() ||
                            buckets_.back().buffer.device() != p.device();
    if (new_bucket) {
      buckets_.emplace_back();
      buckets_.back().buffer = torch::empty({0}, p.options().requires_grad(false));
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    slots_[k] = Slot{buckets_.size() - 1, b.buffer.numel(), p.numel()};
    b.params.push_back(k);
    b.buffer = torch::empty({b.buffer.numel() + p.numel()}, b.buffer.options());
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  for (size_t k = 0; k < params_.size(); ++k)
    hook_ids_.push_back(params_[k].register_hook([this, k](torch::Tensor grad) { on_grad(k, grad); }));
}

GradientSync::~GradientSync() {
  for (size_t k = 0; k < params_.size(); ++k) params_[k].remove_hook(hook_ids_[k]);
}

void GradientSync::begin_step() {
  for (auto& s : slots_) s.ready = false;
  for (auto& b : buckets_) {
    b.ready = 0;
    b.work.reset();
  }
  next_launch_ = 0;
  armed_ = true;
}

void GradientSync::on_grad(size_t k, const torch::Tensor& grad) {
  if (!armed_) return;
  Slot& s = slots_[k];
  Bucket& b = buckets_[s.bucket];
  torch::NoGradGuard no_grad;
  b.buffer.narrow(0, s.offset, s.numel).copy_(grad.reshape({-1}));
  if (!s.ready) {
    s.ready = true;
    ++b.ready;
  }
  launch_ready_in_order();
}

void GradientSync::launch(size_t i) {
  Bucket& b = buckets_[i];
  // Slots of parameters without a gradient this step contribute zeros.
  for (size_t k : b.params)
    if (!slots_[k].ready) b.buffer.narrow(0, slots_[k].offset, slots_[k].numel).zero_();
  b.work = group_.all_reduce_async(b.buffer, ReduceOp::kSum);
}

void GradientSync::launch_ready_in_order() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready == buckets_[next_launch_].params.size())
    launch(next_launch_++);
}

void GradientSync::finish() {
  if (!armed_) return;
  group_.begin_wait_timing();
  while (next_launch_ < buckets_.size()) launch(next_launch_++);
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    b.work->wait();
    b.work.reset();
    for (size_t k : b.params) {
      const Slot& s = slots_[k];
      if (!s.ready) continue;  // no gradient on this step: stays undefined, as without data parallelism
      torch::Tensor& g = params_[k].mutable_grad();
      g.copy_(b.buffer.narrow(0, s.offset, s.numel).view(g.sizes()));
    }
  }
  group_.end_wait_timing();
  armed_ = false;
}

}  // namespace qf::train
