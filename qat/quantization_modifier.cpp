#include "qat/quantization_modifier.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/hadamard.h"
#include "core/op_schema.h"

namespace qf::qat {
namespace {

// The sign seed of `kv_cache: {rotate: hadamard}`: fixed, so that a recipe means one rotation.
constexpr uint64_t kKvRotationSeed = 0x6b76726f74ULL;  // "kvrot"
// The training batches whose K and V means `kv_cache: {center: true}` subtracts.
constexpr int64_t kKvCenterBatches = 8;

std::optional<WeightQuantConfig> parse_weights(const RecipeNode& n, const std::optional<WeightQuantConfig>& base) {
  const WeightQuantConfig b = base.value_or(WeightQuantConfig{});
  if (!n.get<bool>("enabled", base.has_value() || !n.empty())) {
    n.allow({"bits", "granularity", "group_size", "method", "symmetric", "format", "range", "scale_gradient"});
    return std::nullopt;
  }
  WeightQuantConfig c;
  // format: q4_0 | q8_0 -- llama.cpp's block formats, which fix bits, granularity and group size;
  // fp8_e4m3 -- FP8 elements with per-tensor or per-channel scales amax / 448 (core/fp8_quantize.h).
  const std::string format = n.one_of("format", b.scheme.e4m3 ? "fp8_e4m3" : ggml_format_name(b.scheme.ggml_format),
                                      {"none", "q4_0", "q8_0", "fp8_e4m3"});
  if (format != "none" && n.has("scale_gradient"))
    n.fail("scale_gradient", "applies to integer grids with min-max scales; format " + format +
                                 " computes its scales by its own rule (remove it)");
  if (format == "fp8_e4m3") {
    for (const char* k : {"bits", "group_size", "symmetric", "range"})
      if (n.has(k)) n.fail(k, "is implied by format: fp8_e4m3 (8-bit E4M3, symmetric; remove it)");
    c.scheme.bits = 8;
    c.scheme.e4m3 = true;
    c.scheme.granularity = parse_granularity(
        n.one_of("granularity", b.scheme.e4m3 ? granularity_name(b.scheme.granularity) : "channel", {"tensor", "channel"}));
    c.method = parse_scale_method(n.one_of("method", "minmax", {"minmax"}));
    return c;
  }
  if (format != "none") {
    for (const char* k : {"bits", "granularity", "group_size", "symmetric", "range"})
      if (n.has(k)) n.fail(k, std::string("is implied by format: ") + format + " (remove it)");
    c.scheme = ggml_weight_scheme(parse_ggml_format(format));
    c.method = parse_scale_method(n.one_of("method", "minmax", {"minmax"}));
    return c;
  }
  // Ranges (bits in [2, 8], symmetric only, ...) are the schema's: checked per kind in check_kinds.
  c.scheme.bits = static_cast<int>(n.get<int64_t>("bits", b.scheme.bits));
  c.scheme.symmetric = n.get<bool>("symmetric", b.scheme.symmetric);
  // range: full -- int4's 16 levels [-8, 7] with scale max|w| / 7.5 (core/quant.h), 2..4 bits only.
  // An override inherits the defaults' range where it applies: one of 5..8 bits without its own
  // `range` key stays restricted (the full range is a property of nibble-stored codes).
  const bool inherit_full = b.scheme.full_range && c.scheme.bits <= 4;
  c.scheme.full_range = n.one_of("range", inherit_full ? "full" : "restricted", {"restricted", "full"}) == "full";
  if (c.scheme.full_range && (c.scheme.bits < 2 || c.scheme.bits > 4))
    n.fail("range", "full is defined for 2..4-bit weights (int4: codes [-8, 7]), got bits: " +
                        std::to_string(c.scheme.bits));
  c.scheme.granularity = parse_granularity(
      n.one_of("granularity", granularity_name(b.scheme.granularity), {"tensor", "channel", "group"}));
  c.scheme.group_size = n.get<int64_t>("group_size", b.scheme.group_size);
  c.method = parse_scale_method(n.one_of("method", scale_method_name(b.method), {"minmax", "lsq"}));
  // An override that switches to LSQ does not inherit the defaults' scale_gradient.
  c.scale_gradient = n.get<bool>("scale_gradient", b.scale_gradient && c.method == ScaleMethod::kMinMax);
  if (c.scale_gradient && c.method != ScaleMethod::kMinMax)
    n.fail("scale_gradient", "applies to method: minmax (LSQ's scales are parameters with their own gradient)");
  return c;
}

std::optional<ActQuantConfig> parse_inputs(const RecipeNode& n, const std::optional<ActQuantConfig>& base) {
  const ActQuantConfig b = base.value_or(ActQuantConfig{});
  const std::string mode = n.one_of("mode", base ? act_mode_name(b.mode) : (n.empty() ? "none" : "static"),
                                    {"none", "static", "dynamic_per_token"});
  if (mode == "none") {
    n.allow({"bits", "symmetric", "method", "observer", "learn_zero_point", "percentile", "format"});
    return std::nullopt;
  }
  ActQuantConfig c;
  c.mode = parse_act_mode(mode);
  // format: fp8_e4m3 -- E4M3 codes, scale = amax / 448: observed per tensor (static) or per token.
  c.e4m3 = n.one_of("format", b.e4m3 ? "fp8_e4m3" : "int", {"int", "fp8_e4m3"}) == "fp8_e4m3";
  if (c.e4m3) {
    for (const char* k : {"bits", "symmetric", "learn_zero_point"})
      if (n.has(k)) n.fail(k, "is implied by format: fp8_e4m3 (8-bit E4M3, symmetric; remove it)");
    c.bits = 8;
    c.symmetric = true;
    c.method = parse_scale_method(n.one_of("method", "minmax", {"minmax"}));
    // The histogram searches (mse, kl) score an integer grid; FP8 takes its range from amax.
    c.observer = calibrate::parse_observer_kind(n.one_of(
        "observer", b.e4m3 ? calibrate::observer_kind_name(b.observer) : "moving_average_minmax",
        {"minmax", "moving_average_minmax", "percentile"}));
    c.percentile = n.get<double>("percentile", b.percentile);
    if (!(c.percentile > 50 && c.percentile <= 100)) n.fail("percentile", "must be in (50, 100]");
    if (n.has("percentile") && c.observer != calibrate::ObserverKind::kPercentile)
      n.fail("percentile", "applies to observer: percentile only");
    return c;
  }
  c.bits = static_cast<int>(n.get<int64_t>("bits", b.bits));
  c.symmetric = n.get<bool>("symmetric", c.mode == ActMode::kDynamicPerToken ? true : b.symmetric);
  c.method = parse_scale_method(n.one_of("method", scale_method_name(b.method), {"minmax", "lsq"}));
  c.observer = calibrate::parse_observer_kind(n.one_of("observer", calibrate::observer_kind_name(b.observer),
                                                      {"minmax", "moving_average_minmax", "percentile", "mse", "kl"}));
  c.percentile = n.get<double>("percentile", b.percentile);
  if (!(c.percentile > 50 && c.percentile <= 100)) n.fail("percentile", "must be in (50, 100]");
  if (n.has("percentile") && c.observer != calibrate::ObserverKind::kPercentile)
    n.fail("percentile", "applies to observer: percentile only");
  c.learn_zero_point = n.get<bool>("learn_zero_point", b.learn_zero_point);
  // A training-only option (the exported zero point is an integer either way), so not the schema's.
  if (c.learn_zero_point && (c.symmetric || c.method != ScaleMethod::kLsq))
    n.fail("learn_zero_point", "needs asymmetric inputs with method: lsq");
  return c;
}

// The recipe-time half of the export contract: `scheme` (of `section`, the default or an override)
// must be exportable for every kind the modifier selects. The error points at the section's
// `weights` key when the weight alone is the problem, else at `inputs`.
void check_kinds(const RecipeNode& section, const std::vector<std::string>& kinds, const LayerScheme& scheme) {
  if (!scheme.weights && !scheme.inputs) return;  // the layers stay float
  for (const std::string& kind : kinds) {
    const std::string weight_why = exportability_error(kind, LayerScheme{scheme.weights, std::nullopt});
    if (!weight_why.empty())
      section.fail(section.has("weights") || !section.has("inputs") ? "weights" : "inputs",
                   "cannot be exported for " + kind + " layers: " + weight_why);
    const std::string why = exportability_error(kind, scheme);
    if (!why.empty())
      section.fail(section.has("inputs") || !section.has("weights") ? "inputs" : "weights",
                   "cannot be exported for " + kind + " layers: " + why +
                       (kind == "embedding" && scheme.inputs
                            ? " (an embedding's inputs are token ids; quantize embeddings in a separate quantization "
                              "modifier with kinds: [embedding] and no inputs)"
                            : ""));
  }
}

// The `ptq` section: post-training quantization of the weights at prepare time.
WeightPtqConfig parse_ptq(const RecipeNode& n) {
  WeightPtqConfig p;
  const std::string method = n.require_one_of("method", {"minmax", "mse", "percentile", "kl", "gptq"});
  p.method = method == "gptq" ? WeightPtqConfig::Method::kGptq : WeightPtqConfig::Method::kObserver;
  // GPTQ's scales come from an observer too (minmax by default, as in the paper).
  const std::string observer = method == "gptq" ? n.one_of("observer", "minmax", {"minmax", "mse", "percentile", "kl"})
                                                : method;
  if (method != "gptq" && n.has("observer")) n.fail("observer", "is GPTQ's scale observer: use method: " + method + " alone");
  p.observer.kind = calibrate::parse_weight_observer(observer);
  p.observer.percentile = n.get<double>("percentile", p.observer.percentile);
  if (!(p.observer.percentile > 50 && p.observer.percentile <= 100)) n.fail("percentile", "must be in (50, 100]");
  p.gptq.percdamp = n.get<double>("percdamp", p.gptq.percdamp);
  if (p.gptq.percdamp < 0) n.fail("percdamp", "must be >= 0");
  p.gptq.block_size = n.get<int64_t>("block_size", p.gptq.block_size);
  if (p.gptq.block_size < 1) n.fail("block_size", "must be >= 1");
  p.gptq.act_order = n.get<bool>("act_order", p.gptq.act_order);
  p.batches = n.get<int64_t>("batches", p.batches);
  if (p.batches < 1) n.fail("batches", "must be >= 1");
  p.latent_updated = n.one_of("latent", "grid", {"grid", "updated"}) == "updated";
  if (method != "gptq")
    for (const char* k : {"percdamp", "block_size", "act_order", "batches", "latent"})
      if (n.has(k)) n.fail(k, "applies to method: gptq only");
  return p;
}

// PTQ stores the scales it chooses: weights with computed (minmax) scales get static ones; KL needs
// a histogram per scale, so not per group.
void apply_ptq_to_weights(const RecipeNode& section, std::optional<WeightQuantConfig>& w, const WeightPtqConfig& ptq) {
  if (!w) return;
  if (w->scheme.e4m3)
    section.fail(section.has("weights") ? "weights" : "ptq",
                 "ptq (observer scales, GPTQ) searches integer grids; format fp8_e4m3 takes its scales from amax");
  if (w->scale_gradient)
    section.fail(section.has("weights") ? "weights" : "ptq",
                 "scale_gradient: true needs scales computed from the weights at every step; ptq fixes them "
                 "(remove one of the two)");
  if (w->method == ScaleMethod::kMinMax) w->static_scales = true;
  if (ptq.observer.kind == calibrate::WeightObserverKind::kKl && w->scheme.granularity == Granularity::kGroup)
    section.fail(section.has("weights") ? "weights" : "ptq",
                 "the kl observer needs per-tensor or per-channel weight scales (a group is too few values for a "
                 "histogram); use mse or percentile for groups");
}

// The `kv_cache` section: bits 4 | 8, group_size 32 | 64 | head (0 = head), symmetric, clip,
// zero_point fp16 | int4 | int8 (asymmetric: the offset's storage; int<bits> implies symmetric:
// false), rotate none | hadamard (into `rotate`), center (into `center`).
KvCacheScheme parse_kv_cache(const RecipeNode& n, bool& rotate, bool& center) {
  KvCacheScheme k;
  k.bits = static_cast<int>(n.get<int64_t>("bits", k.bits));
  if (k.bits != 4 && k.bits != 8) n.fail("bits", "must be 4 or 8, got " + std::to_string(k.bits));
  const std::string group = n.get<std::string>("group_size", "32");
  if (group == "head" || group == "0") {
    k.group_size = 0;
  } else if (group == "32" || group == "64") {
    k.group_size = std::stoll(group);
  } else {
    n.fail("group_size", "must be 32, 64 or head (0: the whole head dimension), got '" + group + "'");
  }
  const std::string zp = n.one_of("zero_point", "fp16", {"fp16", "int4", "int8"});
  k.int_zero_point = zp != "fp16";
  if (k.int_zero_point && zp != "int" + std::to_string(k.bits))
    n.fail("zero_point", "must match the codes' width: int" + std::to_string(k.bits) + " for bits: " +
                             std::to_string(k.bits) + ", got '" + zp + "'");
  k.symmetric = n.get<bool>("symmetric", !k.int_zero_point);
  if (k.symmetric && n.has("zero_point"))
    n.fail("zero_point", "applies to symmetric: false only (a symmetric cache has no zero point)");
  k.clip = static_cast<float>(n.get<double>("clip", 1.0));
  if (!(k.clip > 0.0f && k.clip <= 1.0f)) n.fail("clip", "must be in (0, 1]");
  if (!k.symmetric && k.clip != 1.0f) n.fail("clip", "applies to symmetric: true only");
  rotate = n.one_of("rotate", "none", {"none", "hadamard"}) == "hadamard";
  center = n.get<bool>("center", false);
  n.finish();
  return k;
}

}  // namespace

void OscillationTracker::update(const torch::Tensor& codes) {
  torch::NoGradGuard no_grad;
  if (!prev_.defined()) {
    prev_ = codes.clone();
    last_dir_ = torch::zeros_like(codes);
    freq_ = torch::zeros_like(codes);
    ema_ = codes.clone();
    frozen_ = torch::zeros_like(codes, codes.options().dtype(torch::kBool));
    frozen_codes_ = torch::zeros_like(codes);
    return;
  }
  const double m = config_.momentum;
  const torch::Tensor dir = torch::sign(codes - prev_);
  const torch::Tensor changed = dir != 0;
  const torch::Tensor oscillated = changed & (last_dir_ != 0) & (dir != last_dir_);
  freq_.mul_(1.0 - m).add_(oscillated.to(freq_.scalar_type()), m);
  ema_.mul_(1.0 - m).add_(codes, m);
  last_dir_ = torch::where(changed, dir, last_dir_);
  prev_.copy_(codes);
  const torch::Tensor newly = (freq_ > config_.threshold) & frozen_.logical_not();
  frozen_codes_ = torch::where(newly, torch::round(ema_), frozen_codes_);
  frozen_.logical_or_(newly);
}

void OscillationTracker::save(torch::serialize::OutputArchive& a) const {
  if (!started()) return;
  a.write("prev", prev_);
  a.write("last_dir", last_dir_);
  a.write("freq", freq_);
  a.write("ema", ema_);
  a.write("frozen", frozen_);
  a.write("frozen_codes", frozen_codes_);
}

void OscillationTracker::load(torch::serialize::InputArchive& a) {
  *this = OscillationTracker(config_);
  torch::Tensor prev;
  if (!a.try_read("prev", prev)) return;  // saved before it started
  prev_ = prev;
  a.read("last_dir", last_dir_);
  a.read("freq", freq_);
  a.read("ema", ema_);
  a.read("frozen", frozen_);
  a.read("frozen_codes", frozen_codes_);
}

double quant_noise_fraction(const QuantNoiseConfig& c, int64_t step, int64_t start, int64_t full) {
  if (step >= full) return 1.0;
  const double t =
      std::max(0.0, static_cast<double>(step - start) / static_cast<double>(std::max<int64_t>(1, full - start)));
  return c.fraction + (1.0 - c.fraction) * t;
}

QuantizationModifierConfig parse_quantization_modifier(const RecipeNode& node) {
  QuantizationModifierConfig c;
  c.window = train::parse_epoch_window(
      node, "fake quantization stays on to the end of training (the exported model is the quantized one)");
  c.freeze_observers_epoch = train::parse_epoch_point(node, "freeze_observers_epoch");
  c.freeze_bn_epoch = train::parse_epoch_point(node, "freeze_bn_epoch");
  c.calibration_batches = node.get<int64_t>("calibration_batches", 16);
  if (c.calibration_batches < 0) node.fail("calibration_batches", "must be >= 0");
  const std::vector<std::string> known = quantizable_kinds();
  c.qat.kinds = node.get<std::vector<std::string>>("kinds", c.qat.kinds);
  if (c.qat.kinds.empty()) node.fail("kinds", "must name at least one kind");
  for (const auto& k : c.qat.kinds)
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (const auto& q : known) list += (list.empty() ? "" : ", ") + q;
      node.fail("kinds", "entries must be quantizable kinds (" + list + "), got '" + k + "'");
    }
  c.qat.defaults.weights = parse_weights(node.child("weights"), std::nullopt);
  c.qat.defaults.inputs = parse_inputs(node.child("inputs"), std::nullopt);
  check_kinds(node, c.qat.kinds, c.qat.defaults);
  const std::vector<RecipeNode> override_nodes = node.list("overrides");
  for (const RecipeNode& o : override_nodes) {
    LayerOverride ov;
    ov.pattern = o.require<std::string>("pattern");
    ov.scheme.weights = o.has("weights") ? parse_weights(o.child("weights"), c.qat.defaults.weights) : c.qat.defaults.weights;
    ov.scheme.inputs = o.has("inputs") ? parse_inputs(o.child("inputs"), c.qat.defaults.inputs) : c.qat.defaults.inputs;
    // Strict on purpose: a pattern may match a layer of any selected kind.
    check_kinds(o, c.qat.kinds, ov.scheme);
    c.qat.overrides.push_back(std::move(ov));
  }
  if (node.has("ptq")) {
    c.ptq = parse_ptq(node.child("ptq"));
    apply_ptq_to_weights(node, c.qat.defaults.weights, *c.ptq);
    for (size_t i = 0; i < c.qat.overrides.size(); ++i)
      apply_ptq_to_weights(override_nodes[i], c.qat.overrides[i].scheme.weights, *c.ptq);
  }
  if (node.has("lsq_lr_factor")) {
    c.lsq_lr_factor = node.get<double>("lsq_lr_factor", 1.0);
    if (!(*c.lsq_lr_factor >= 0)) node.fail("lsq_lr_factor", "must be >= 0");
    auto learned = [](const LayerScheme& s) {
      return (s.weights && s.weights->method == ScaleMethod::kLsq) ||
             (s.inputs && s.inputs->mode == ActMode::kStatic && s.inputs->method == ScaleMethod::kLsq);
    };
    bool any = learned(c.qat.defaults);
    for (const LayerOverride& o : c.qat.overrides) any = any || learned(o.scheme);
    if (!any)
      node.fail("lsq_lr_factor", "applies to learned scales only: no weights or static inputs here use method: lsq");
  }
  if (node.has("dampen")) {
    c.dampen = node.get<double>("dampen", 0.0);
    if (!(*c.dampen > 0 && *c.dampen < 1)) node.fail("dampen", "must be a fraction per step in (0, 1), e.g. 0.01");
    c.dampen_where = node.file() + ":" + std::to_string(node.line_of("dampen")) + ": key 'dampen' " + node.scope();
  }
  if (node.has("freeze_oscillations")) {
    const RecipeNode f = node.child("freeze_oscillations");
    OscillationFreezeConfig z;
    z.threshold = f.get<double>("threshold", z.threshold);
    if (!(z.threshold > 0 && z.threshold < 1))
      f.fail("threshold", "must be an oscillation frequency in (0, 1) (oscillations per step), e.g. 0.02");
    z.momentum = f.get<double>("momentum", z.momentum);
    if (!(z.momentum > 0 && z.momentum < 1)) f.fail("momentum", "must be in (0, 1), e.g. 0.01");
    c.freeze_oscillations = z;
    c.freeze_where = node.file() + ":" + std::to_string(node.line_of("freeze_oscillations")) +
                     ": key 'freeze_oscillations' " + node.scope();
  }
  if (node.has("quant_noise")) {
    const RecipeNode q = node.child("quant_noise");
    QuantNoiseConfig z;
    z.fraction = q.require<double>("fraction");
    if (!(z.fraction > 0 && z.fraction < 1))
      q.fail("fraction", "must be the share of weight groups quantized where quantization starts, in (0, 1)");
    z.full_epoch = q.require<double>("full_epoch");
    if (!(z.full_epoch > c.window.start))
      q.fail("full_epoch", "must be after the modifier's start_epoch (" + std::to_string(c.window.start) +
                               "): the share rises from `fraction` there to 1 here");
    c.quant_noise = z;
    c.quant_noise_where =
        node.file() + ":" + std::to_string(node.line_of("quant_noise")) + ": key 'quant_noise' " + node.scope();
  }
  if (node.has("kv_cache")) {
    c.kv_cache = parse_kv_cache(node.child("kv_cache"), c.kv_rotate, c.kv_center);
    c.kv_cache_where = node.file() + ":" + std::to_string(node.line_of("kv_cache")) + ": key 'kv_cache' " + node.scope();
  }
  node.finish();
  return c;
}

void QuantizationModifier::prepare(train::TrainState& st) {
  if (config_.kv_cache) {
    if (!st.model.has_kv_cache())
      throw std::runtime_error(config_.kv_cache_where + " needs a model with attention (gpt or hf), not this one");
    const std::string why = kv_scheme_error(*config_.kv_cache, st.model.kv_head_dim());
    if (!why.empty()) throw std::runtime_error(config_.kv_cache_where + ": " + why);
    // First: the activation ranges and any weight PTQ below must see the rotated model.
    if (config_.kv_rotate && !st.restoring) {
      const int64_t d = st.model.kv_head_dim();
      try {
        const std::vector<double> r = randomized_hadamard(d, kKvRotationSeed);
        st.model.rotate_attention_heads(torch::tensor(r, torch::kDouble).view({d, d}));
      } catch (const std::exception& e) {
        throw std::runtime_error(config_.kv_cache_where + ": rotate: hadamard: " + e.what());
      }
    }
    if (config_.kv_center && !st.restoring) {
      st.model.to(st.device);
      std::vector<torch::Tensor> inputs;
      for (int64_t b = 0; b < std::min(kKvCenterBatches, st.task.steps_per_epoch()); ++b)
        inputs.push_back(st.task.train_batch(/*epoch=*/0, b).input.to(st.device));
      try {
        st.model.center_attention_kv(inputs);
      } catch (const std::exception& e) {
        throw std::runtime_error(config_.kv_cache_where + ": center: " + e.what());
      }
    }
  }
  model_ = &st.model;
  prepared_ = prepare_qat(st.model, config_.qat);
  layers_.clear();
  for (auto& layer : st.model.layers())
    for (const PreparedLayer& p : prepared_)
      if (p.name == layer->layer_name()) layers_.push_back(layer);
  if (config_.dampen)
    for (auto& layer : layers_)
      if (std::dynamic_pointer_cast<train::ConvBn2dImpl>(layer))
        throw std::runtime_error(config_.dampen_where + ": layer '" + layer->layer_name() +
                                 "' is a Conv+BN whose quantized weight is the folded one; dampening "
                                 "supports layers that quantize their own weight (linear, embedding): leave it "
                                 "out or narrow `kinds`");
  // freeze_oscillations and quant_noise act on integer weight grids that the layer quantizes itself.
  trackers_.clear();
  tracked_.clear();
  for (const auto& [on, where] : {std::pair{config_.freeze_oscillations.has_value(), &config_.freeze_where},
                                  std::pair{config_.quant_noise.has_value(), &config_.quant_noise_where}}) {
    if (!on) continue;
    bool any = false;
    for (auto& layer : layers_) {
      auto wq = std::dynamic_pointer_cast<WeightFakeQuantImpl>(layer->hook(train::HookSlot::kWeightQuant));
      if (!wq) continue;
      any = true;
      if (std::dynamic_pointer_cast<train::ConvBn2dImpl>(layer))
        throw std::runtime_error(*where + ": layer '" + layer->layer_name() +
                                 "' is a Conv+BN whose quantized weight is the folded one; this key supports layers "
                                 "that quantize their own weight (linear, embedding): leave it out or narrow `kinds`");
      if (!wq->integer_grid())
        throw std::runtime_error(*where + ": layer '" + layer->layer_name() +
                                 "' uses a ggml block format or FP8; this key needs an integer grid per group "
                                 "(weights: {bits, granularity, ...})");
    }
    if (!any) throw std::runtime_error(*where + ": no layer of this modifier has quantized weights");
  }
  if (config_.freeze_oscillations)
    for (size_t i = 0; i < layers_.size(); ++i)
      if (layers_[i]->hook(train::HookSlot::kWeightQuant)) {
        trackers_.emplace_back(*config_.freeze_oscillations);
        tracked_.push_back(i);
      }
  if (config_.quant_noise) {
    const int64_t full = train::epoch_to_step(config_.quant_noise->full_epoch, st.steps_per_epoch);
    if (full > st.total_steps)
      throw std::runtime_error(config_.quant_noise_where + ": full_epoch " +
                               std::to_string(config_.quant_noise->full_epoch) + " is step " + std::to_string(full) +
                               ", after the last step (" + std::to_string(st.total_steps) +
                               "): training would end with float weight groups");
  }
  st.model.to(st.device);
  calibrate_activations(st.model, st.task, config_.calibration_batches, st.device);
  // Weight PTQ after the activation ranges: GPTQ sees the inputs quantized as deployed. Skipped when
  // the model is only rebuilt for a checkpoint that already holds the result.
  if (config_.ptq && !st.restoring)
    ptq_report_ = quantize_weights_post_training(st.model, st.task, *config_.ptq, st.device, config_.ptq_progress);
  phase_key_ = -1;
  apply_phase(st.step, st.steps_per_epoch);
}

void QuantizationModifier::apply_phase(int64_t step, int64_t spe) {
  auto reached = [&](const std::optional<double>& epoch) {
    return epoch.has_value() && step >= train::epoch_to_step(*epoch, spe);
  };
  const bool on = step >= config_.window.start_step(spe);
  const bool frozen = reached(config_.freeze_observers_epoch);
  const bool bn_frozen = reached(config_.freeze_bn_epoch);
  const int key = on | frozen << 1 | bn_frozen << 2;
  if (key == phase_key_) return;  // runs every step: only touch the modules when something changes
  phase_key_ = key;
  set_quant_phase(layers_, on ? QuantPhase::kObserve : QuantPhase::kOff,
                  on ? (frozen ? QuantPhase::kFrozen : QuantPhase::kObserve) : QuantPhase::kOff);
  for (auto& layer : layers_)
    if (auto conv = std::dynamic_pointer_cast<train::ConvBn2dImpl>(layer)) conv->freeze_bn(bn_frozen);
  if (config_.kv_cache && model_) model_->set_kv_cache_scheme(on ? config_.kv_cache : std::nullopt);
}

std::vector<train::LrFactorGroup> QuantizationModifier::lr_factor_groups() const {
  if (!config_.lsq_lr_factor) return {};
  train::LrFactorGroup g;
  g.factor = *config_.lsq_lr_factor;
  // The learned parameters of this modifier's quantizers: LSQ scales (and zero points).
  for (const auto& layer : layers_)
    for (train::HookSlot slot : {train::HookSlot::kWeightQuant, train::HookSlot::kInputQuant}) {
      const train::TensorHook hook = layer->hook(slot);
      if (!std::dynamic_pointer_cast<WeightFakeQuantImpl>(hook) && !std::dynamic_pointer_cast<ActFakeQuantImpl>(hook))
        continue;
      for (const torch::Tensor& p : hook->parameters())
        if (p.requires_grad()) g.params.push_back(p);
    }
  return {g};
}

void QuantizationModifier::set_quant_fraction(double p) {
  for (auto& layer : layers_)
    if (auto wq = std::dynamic_pointer_cast<WeightFakeQuantImpl>(layer->hook(train::HookSlot::kWeightQuant)))
      wq->set_quant_fraction(p);
}

void QuantizationModifier::before_forward(train::TrainState& st) {
  apply_phase(st.step, st.steps_per_epoch);
  if (config_.quant_noise) {
    const double p = quant_noise_fraction(*config_.quant_noise, st.step, config_.window.start_step(st.steps_per_epoch),
                                          train::epoch_to_step(config_.quant_noise->full_epoch, st.steps_per_epoch));
    set_quant_fraction(p);
    if (st.step >= config_.window.start_step(st.steps_per_epoch)) st.step_log["qnoise"] = p;
  }
}

void QuantizationModifier::freeze_step(train::TrainState& st) {
  if (st.step < config_.window.start_step(st.steps_per_epoch)) return;
  torch::NoGradGuard no_grad;
  int64_t frozen = 0, total = 0;
  for (size_t t = 0; t < trackers_.size(); ++t) {
    auto& layer = layers_[tracked_[t]];
    auto wq = std::dynamic_pointer_cast<WeightFakeQuantImpl>(layer->hook(train::HookSlot::kWeightQuant));
    torch::Tensor& w = layer->raw_weight();
    // As dampen: codes of the masked weight (a removed weight is code 0 and never oscillates).
    const train::TensorHook mask = layer->hook(train::HookSlot::kWeightMask);
    const torch::Tensor kept = mask ? mask->forward(w) : w;
    const torch::Tensor s = wq->element_scales(kept);
    OscillationTracker& tracker = trackers_[t];
    tracker.update(wq->codes(kept, s));
    // Frozen weights are put back on their code of the current grid after every step: the
    // optimizer's move is undone, so they no longer oscillate (nor train).
    w.copy_(torch::where(tracker.frozen(), tracker.frozen_codes() * s, w));
    frozen += tracker.frozen_count();
    total += w.numel();
  }
  const double share = total ? static_cast<double>(frozen) / static_cast<double>(total) : 0.0;
  st.step_log["frozen"] = share;
  st.epoch_log["oscillation_frozen_share"] = share;
}

void QuantizationModifier::save_state(torch::serialize::OutputArchive& a) const {
  for (size_t t = 0; t < trackers_.size(); ++t) {
    torch::serialize::OutputArchive one;
    trackers_[t].save(one);
    a.write("oscillation_tracker." + std::to_string(t), one);
  }
}

void QuantizationModifier::load_state(torch::serialize::InputArchive& a) {
  for (size_t t = 0; t < trackers_.size(); ++t) {
    torch::serialize::InputArchive one;
    if (!a.try_read("oscillation_tracker." + std::to_string(t), one))
      throw std::runtime_error("checkpoint.pt holds no freeze_oscillations state for quantized layer " +
                               std::to_string(t) +
                               ": was it written by a run with another recipe? (start the run "
                               "again without --resume)");
    trackers_[t].load(one);
  }
}

void QuantizationModifier::after_step(train::TrainState& st) {
  if (config_.freeze_oscillations) freeze_step(st);
  if (!config_.dampen) return;
  const int64_t start = config_.window.start_step(st.steps_per_epoch);
  if (st.step < start) return;
  const double span = static_cast<double>(std::max<int64_t>(1, st.total_steps - start));
  const double progress = std::min(1.0, static_cast<double>(st.step + 1 - start) / span);
  const double f = *config_.dampen * 0.5 * (1.0 - std::cos(M_PI * progress));
  torch::NoGradGuard no_grad;
  for (auto& layer : layers_) {
    if (!layer->hook(train::HookSlot::kWeightQuant)) continue;
    torch::Tensor& w = layer->raw_weight();
    // Linear and embedding quantize their raw weight (checked at prepare), so the pull is in the
    // raw weight's own units. Weights a sparsity mask removes are left where they are (a pruner
    // that lets them back decides about them), so the pull is measured from the masked weight.
    const train::TensorHook mask = layer->hook(train::HookSlot::kWeightMask);
    const torch::Tensor kept = mask ? mask->forward(w) : w;
    w.add_(layer->deployed_weight() - kept, f);
  }
  st.step_log["damp"] = f;
}

// The trained model is evaluated and exported quantized, whatever the schedule said last: every
// scheduled point counts as reached.
void QuantizationModifier::train_end(train::TrainState& st) {
  apply_phase(std::numeric_limits<int64_t>::max(), std::max<int64_t>(1, st.steps_per_epoch));
  if (config_.quant_noise) set_quant_fraction(1.0);
}

}  // namespace qf::qat
