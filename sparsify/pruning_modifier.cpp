#include "sparsify/pruning_modifier.h"

#include <algorithm>
#include <cmath>

#include "sparsify/masks.h"
#include "train/layer_pattern.h"
#include "train/models.h"

namespace qf::sparsify {

PruningConfig parse_pruning_modifier(const RecipeNode& node) {
  PruningConfig c;
  c.pattern = node.get<std::string>("pattern", c.pattern);
  if (c.is_nm()) {
    const auto colon = c.pattern.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      c.n = std::stoll(c.pattern.substr(0, colon));
      c.m = std::stoll(c.pattern.substr(colon + 1));
    } catch (const std::exception&) {
      node.fail("pattern", "must be unstructured, block or N:M (e.g. 2:4), got '" + c.pattern + "'");
    }
    if (c.n < 1 || c.m < 2 || c.n >= c.m || c.m > 16) node.fail("pattern", "needs 1 <= N < M <= 16, got " + c.pattern);
  }
  c.global = node.one_of("scope", "layer", {"layer", "global"}) == "global";
  if (c.global && c.pattern != "unstructured") node.fail("scope", "global applies to unstructured pruning only");
  const auto block = node.get<std::vector<int64_t>>("block", {4, 4});
  if (block.size() != 2 || block[0] < 1 || block[1] < 1) node.fail("block", "must be [rows, cols], each >= 1");
  c.block_rows = block[0];
  c.block_cols = block[1];
  c.layers = node.get<std::vector<std::string>>("layers", c.layers);
  if (node.has("leave_dense")) c.leave_dense = node.get<std::vector<std::string>>("leave_dense", {});
  c.kinds = node.get<std::vector<std::string>>("kinds", c.kinds);
  for (const auto& k : c.kinds)
    if (k != "linear" && k != "conv2d") node.fail("kinds", "entries must be linear or conv2d, got '" + k + "'");
  // N:M fixes the sparsity at 1 - N/M.
  const double nm_sparsity = c.is_nm() ? 1.0 - static_cast<double>(c.n) / static_cast<double>(c.m) : 0.0;
  c.final_sparsity = node.get<double>("final_sparsity", c.is_nm() ? nm_sparsity : c.final_sparsity);
  if (c.is_nm() && std::abs(c.final_sparsity - nm_sparsity) > 1e-9)
    node.fail("final_sparsity", "is fixed at 1 - N/M = " + std::to_string(nm_sparsity) + " for " + c.pattern);
  if (c.final_sparsity < 0 || c.final_sparsity >= 1) node.fail("final_sparsity", "must be in [0, 1)");
  const RecipeNode s = node.child("schedule");
  c.schedule = s.one_of("type", "cubic", {"cubic", "one_shot", "constant"});
  c.initial_sparsity = s.get<double>("initial_sparsity", 0.0);
  if (c.initial_sparsity < 0 || c.initial_sparsity > c.final_sparsity)
    s.fail("initial_sparsity", "must be in [0, final_sparsity]");
  c.start_epoch = s.get<double>("start_epoch", 0.0);
  c.end_epoch = s.get<double>("end_epoch", c.start_epoch + 1);
  if (c.start_epoch < 0) s.fail("start_epoch", "must be >= 0");
  if (c.schedule == "cubic" && c.end_epoch <= c.start_epoch) s.fail("end_epoch", "must be after start_epoch");
  c.update_every = s.get<int64_t>("update_every", c.update_every);
  if (c.update_every < 1) s.fail("update_every", "must be >= 1");
  node.finish();
  return c;
}

void PruningModifier::prepare(train::TrainState& st) {
  const auto all = st.model.layers();
  std::vector<std::string> dense;
  if (config_.leave_dense) dense = *config_.leave_dense;
  else if (!all.empty()) dense = {all.front()->layer_name(), all.back()->layer_name()};
  for (const auto& layer : all) {
    const std::string& name = layer->layer_name();
    const bool kind_ok = std::count(config_.kinds.begin(), config_.kinds.end(), layer->kind()) > 0;
    const bool selected = std::any_of(config_.layers.begin(), config_.layers.end(),
                                      [&](const std::string& p) { return train::glob_match(p, name); });
    const bool kept_dense = std::any_of(dense.begin(), dense.end(),
                                        [&](const std::string& p) { return train::glob_match(p, name); });
    if (!kind_ok || !selected || kept_dense) continue;
    const torch::Tensor w = layer->effective_weight().detach();
    try {  // fail at prepare time, naming the layer, if the pattern cannot fit it
      if (config_.is_nm()) nm_mask(w, config_.n, config_.m);
      if (config_.pattern == "block") block_mask(w, config_.block_rows, config_.block_cols, 0.0);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("pruning layer '" + name + "': " + e.what() +
                                  " (leave it dense with leave_dense, or choose other layers)");
    }
    WeightMask mask(w, config_.is_nm() ? std::make_pair(config_.n, config_.m) : std::make_pair<int64_t, int64_t>(0, 0));
    layer->set_hook(train::HookSlot::kWeightMask, mask.ptr());
    layers_.push_back(layer);
    masks_.push_back(mask);
    names_.push_back(name);
  }
  if (layers_.empty()) throw std::invalid_argument("pruning: no layer selected (check layers / leave_dense / kinds)");
  const double spe = static_cast<double>(std::max<int64_t>(1, st.steps_per_epoch));
  schedule_.type = config_.schedule;
  schedule_.initial = config_.initial_sparsity;
  schedule_.final = config_.final_sparsity;
  schedule_.start_step = static_cast<int64_t>(std::llround(config_.start_epoch * spe));
  schedule_.end_step = static_cast<int64_t>(std::llround(config_.end_epoch * spe));
  schedule_.update_every = config_.update_every;
}

void PruningModifier::update_masks(double s, torch::optim::Optimizer* optimizer) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> weights;
  for (auto& l : layers_) weights.push_back(l->effective_weight().detach() * masks_[weights.size()]->mask());
  if (config_.pattern == "unstructured" && config_.global) {
    const auto masks = global_magnitude_masks(weights, s);
    for (size_t i = 0; i < masks_.size(); ++i) masks_[i]->set_mask(masks[i]);
  } else {
    for (size_t i = 0; i < masks_.size(); ++i) {
      torch::Tensor m;
      if (config_.is_nm()) m = nm_mask(weights[i], config_.n, config_.m, s / config_.final_sparsity);
      else if (config_.pattern == "block") m = block_mask(weights[i], config_.block_rows, config_.block_cols, s);
      else m = magnitude_mask(weights[i], s);
      masks_[i]->set_mask(m);
    }
  }
  enforce(optimizer);
}

void PruningModifier::enforce(torch::optim::Optimizer* optimizer) {
  for (size_t i = 0; i < layers_.size(); ++i) masks_[i]->enforce(layers_[i]->raw_weight(), optimizer);
}

void PruningModifier::before_forward(train::TrainState& st) {
  if (!schedule_.updates_at(st.step)) return;
  const double s = schedule_.at(st.step);
  if (s > 0) update_masks(s, st.optimizer);
  st.step_log["sparsity"] = s;
}

void PruningModifier::after_step(train::TrainState& st) { enforce(st.optimizer); }

void PruningModifier::epoch_end(train::TrainState& st) {
  double zeros = 0, total = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const torch::Tensor w = layers_[i]->raw_weight();
    zeros += w.eq(0).sum().item<double>();
    total += static_cast<double>(w.numel());
  }
  st.epoch_log["sparsity"] = total > 0 ? zeros / total : 0.0;
}

}  // namespace qf::sparsify
