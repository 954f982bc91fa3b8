#include "qat/prepare.h"

#include <algorithm>

#include "core/op_schema.h"
#include "train/layer_pattern.h"

namespace qf::qat {

std::string exportability_error(const std::string& kind, const LayerScheme& scheme) {
  ActScheme act;
  if (scheme.inputs) {
    act.mode = scheme.inputs->mode;
    act.bits = scheme.inputs->bits;
    act.symmetric = scheme.inputs->symmetric;
    act.e4m3 = scheme.inputs->e4m3;
  }
  return check_layer_quantization(kind, scheme.weights ? &scheme.weights->scheme : nullptr, act);
}

std::optional<LayerScheme> scheme_for(const QatConfig& config, const std::string& name, const std::string& kind) {
  if (std::find(config.kinds.begin(), config.kinds.end(), kind) == config.kinds.end()) return std::nullopt;
  LayerScheme scheme = config.defaults;
  for (const auto& o : config.overrides)
    if (train::glob_match(o.pattern, name)) scheme = o.scheme;
  if (!scheme.weights && !scheme.inputs) return std::nullopt;
  return scheme;
}

std::vector<PreparedLayer> prepare_qat(train::ZooModel& model, const QatConfig& config) {
  std::vector<PreparedLayer> prepared;
  for (auto& layer : model.layers()) {
    auto scheme = scheme_for(config, layer->layer_name(), layer->kind());
    if (!scheme) continue;
    // Checked again per layer (the recipe was checked per kind when parsed) so that a config
    // built in code cannot train what the checkpoint cannot hold either.
    if (const std::string why = exportability_error(layer->kind(), *scheme); !why.empty())
      throw std::invalid_argument("layer '" + layer->layer_name() + "' (" + layer->kind() + "): " + why);
    try {
      if (scheme->weights)
        layer->set_hook(train::HookSlot::kWeightQuant,
                        WeightFakeQuant(*scheme->weights, layer->effective_weight().detach()).ptr());
      if (scheme->inputs) layer->set_hook(train::HookSlot::kInputQuant, ActFakeQuant(*scheme->inputs).ptr());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("layer '" + layer->layer_name() + "': " + e.what());
    }
    prepared.push_back({layer->layer_name(), layer->kind(), *scheme});
  }
  return prepared;
}

void set_quant_phase(train::ZooModel& model, QuantPhase weights, QuantPhase inputs) {
  set_quant_phase(model.layers(), weights, inputs);
}

void set_quant_phase(const std::vector<std::shared_ptr<train::QuantizableLayer>>& layers, QuantPhase weights,
                     QuantPhase inputs) {
  for (auto& layer : layers) {
    if (auto w = std::dynamic_pointer_cast<WeightFakeQuantImpl>(layer->hook(train::HookSlot::kWeightQuant)))
      w->set_phase(weights);
    if (auto a = std::dynamic_pointer_cast<ActFakeQuantImpl>(layer->hook(train::HookSlot::kInputQuant)))
      a->set_phase(inputs);
  }
}

void calibrate_activations(train::ZooModel& model, train::Task& task, int64_t batches, torch::Device device) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  set_quant_phase(model, QuantPhase::kOff, QuantPhase::kCalibrate);
  const int64_t n = std::min(batches, task.steps_per_epoch());
  for (int64_t b = 0; b < n; ++b) model.forward(task.train_batch(/*epoch=*/0, b).input.to(device));
  // Histogram observers: a second pass over the same batches, binned over the first pass's range.
  std::vector<std::shared_ptr<ActFakeQuantImpl>> histogram;
  for (auto& layer : model.layers())
    if (auto a = std::dynamic_pointer_cast<ActFakeQuantImpl>(layer->hook(train::HookSlot::kInputQuant)))
      if (a->needs_histogram_pass()) histogram.push_back(a);
  if (!histogram.empty()) {
    for (auto& a : histogram) a->begin_histogram_pass();
    for (int64_t b = 0; b < n; ++b) model.forward(task.train_batch(/*epoch=*/0, b).input.to(device));
    for (auto& a : histogram) a->finish_calibration();
  }
  for (auto& layer : model.layers())
    if (auto a = std::dynamic_pointer_cast<ActFakeQuantImpl>(layer->hook(train::HookSlot::kInputQuant)))
      a->init_learned_from_observer();
  set_quant_phase(model, QuantPhase::kObserve, QuantPhase::kObserve);
  model.train(was_training);
}

}  // namespace qf::qat
