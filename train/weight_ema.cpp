#include "train/weight_ema.h"

#include <stdexcept>
#include <string>

namespace qf::train {

WeightEma::WeightEma(double decay, int64_t start_step, const std::vector<torch::Tensor>& params)
    : decay_(decay), start_step_(start_step) {
  if (!(decay >= 0 && decay < 1)) throw std::invalid_argument("EMA decay must be in [0, 1)");
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : params) {
    if (!p.is_floating_point()) continue;
    params_.push_back(p);
    shadows_.push_back(p.detach().clone());
  }
}

void WeightEma::update(int64_t step) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (step < start_step_) {
      shadows_[i].copy_(params_[i]);
    } else {
      // decay 0 gives the parameter exactly: 0 * shadow + 1 * param.
      shadows_[i].mul_(decay_).add_(params_[i].detach(), 1.0 - decay_);
    }
  }
}

void WeightEma::copy_to_model() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) params_[i].copy_(shadows_[i]);
}

void WeightEma::save(torch::serialize::OutputArchive& archive) const {
  for (size_t i = 0; i < shadows_.size(); ++i) archive.write(std::to_string(i), shadows_[i], /*is_buffer=*/true);
}

void WeightEma::load(torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < shadows_.size(); ++i) {
    torch::Tensor stored;
    if (!archive.try_read(std::to_string(i), stored, /*is_buffer=*/true) || stored.sizes() != shadows_[i].sizes())
      throw std::runtime_error("the checkpoint's EMA weights do not fit this model (shadow " + std::to_string(i) +
                               " of " + std::to_string(shadows_.size()) + " missing or of another shape)");
    shadows_[i].copy_(stored);
  }
}

}  // namespace qf::train
