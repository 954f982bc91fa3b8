#include "qat/quantization_modifier.h"

#include <cstdio>

namespace qf::qat {
namespace {

std::optional<WeightQuantConfig> parse_weights(const RecipeNode& n, const std::optional<WeightQuantConfig>& base) {
  const WeightQuantConfig b = base.value_or(WeightQuantConfig{});
  if (!n.get<bool>("enabled", base.has_value() || !n.empty())) {
    n.allow({"bits", "granularity", "group_size", "method"});
    return std::nullopt;
  }
  WeightQuantConfig c;
  c.scheme.bits = static_cast<int>(n.get<int64_t>("bits", b.scheme.bits));
  if (c.scheme.bits < 2 || c.scheme.bits > 8) n.fail("bits", "must be in [2, 8], got " + std::to_string(c.scheme.bits));
  c.scheme.granularity = parse_granularity(
      n.one_of("granularity", granularity_name(b.scheme.granularity), {"tensor", "channel", "group"}));
  c.scheme.group_size = n.get<int64_t>("group_size", b.scheme.group_size);
  if (c.scheme.granularity == Granularity::kGroup && c.scheme.group_size <= 0)
    n.fail("group_size", "must be > 0 with granularity: group");
  c.method = parse_scale_method(n.one_of("method", scale_method_name(b.method), {"minmax", "lsq"}));
  return c;
}

std::optional<ActQuantConfig> parse_inputs(const RecipeNode& n, const std::optional<ActQuantConfig>& base) {
  const ActQuantConfig b = base.value_or(ActQuantConfig{});
  const std::string mode = n.one_of("mode", base ? act_mode_name(b.mode) : (n.empty() ? "none" : "static"),
                                    {"none", "static", "dynamic_per_token"});
  if (mode == "none") {
    n.allow({"bits", "symmetric", "method", "observer", "learn_zero_point"});
    return std::nullopt;
  }
  ActQuantConfig c;
  c.mode = parse_act_mode(mode);
  c.bits = static_cast<int>(n.get<int64_t>("bits", b.bits));
  if (c.bits < 2 || c.bits > 8) n.fail("bits", "must be in [2, 8], got " + std::to_string(c.bits));
  c.symmetric = n.get<bool>("symmetric", c.mode == ActMode::kDynamicPerToken ? true : b.symmetric);
  if (c.mode == ActMode::kDynamicPerToken && !c.symmetric) n.fail("symmetric", "must be true for dynamic_per_token");
  c.method = parse_scale_method(n.one_of("method", scale_method_name(b.method), {"minmax", "lsq"}));
  c.observer = calibrate::parse_observer_kind(
      n.one_of("observer", b.observer == calibrate::ObserverKind::kMinMax ? "minmax" : "moving_average_minmax",
               {"minmax", "moving_average_minmax"}));
  c.learn_zero_point = n.get<bool>("learn_zero_point", b.learn_zero_point);
  if (c.learn_zero_point && (c.symmetric || c.method != ScaleMethod::kLsq))
    n.fail("learn_zero_point", "needs asymmetric inputs with method: lsq");
  return c;
}

}  // namespace

QuantizationModifierConfig parse_quantization_modifier(const RecipeNode& node) {
  QuantizationModifierConfig c;
  c.start_epoch = node.get<int64_t>("start_epoch", 0);
  c.freeze_observers_epoch = node.get<int64_t>("freeze_observers_epoch", -1);
  c.freeze_bn_epoch = node.get<int64_t>("freeze_bn_epoch", -1);
  c.calibration_batches = node.get<int64_t>("calibration_batches", 16);
  c.qat.kinds = node.get<std::vector<std::string>>("kinds", c.qat.kinds);
  for (const auto& k : c.qat.kinds)
    if (k != "linear" && k != "conv2d" && k != "embedding")
      node.fail("kinds", "entries must be linear, conv2d or embedding, got '" + k + "'");
  c.qat.defaults.weights = parse_weights(node.child("weights"), std::nullopt);
  c.qat.defaults.inputs = parse_inputs(node.child("inputs"), std::nullopt);
  for (const RecipeNode& o : node.list("overrides")) {
    LayerOverride ov;
    ov.pattern = o.require<std::string>("pattern");
    ov.scheme.weights = o.has("weights") ? parse_weights(o.child("weights"), c.qat.defaults.weights) : c.qat.defaults.weights;
    ov.scheme.inputs = o.has("inputs") ? parse_inputs(o.child("inputs"), c.qat.defaults.inputs) : c.qat.defaults.inputs;
    c.qat.overrides.push_back(std::move(ov));
  }
  node.finish();
  return c;
}

void QuantizationModifier::prepare(train::TrainState& st) {
  prepared_ = prepare_qat(st.model, config_.qat);
  st.model.to(st.device);
  calibrate_activations(st.model, st.task, config_.calibration_batches, st.device);
  apply_phase(st.model, 0);
}

void QuantizationModifier::apply_phase(train::ZooModel& model, int64_t epoch) {
  const bool on = epoch >= config_.start_epoch;
  const bool frozen = config_.freeze_observers_epoch >= 0 && epoch >= config_.freeze_observers_epoch;
  set_quant_phase(model, on ? QuantPhase::kObserve : QuantPhase::kOff,
                  on ? (frozen ? QuantPhase::kFrozen : QuantPhase::kObserve) : QuantPhase::kOff);
  const bool bn_frozen = config_.freeze_bn_epoch >= 0 && epoch >= config_.freeze_bn_epoch;
  for (const auto& m : model.modules(/*include_self=*/false))
    if (auto conv = std::dynamic_pointer_cast<train::ConvBn2dImpl>(m)) conv->freeze_bn(bn_frozen);
}

void QuantizationModifier::epoch_start(train::TrainState& st) { apply_phase(st.model, st.epoch); }

// The trained model is evaluated and exported quantized, whatever the schedule said last.
void QuantizationModifier::train_end(train::TrainState& st) {
  apply_phase(st.model, std::max(st.epochs, config_.start_epoch));
}

}  // namespace qf::qat
