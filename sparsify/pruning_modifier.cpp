#include "sparsify/pruning_modifier.h"

#include <algorithm>
#include <cmath>

#include "core/op_schema.h"
#include "sparsify/masks.h"
#include "train/distributed.h"
#include "train/layer_pattern.h"
#include "train/models.h"

namespace qf::sparsify {

PruningConfig parse_pruning_modifier(const RecipeNode& node) {
  PruningConfig c;
  c.pattern = node.get<std::string>("pattern", c.pattern);
  if (c.is_nm()) {
    NMPattern p;
    try {
      p = NMPattern::parse(c.pattern);  // the checkpoint's own parser: what it accepts, we accept
    } catch (const Error& e) {
      node.fail("pattern", "must be unstructured, block or N:M (e.g. 2:4): " + std::string(e.what()));
    }
    // N = M would prune nothing; the format allows it, a pruning recipe does not.
    if (p.n >= p.m) node.fail("pattern", "needs N < M, got " + c.pattern);
    c.n = p.n;
    c.m = p.m;
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
  const std::vector<std::string> known = prunable_kinds();
  if (c.kinds.empty()) node.fail("kinds", "must name at least one kind");
  for (const auto& k : c.kinds)
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (const auto& q : known) list += (list.empty() ? "" : ", ") + q;
      node.fail("kinds", "entries must be prunable kinds (" + list + "), got '" + k + "'");
    }
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
  // One vocabulary for when every modifier acts: the window is the modifier's own start_epoch /
  // end_epoch now, no longer the schedule's.
  for (const char* old_key : {"start_epoch", "end_epoch"})
    if (s.has(old_key))
      s.fail(old_key, std::string("has moved: write '") + old_key + "' in " +
                          (node.path().empty() ? std::string("the pruning section") : "'" + node.path() + "'") +
                          " itself, beside 'schedule' (the same key in every modifier, recipes/README.md)");
  c.window = train::parse_epoch_window(node);
  if (!c.window.end) c.window.end = c.window.start + 1;  // the cubic ramp's default length: one epoch
  c.method = node.one_of("method", "magnitude", {"magnitude", "ste", "sr_ste"});
  if (c.straight_through()) {
    if (!c.is_nm()) node.fail("method", c.method + " learns N:M masks: needs an N:M pattern, got " + c.pattern);
    if (s.has("type") || s.has("initial_sparsity"))
      s.fail(s.has("type") ? "type" : "initial_sparsity",
             "does not apply to method " + c.method + " (the full N:M pattern from start_epoch; only update_every)");
    c.update_every = 1;  // the papers recompute the mask every step
  }
  if (c.method == "sr_ste") {
    c.decay = node.get<double>("decay", c.decay);
    if (c.decay < 0) node.fail("decay", "must be >= 0");
  } else if (node.has("decay")) {
    node.fail("decay", "applies to method sr_ste only");
  }
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
    WeightMask mask(w, config_.is_nm() ? std::make_pair(config_.n, config_.m) : std::make_pair<int64_t, int64_t>(0, 0),
                    config_.pattern == "block" ? std::make_pair(config_.block_rows, config_.block_cols)
                                               : std::make_pair<int64_t, int64_t>(0, 0));
    mask->set_straight_through(config_.straight_through());
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
  schedule_.start_step = config_.window.start_step(static_cast<int64_t>(spe));
  schedule_.end_step = config_.window.end_step(static_cast<int64_t>(spe));
  schedule_.update_every = config_.update_every;
  if (st.calibrate_only && !st.restoring) {
    // Nothing will be trained (qforge calibrate): the final pattern now, one-shot, by magnitude.
    // The raw weights stay dense until train_start, so that post-training quantization (GPTQ,
    // which prepares after this) can feed the pruned values' error into the kept weights — and,
    // for N:M, choose the mask itself (SparseGPT); the magnitude mask is then only its start.
    compute_masks(config_.final_sparsity);
    if (config_.is_nm())
      for (auto& m : masks_) m->allow_ptq_selection(true);
    one_shot_ = true;
  }
}

void PruningModifier::train_start(train::TrainState& st) {
  if (!one_shot_) return;
  for (auto& m : masks_) m->allow_ptq_selection(false);
  enforce(st.optimizer);  // the pruned raw weights become exactly 0, as after pruned training
}

void PruningModifier::update_masks(double s, torch::optim::Optimizer* optimizer) {
  compute_masks(s);
  enforce(optimizer);
}

void PruningModifier::compute_masks(double s) {
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
  // Data parallelism (no-op otherwise): the weights are identical on every rank (checked at epoch
  // ends), so are the masks; rank 0's are broadcast anyway, so that a tie broken differently
  // cannot make replicas prune different weights.
  std::vector<torch::Tensor> masks;
  for (auto& m : masks_) masks.push_back(m->mask());
  train::broadcast_tensors(masks, 0);
}

void PruningModifier::recompute_nm_masks() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> masks;
  for (size_t i = 0; i < layers_.size(); ++i) {
    masks_[i]->set_mask(nm_mask(layers_[i]->effective_weight().detach(), config_.n, config_.m));
    masks.push_back(masks_[i]->mask());
  }
  train::broadcast_tensors(masks, 0);  // as in update_masks: ties broken alike on every rank
}

void PruningModifier::enforce(torch::optim::Optimizer* optimizer) {
  for (size_t i = 0; i < layers_.size(); ++i) masks_[i]->enforce(layers_[i]->raw_weight(), optimizer);
}

void PruningModifier::before_forward(train::TrainState& st) {
  if (config_.straight_through()) {
    if (frozen_ || st.step < schedule_.start_step) return;
    if (st.step >= schedule_.end_step) {
      freeze(st.optimizer);
    } else if ((st.step - schedule_.start_step) % config_.update_every == 0) {
      recompute_nm_masks();
    }
    st.step_log["sparsity"] = config_.final_sparsity;
    return;
  }
  if (!schedule_.updates_at(st.step)) return;
  const double s = schedule_.at(st.step);
  if (s > 0) update_masks(s, st.optimizer);
  st.step_log["sparsity"] = s;
}

void PruningModifier::freeze(torch::optim::Optimizer* optimizer) {
  // Last recomputation from the dense weights, then the pruned weights and their optimizer state
  // become zero and stay there (the magnitude method's regime). After a resume past this point
  // the pruned weights are already zero, so the same mask comes back.
  recompute_nm_masks();
  for (auto& m : masks_) m->set_straight_through(false);
  frozen_ = true;
  enforce(optimizer);
}

void PruningModifier::train_end(train::TrainState& st) {
  // A window that ends after the last step still leaves exact N:M weights behind.
  if (config_.straight_through() && !frozen_ && st.step >= schedule_.start_step) freeze(st.optimizer);
}

void PruningModifier::after_backward(train::TrainState& st) {
  if (config_.method != "sr_ste" || !learning_mask(st.step) || config_.decay == 0) return;
  // SR-STE: g += decay * (1 - mask) * w, on the (already all-reduced) gradient of the raw weight.
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < layers_.size(); ++i) {
    torch::Tensor& w = layers_[i]->raw_weight();
    if (!w.grad().defined()) continue;
    w.mutable_grad().add_((1 - masks_[i]->mask()) * w, config_.decay);
  }
}

void PruningModifier::after_step(train::TrainState& st) {
  if (!learning_mask(st.step)) enforce(st.optimizer);  // ste: the pruned weights keep training
}

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
