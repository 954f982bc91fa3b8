// The mask that sits in a layer's weight_mask slot (train/layers.h): the forward multiplies the
// weight by it, and `enforce` keeps pruned raw weights and their optimizer state at exactly zero
// after every step, so a pruned weight can never drift back (momentum included).
#pragma once

#include <torch/torch.h>

#include "train/layers.h"

namespace qf::sparsify {

class WeightMaskImpl : public train::WeightMaskHook {
 public:
  // `nm` = {N, M} when the layer is pruned to an N:M pattern (export stores it compressed once
  // the mask is exact), {0, 0} otherwise. `block` = {rows, cols} when it is pruned in blocks
  // (pattern: block): export then stores it block-sparse ("block:RxC", FORMAT.md).
  WeightMaskImpl(const torch::Tensor& weight, std::pair<int64_t, int64_t> nm,
                 std::pair<int64_t, int64_t> block = {0, 0});
  // Straight-through (method ste / sr_ste): the value is w * mask, the gradient reaches every w.
  torch::Tensor forward(const torch::Tensor& w) override {
    return straight_through_ ? w + (w * mask_ - w).detach() : w * mask_;
  }
  void set_straight_through(bool on) { straight_through_ = on; }
  std::string storage_sparsity() const override;

  const torch::Tensor& mask() const { return mask_; }
  void set_mask(const torch::Tensor& mask) override;
  // One-shot N:M at calibration: GPTQ may choose this layer's mask (train/layers.h).
  void allow_ptq_selection(bool on) { ptq_selects_ = on; }
  std::pair<int64_t, int64_t> ptq_selects_nm() const override {
    return ptq_selects_ && nm_.second > 0 ? nm_ : std::pair<int64_t, int64_t>{0, 0};
  }
  // raw *= mask, and the same for the optimizer's per-parameter state of `raw`.
  void enforce(torch::Tensor& raw, torch::optim::Optimizer* optimizer) const;
  double sparsity() const { return 1.0 - mask_.mean().item<double>(); }

 private:
  torch::Tensor mask_;
  std::pair<int64_t, int64_t> nm_;
  bool straight_through_ = false;
  bool ptq_selects_ = false;
  std::pair<int64_t, int64_t> block_;
};
TORCH_MODULE(WeightMask);

}  // namespace qf::sparsify
