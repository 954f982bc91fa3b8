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
  c.start_epoch = node.get<int64_t>("start_epoch", 0);
  if (c.start_epoch < 0) node.fail("start_epoch", "must be >= 0, got " + std::to_string(c.start_epoch));
  c.end_epoch = node.get<int64_t>("end_epoch", -1);
  if (c.end_epoch != -1 && c.end_epoch <= c.start_epoch)
    node.fail("end_epoch", "must be -1 (to the end) or > start_epoch, got " + std::to_string(c.end_epoch));
  if (node.get<bool>("cache_teacher_logits", false))
    node.fail("cache_teacher_logits", "is not supported yet (the teacher runs on every batch); remove it or set false");
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
  teacher_->to(st.device);
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

void DistillationModifier::epoch_start(train::TrainState&) {
  kd_sum_ = ce_sum_ = 0;
  steps_ = 0;
}

void DistillationModifier::after_loss(train::TrainState& st) {
  if (!active(st.epoch)) return;
  if (!teacher_) train_start(st);
  torch::Tensor teacher_logits;
  {
    torch::NoGradGuard no_grad;
    teacher_->eval();  // BatchNorm running statistics and dropout of the teacher stay fixed
    teacher_logits = teacher_->forward(st.batch.input);
  }
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

void DistillationModifier::epoch_end(train::TrainState& st) {
  if (steps_ == 0) return;
  st.epoch_log["kd"] = kd_sum_ / static_cast<double>(steps_);
  st.epoch_log["ce"] = ce_sum_ / static_cast<double>(steps_);
}

void DistillationModifier::train_end(train::TrainState&) { teacher_.reset(); }

}  // namespace qf::distill
