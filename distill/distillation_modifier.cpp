#include "distill/distillation_modifier.h"

#include <cstdio>
#include <stdexcept>

#include "distill/kd_loss.h"

namespace qf::distill {

DistillationModifierConfig parse_distillation_modifier(const RecipeNode& node) {
  DistillationModifierConfig c;
  c.file = node.file();
  c.teacher = node.require<std::string>("teacher");
  c.line = node.line_of("teacher");
  if (c.teacher.empty()) node.fail("teacher", "must name a recipe (.yaml) or a run directory");
  c.temperature = node.get_optional<double>("temperature");
  if (c.temperature && !(*c.temperature > 0)) node.fail("temperature", "must be > 0, got " + std::to_string(*c.temperature));
  c.alpha = node.get<double>("alpha", 0.5);
  if (c.alpha < 0 || c.alpha > 1) node.fail("alpha", "must be in [0, 1], got " + std::to_string(c.alpha));
  c.window = train::parse_epoch_window(node);
  c.cache_teacher_logits = node.get<bool>("cache_teacher_logits", false);
  if (node.has("features"))
    node.fail("features", "feature distillation is not supported yet (the model zoo has no activation taps)");
  node.finish();
  return c;
}

void DistillationModifier::train_start(train::TrainState& st) {
  temperature_ = config_.temperature.value_or(st.model.is_language_model() ? 1.0 : 4.0);
  if (teacher_) return;
  teacher_ = loader_(st);
  if (!teacher_) throw std::runtime_error(config_.file + ":" + std::to_string(config_.line) + ": teacher '" + config_.teacher + "' could not be loaded");
  if (teacher_->is_language_model() != st.model.is_language_model())
    throw std::runtime_error(config_.file + ":" + std::to_string(config_.line) + ": teacher '" + config_.teacher +
                             "' is " + (teacher_->is_language_model() ? "a language model" : "an image classifier") +
                             ", the student is not");
  if (config_.cache_teacher_logits && st.model.is_language_model())
    throw std::runtime_error(config_.file + ":" + std::to_string(config_.line) + ": cache_teacher_logits is for image tasks only (a language model's "
                             "training windows differ every epoch, so there is nothing to reuse)");
  teacher_->to(st.device);
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

void DistillationModifier::epoch_start(train::TrainState&) {
  kd_sum_ = ce_sum_ = 0;
  steps_ = 0;
}

void DistillationModifier::after_loss(train::TrainState& st) {
  if (!active(st.step, st.steps_per_epoch)) return;
  if (!teacher_) train_start(st);
  const torch::Tensor teacher_logits = this->teacher_logits(st);
  if (teacher_logits.sizes() != st.output.sizes()) {
    std::string a, b;
    for (auto d : teacher_logits.sizes()) a += std::to_string(d) + " ";
    for (auto d : st.output.sizes()) b += std::to_string(d) + " ";
    throw std::runtime_error(config_.file + ":" + std::to_string(config_.line) + ": teacher '" + config_.teacher +
                             "' outputs [ " + a + "] where the student outputs [ " + b + "]");
  }
  const KdLossParts parts = kd_loss(st.output, teacher_logits, st.batch.target, temperature_, config_.alpha);
  st.loss = parts.total;
  const double kd = parts.kd.item<double>(), ce = parts.ce.item<double>();
  st.step_log["kd"] = kd;
  st.step_log["ce"] = ce;
  kd_sum_ += kd;
  ce_sum_ += ce;
  ++steps_;
}

torch::Tensor DistillationModifier::teacher_logits(train::TrainState& st) {
  torch::NoGradGuard no_grad;
  const bool cache = config_.cache_teacher_logits;
  if (cache && !st.batch.index.defined())
    throw std::runtime_error(config_.file + ":" + std::to_string(config_.line) + ": cache_teacher_logits needs a task whose batches carry example indices");
  torch::Tensor idx;
  if (cache && cache_.defined()) {
    idx = st.batch.index.to(torch::kLong).to(cache_.device());
    // Every example of the batch seen before (the teacher is frozen, so its logits are the same).
    if (idx.max().item<int64_t>() < cache_.size(0) && cached_.index_select(0, idx).all().item<bool>())
      return cache_.index_select(0, idx);
  }
  teacher_->eval();  // BatchNorm running statistics and dropout of the teacher stay fixed
  const torch::Tensor logits = teacher_->forward(st.batch.input);
  ++teacher_forwards_;
  if (cache) {
    idx = st.batch.index.to(torch::kLong).to(logits.device());
    const int64_t need = idx.max().item<int64_t>() + 1;
    if (!cache_.defined() || cache_.size(0) < need) {  // grow (at least doubling) to hold index `need - 1`
      const int64_t n = std::max(need, cache_.defined() ? 2 * cache_.size(0) : need);
      torch::Tensor c = torch::zeros({n, logits.size(1)}, logits.options());
      torch::Tensor h = torch::zeros({n}, logits.options().dtype(torch::kBool));
      if (cache_.defined()) {
        c.narrow(0, 0, cache_.size(0)).copy_(cache_);
        h.narrow(0, 0, cached_.size(0)).copy_(cached_);
      }
      cache_ = c;
      cached_ = h;
    }
    cache_.index_copy_(0, idx, logits);
    cached_.index_fill_(0, idx, true);
  }
  return logits;
}

void DistillationModifier::epoch_end(train::TrainState& st) {
  if (steps_ == 0) return;
  st.epoch_log["kd"] = kd_sum_ / static_cast<double>(steps_);
  st.epoch_log["ce"] = ce_sum_ / static_cast<double>(steps_);
}

void DistillationModifier::train_end(train::TrainState&) {
  teacher_.reset();
  cache_ = cached_ = torch::Tensor();
}

}  // namespace qf::distill
