// The `distillation` recipe modifier: the student (the model being trained) learns from a
// teacher's logits as well as from the labels. The teacher is a separate, frozen model (its own
// recipe and run, e.g. the float model a QAT recipe starts from); the loss is distill/kd_loss.h.
//
// Keys (recipes/README.md, "### distillation"):
//   teacher               recipe (.yaml, trained first if its run has not finished) or run directory
//   temperature           > 0; default 4 for image classifiers, 1 for language models
//   alpha                 weight of the hard-label cross-entropy, in [0, 1]; default 0.5
//   start_epoch           when the KD loss starts, in epochs (fractions allowed); default 0
//   end_epoch             when it stops again; absent (default) = to the end
//   cache_teacher_logits  false (default); true: image tasks keep each training example's teacher
//                         logits from its first batch and reuse them in later epochs (by
//                         Batch::index); an error for language models (windows differ every epoch)
//   features              reserved: feature distillation is not supported yet (an error)
//
// While active, the step's loss is *replaced*: st.loss = alpha * CE + (1 - alpha) * T^2 * KL, where
// CE is plain cross-entropy on the labels, so the recipe's train.label_smoothing is not applied in
// those steps. Outside [start_epoch, end_epoch) the task's own loss is left as it is.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "train/modifier.h"
#include "train/modifier_window.h"
#include "train/models.h"
#include "train/recipe_node.h"

namespace qf::distill {

struct DistillationModifierConfig {
  std::string teacher;                // as written in the recipe
  std::optional<double> temperature;  // unset: 4 (images) or 1 (language models), chosen in train_start
  double alpha = 0.5;
  train::EpochWindow window;  // [start_epoch, end_epoch), per optimizer step
  bool cache_teacher_logits = false;
  int line = 1;                       // of the teacher key, for messages
  std::string file;                   // the recipe file, for messages
};

DistillationModifierConfig parse_distillation_modifier(const RecipeNode& node);

// Builds the teacher model (on the CPU, weights loaded, any modifiers of its own recipe prepared)
// for the student's task. Supplied by whoever knows how to find and train runs (the CLI).
using TeacherLoader = std::function<std::shared_ptr<train::ZooModel>(train::TrainState&)>;

class DistillationModifier : public train::Modifier {
 public:
  DistillationModifier(DistillationModifierConfig config, TeacherLoader loader)
      : config_(std::move(config)), loader_(std::move(loader)) {}
  std::string name() const override { return "distillation"; }
  // The teacher is loaded here, not in prepare(): prepare() also runs when a finished run's model
  // is only rebuilt (eval, export), where no teacher is needed.
  void train_start(train::TrainState& st) override;
  void epoch_start(train::TrainState& st) override;
  void after_loss(train::TrainState& st) override;
  void epoch_end(train::TrainState& st) override;
  void train_end(train::TrainState& st) override;

  const DistillationModifierConfig& config() const { return config_; }
  double temperature() const { return temperature_; }
  bool active(int64_t step, int64_t steps_per_epoch) const { return config_.window.contains(step, steps_per_epoch); }
  std::shared_ptr<train::ZooModel> teacher() const { return teacher_; }
  int64_t teacher_forwards() const { return teacher_forwards_; }  // batches the teacher actually ran

 private:
  DistillationModifierConfig config_;
  TeacherLoader loader_;
  std::shared_ptr<train::ZooModel> teacher_;
  torch::Tensor teacher_logits(train::TrainState& st);
  double temperature_ = 0;
  int64_t teacher_forwards_ = 0;
  torch::Tensor cache_, cached_;  // [examples, classes] logits and [examples] bool, by Batch::index
  double kd_sum_ = 0, ce_sum_ = 0;
  int64_t steps_ = 0;
};

}  // namespace qf::distill
