// prepare_qat: puts fake quantization into a model's layer slots, by layer-name patterns.
//
// The config has a default scheme and an ordered list of overrides; each override's pattern is
// a glob over stable layer names (train/layer_pattern.h). A layer takes the last override that
// matches it, else the default. Mixed precision is one override away:
//   default: int4 per-group weights;  override "features.0" and "head": int8 per-channel.
// Only layers whose kind is in `kinds` are touched (default linear and conv2d; add embedding).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "qat/fake_quantize.h"
#include "train/models.h"
#include "train/task.h"

namespace qf::qat {

struct LayerScheme {
  std::optional<WeightQuantConfig> weights;  // none: weight stays float
  std::optional<ActQuantConfig> inputs;      // none: input stays float
};

struct LayerOverride {
  std::string pattern;
  LayerScheme scheme;
};

struct QatConfig {
  std::vector<std::string> kinds = {"linear", "conv2d"};
  LayerScheme defaults;
  std::vector<LayerOverride> overrides;
};

struct PreparedLayer {
  std::string name, kind;
  LayerScheme scheme;
};

// Why a layer of `kind` with `scheme` could not be exported and run by the runtime, or "" when it
// can: core/op_schema.h's check_layer_quantization, the rule the checkpoint writer and reader
// apply too, so that a recipe that trains always exports.
std::string exportability_error(const std::string& kind, const LayerScheme& scheme);

// The scheme `config` gives layer `name` of `kind`, or nullopt when the layer is not quantized.
std::optional<LayerScheme> scheme_for(const QatConfig& config, const std::string& name, const std::string& kind);

// Inserts the fake-quant modules; returns what each layer got, in model order. A scheme the
// checkpoint cannot hold (exportability_error) or a group size that does not divide a layer's
// input dimension throws std::invalid_argument, naming the layer.
std::vector<PreparedLayer> prepare_qat(train::ZooModel& model, const QatConfig& config);

// Sets every fake-quant module of `layers` (all of `model`'s) to `phase`.
void set_quant_phase(const std::vector<std::shared_ptr<train::QuantizableLayer>>& layers, QuantPhase weights,
                     QuantPhase inputs);
void set_quant_phase(train::ZooModel& model, QuantPhase weights, QuantPhase inputs);

// PTQ-style calibration: observes activation ranges over `batches` training batches (model in
// eval mode, no quantization applied), then starts learned (LSQ) activation scales from them.
void calibrate_activations(train::ZooModel& model, train::Task& task, int64_t batches, torch::Device device);

}  // namespace qf::qat
