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

// `freeze_oscillations`: Nagel et al. 2022, "Overcoming Oscillations in Quantization-Aware
// Training", section 4.2. After every optimizer step each quantized weight's integer code is
// compared with the previous step's; an oscillation is a change of code whose direction reverses
// the weight's previous change. Its frequency f is an exponential moving average of those events
// (f <- momentum * [oscillated] + (1 - momentum) * f); once f exceeds `threshold` the weight is
// frozen, for the rest of training, at its most frequent code: the rounded moving average (same
// momentum) of its codes.
struct OscillationFreezeConfig {
  double threshold = 0.02;
  double momentum = 0.01;
};

// The per-weight state of freeze_oscillations for one tensor of codes.
class OscillationTracker {
 public:
  explicit OscillationTracker(OscillationFreezeConfig config) : config_(config) {}
  // One step: the codes after the step (floats holding integers). The first call only starts the
  // state. Frozen weights keep being counted but stay frozen at the code they froze at.
  void update(const torch::Tensor& codes);
  bool started() const { return prev_.defined(); }
  const torch::Tensor& frozen() const { return frozen_; }              // bool, codes' shape
  const torch::Tensor& frozen_codes() const { return frozen_codes_; }  // valid where frozen
  const torch::Tensor& frequency() const { return freq_; }
  int64_t frozen_count() const { return frozen_.defined() ? frozen_.sum().item<int64_t>() : 0; }
  // The whole state, for checkpoint.pt (a tracker not yet started writes nothing).
  void save(torch::serialize::OutputArchive& a) const;
  void load(torch::serialize::InputArchive& a);

 private:
  OscillationFreezeConfig config_;
  torch::Tensor prev_, last_dir_, freq_, ema_, frozen_, frozen_codes_;
};

// `quant_noise`: Quant-Noise (Fan et al. 2020) on the weights. At a training step between the
// modifier's start and `full_epoch` each weight group is fake-quantized with probability p and
// passes its float weights otherwise, p rising linearly from `fraction` at the start to 1 at
// `full_epoch`; from there on (and in every evaluation) all groups are quantized.
struct QuantNoiseConfig {
  double fraction = 0.5;
  double full_epoch = 0;
};
// p at optimizer step `step` for quantization starting at step `start`, full at step `full`.
double quant_noise_fraction(const QuantNoiseConfig& c, int64_t step, int64_t start, int64_t full);

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
  std::optional<OscillationFreezeConfig> freeze_oscillations;  // `freeze_oscillations: {threshold, momentum}`
  std::string freeze_where;
  std::optional<QuantNoiseConfig> quant_noise;  // `quant_noise: {fraction, full_epoch}`
  std::string quant_noise_where;
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
  // freeze_oscillations' trackers (the rest of the modifier's state is in the model).
  void save_state(torch::serialize::OutputArchive& a) const override;
  void load_state(torch::serialize::InputArchive& a) override;
  const std::vector<PreparedLayer>& layers() const { return prepared_; }
  const QuantizationModifierConfig& config() const { return config_; }
  QuantizationModifierConfig& mutable_config() { return config_; }
  // Per-layer results of the `ptq` section (GPTQ's reconstruction errors), after prepare.
  const std::vector<LayerPtqReport>& ptq_report() const { return ptq_report_; }
  // freeze_oscillations: one tracker per prepared layer with quantized weights (layer order).
  const std::vector<OscillationTracker>& oscillation_trackers() const { return trackers_; }

 private:
  // Puts this modifier's layers in the state the schedule gives optimizer step `step`.
  void apply_phase(int64_t step, int64_t steps_per_epoch);
  QuantizationModifierConfig config_;
  std::vector<PreparedLayer> prepared_;
  std::vector<LayerPtqReport> ptq_report_;
  std::vector<std::shared_ptr<train::QuantizableLayer>> layers_;  // those prepared_ names
  train::ZooModel* model_ = nullptr;  // whose KV cache scheme the schedule switches
  int phase_key_ = -1;  // last applied (on, frozen, bn_frozen) bits; -1 = none yet
  void freeze_step(train::TrainState& st);  // freeze_oscillations, after an optimizer step
  void set_quant_fraction(double p);
  std::vector<OscillationTracker> trackers_;
  std::vector<size_t> tracked_;  // indices into layers_ of the trackers
};

}  // namespace qf::qat
