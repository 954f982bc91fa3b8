// The `quantization` recipe modifier: prepares the model for QAT (fake-quant slots by layer
// pattern), calibrates activation ranges, and drives the schedule: quantization from
// `start_epoch`, activation observers frozen from `freeze_observers_epoch`, BatchNorm statistics
// frozen (and the folded form trained) from `freeze_bn_epoch`. Keys: recipes/README.md.
#pragma once

#include "qat/prepare.h"
#include "train/modifier.h"
#include "train/recipe_node.h"

namespace qf::qat {

struct QuantizationModifierConfig {
  QatConfig qat;
  int64_t start_epoch = 0;
  int64_t freeze_observers_epoch = -1;  // -1: never
  int64_t freeze_bn_epoch = -1;         // -1: never
  int64_t calibration_batches = 16;
};

QuantizationModifierConfig parse_quantization_modifier(const RecipeNode& node);

class QuantizationModifier : public train::Modifier {
 public:
  explicit QuantizationModifier(QuantizationModifierConfig config) : config_(std::move(config)) {}
  std::string name() const override { return "quantization"; }
  void prepare(train::TrainState& st) override;
  void epoch_start(train::TrainState& st) override;
  void train_end(train::TrainState& st) override;
  const std::vector<PreparedLayer>& layers() const { return prepared_; }
  const QuantizationModifierConfig& config() const { return config_; }

 private:
  void apply_phase(train::ZooModel& model, int64_t epoch);
  QuantizationModifierConfig config_;
  std::vector<PreparedLayer> prepared_;
};

}  // namespace qf::qat
