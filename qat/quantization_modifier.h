// The `quantization` recipe modifier: prepares the model for QAT (fake-quant slots by layer
// pattern), calibrates activation ranges, and drives the schedule, step by step: quantization
// from `start_epoch`, activation observers frozen from `freeze_observers_epoch`, BatchNorm
// statistics frozen (and the folded form trained) from `freeze_bn_epoch` (epochs, fractions
// allowed: train/modifier_window.h). Keys: recipes/README.md.
//
// Every scheme the section can give a layer is checked when the section is parsed, for every
// selected kind, against core/op_schema.h (the writer's and reader's rule), so a recipe that
// parses always exports.
#pragma once

#include <optional>

#include "core/kv_quant.h"
#include "qat/prepare.h"
#include "qat/weight_ptq.h"
#include "train/modifier.h"
#include "train/modifier_window.h"
#include "train/recipe_node.h"

namespace qf::qat {

struct QuantizationModifierConfig {
  QatConfig qat;
  train::EpochWindow window;                     // start only: quantization never ends
  std::optional<double> freeze_observers_epoch;  // none: never
  std::optional<double> freeze_bn_epoch;         // none: never
  int64_t calibration_batches = 16;
  // `lsq_lr_factor`: the learned (LSQ) scales and zero points train at this multiple of the
  // schedule's learning rate (0 keeps them at their initial values). Absent: 1, like the weights.
  std::optional<double> lsq_lr_factor;
  // `dampen: F`: oscillation dampening (Nagel et al. 2022, "Overcoming Oscillations in
  // Quantization-Aware Training"), decoupled from the loss as AdamW decouples weight decay: after
  // every optimizer step each quantized weight moves the fraction f(t) of its distance towards its
  // own quantized value, f rising from 0 when quantization starts to F at the last step on a
  // half cosine. Latent weights that flip between two grid points every step settle on one.
  std::optional<double> dampen;
  std::optional<WeightPtqConfig> ptq;  // `ptq`: post-training weight quantization at prepare
  bool ptq_progress = true;            // a line per layer on stderr while it runs
  // `kv_cache`: K and V fake-quantized as written to the runtime's cache (attention models only),
  // from start_epoch like the layers. kv_cache_where: "file:line: key 'kv_cache' in '...'" for
  // errors found when the model is known (a group that does not divide the head dimension).
  std::optional<KvCacheScheme> kv_cache;
  std::string kv_cache_where;
  std::string dampen_where;  // "file:line: key 'dampen' in '...'" for errors found at prepare
  // `kv_cache: {rotate: hadamard}`: before anything else at prepare, a randomized Hadamard
  // rotation (core/hadamard.h, fixed seed) is folded into every attention's q/k/v/output weights
  // (train::ZooModel::rotate_attention_heads), so the cache holds rotated K and V, whose outlier
  // channels are spread over the head. The function is unchanged and the checkpoint is an ordinary
  // one: the runtime needs nothing new. Not for a model restored from its own checkpoint.
  bool kv_rotate = false;
  // `kv_cache: {center: true}`: then the per-channel means of K and V over kKvCenterBatches
  // training batches are folded into the attention biases (ZooModel::center_attention_kv), so
  // the cache's scales are not spent on offsets every token shares. Also free at run time.
  bool kv_center = false;
};

QuantizationModifierConfig parse_quantization_modifier(const RecipeNode& node);

class QuantizationModifier : public train::Modifier {
 public:
  explicit QuantizationModifier(QuantizationModifierConfig config) : config_(std::move(config)) {}
  std::string name() const override { return "quantization"; }
  void prepare(train::TrainState& st) override;
  void before_forward(train::TrainState& st) override;
  void after_step(train::TrainState& st) override;
  void train_end(train::TrainState& st) override;
  std::vector<train::LrFactorGroup> lr_factor_groups() const override;
  const std::vector<PreparedLayer>& layers() const { return prepared_; }
  const QuantizationModifierConfig& config() const { return config_; }
  QuantizationModifierConfig& mutable_config() { return config_; }
  // Per-layer results of the `ptq` section (GPTQ's reconstruction errors), after prepare.
  const std::vector<LayerPtqReport>& ptq_report() const { return ptq_report_; }

 private:
  // Puts this modifier's layers in the state the schedule gives optimizer step `step`.
  void apply_phase(int64_t step, int64_t steps_per_epoch);
  QuantizationModifierConfig config_;
  std::vector<PreparedLayer> prepared_;
  std::vector<LayerPtqReport> ptq_report_;
  std::vector<std::shared_ptr<train::QuantizableLayer>> layers_;  // those prepared_ names
  train::ZooModel* model_ = nullptr;  // whose KV cache scheme the schedule switches
  int phase_key_ = -1;  // last applied (on, frozen, bn_frozen) bits; -1 = none yet
};

}  // namespace qf::qat
