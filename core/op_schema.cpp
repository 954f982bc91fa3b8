#include "core/op_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/checkpoint_format.h"

namespace qf {
namespace {

using T = AttrSpec::Type;

// Bounds keep every shape computation of the runtime inside int64 (a padding of 2^62 would
// overflow) while allowing any real network.
constexpr double kMaxWindow = 1 << 16;
constexpr double kMaxGroups = 1 << 24;

AttrSpec ints(const char* name, bool required, int max_len, double lo, double hi) {
  return {name, T::kInts, required, 1, max_len, lo, hi};
}

OpSchema kind(const char* name) {
  OpSchema o;
  o.kind = name;
  return o;
}

std::vector<OpSchema> make_schemas() {
  std::vector<OpSchema> s;
  auto add = [&](OpSchema o) { s.push_back(std::move(o)); };
  OpSchema linear = kind("linear");
  linear.weight = WeightRole::kQuantizable;
  linear.weight_rank = 2;
  linear.bias_allowed = true;
  linear.act_static = linear.act_dynamic = true;
  linear.prunable = true;
  linear.arithmetic = Arithmetic::kIntegerGemm;
  add(linear);

  OpSchema conv = kind("conv2d");
  conv.weight = WeightRole::kQuantizable;
  conv.weight_rank = 4;
  conv.bias_allowed = true;
  conv.act_static = true;
  conv.prunable = true;
  conv.arithmetic = Arithmetic::kIntegerGemm;
  conv.attrs = {ints("kernel", false, 2, 1, kMaxWindow), ints("stride", false, 2, 1, kMaxWindow),
                ints("padding", false, 2, 0, kMaxWindow), ints("groups", false, 1, 1, kMaxGroups)};
  add(conv);

  OpSchema relu = kind("relu");
  relu.arithmetic = Arithmetic::kExact;
  add(relu);
  add(kind("gelu"));
  for (const char* pool : {"maxpool2d", "avgpool2d"}) {
    OpSchema p = kind(pool);
    p.attrs = {ints("kernel", true, 2, 1, kMaxWindow), ints("stride", false, 2, 1, kMaxWindow),
               ints("padding", false, 2, 0, kMaxWindow)};
    if (p.kind == "maxpool2d") p.arithmetic = Arithmetic::kExact;  // avgpool sums
    add(p);
  }
  OpSchema flatten = kind("flatten");
  flatten.attrs = {ints("start_dim", false, 1, -8, 8)};
  flatten.arithmetic = Arithmetic::kExact;
  add(flatten);

  OpSchema addop = kind("add");
  addop.num_inputs = 2;
  addop.arithmetic = Arithmetic::kExact;
  add(addop);

  OpSchema ln = kind("layernorm");
  ln.weight = WeightRole::kFloat;
  ln.weight_rank = 1;
  ln.bias_allowed = ln.bias_required = true;
  ln.attrs = {{"eps", T::kFloat, false, 1, 1, 1e-30, 1.0}};
  add(ln);

  add(kind("softmax"));

  OpSchema emb = kind("embedding");
  emb.takes_ids = true;
  emb.weight = WeightRole::kQuantizable;
  emb.weight_rank = 2;
  emb.arithmetic = Arithmetic::kExact;  // code * scale
  add(emb);

  OpSchema pos = kind("positional_embedding");
  pos.weight = WeightRole::kFloat;
  pos.weight_rank = 2;
  pos.arithmetic = Arithmetic::kExact;
  add(pos);

  // The quantized KV cache (feature kv_cache_int4, core/kv_cache_attrs.h) of both attention ops.
  auto kv_attrs = [](std::vector<AttrSpec>& attrs) {
    for (AttrSpec a : {ints("kv_bits", false, 1, 4, 8), ints("kv_group_size", false, 1, 1, 1 << 16),
                       ints("kv_symmetric", false, 1, 0, 1), AttrSpec{"kv_clip", T::kFloat, false, 1, 1, 1e-6, 1.0}}) {
      a.feature = fmt::kFeatureKvCacheInt4;
      attrs.push_back(a);
    }
    // An integer zero point instead of the fp16 offset: another cache layout, its own feature.
    AttrSpec zp = ints("kv_zero_point", false, 1, 1, 1);
    zp.feature = fmt::kFeatureKvCacheZeroPoint;
    attrs.push_back(zp);
  };
  OpSchema attn = kind("causal_attention");
  attn.attrs = {ints("heads", true, 1, 1, 1 << 16)};
  kv_attrs(attn.attrs);
  add(attn);

  // Decoders of Hugging Face models (feature decoder_ops).
  OpSchema rms = kind("rms_norm");
  rms.weight = WeightRole::kFloat;
  rms.weight_rank = 1;
  rms.attrs = {{"eps", T::kFloat, false, 1, 1, 1e-30, 1.0}, ints("plus_one", false, 1, 0, 1)};
  rms.feature = fmt::kFeatureDecoderOps;
  add(rms);

  OpSchema rope = kind("rotary_embedding");
  rope.weight = WeightRole::kFloat;  // inverse frequencies [head_dim / 2], scaling applied
  rope.weight_rank = 1;
  rope.feature = fmt::kFeatureDecoderOps;
  add(rope);

  OpSchema gqa = kind("gqa_attention");
  gqa.num_inputs = 3;  // q (rotated), k (rotated), v
  gqa.attrs = {ints("heads", true, 1, 1, 1 << 16), ints("kv_heads", true, 1, 1, 1 << 16),
               ints("window", false, 1, 0, 1 << 30), {"scale", T::kFloat, true, 1, 1, 1e-30, 1e30}};
  kv_attrs(gqa.attrs);
  gqa.feature = fmt::kFeatureDecoderOps;
  add(gqa);

  OpSchema gated = kind("gated_activation");
  gated.num_inputs = 2;  // gate, up
  gated.attrs = {{"activation", T::kString, true, 1, 1, 0, 0}};
  gated.feature = fmt::kFeatureDecoderOps;
  add(gated);

  OpSchema scale = kind("scale");
  scale.attrs = {{"factor", T::kFloat, true, 1, 1, -1e30, 1e30}};
  scale.arithmetic = Arithmetic::kExact;
  scale.feature = fmt::kFeatureDecoderOps;
  add(scale);

  // Routed expert MLPs (feature moe_experts): inputs x [.., C] and router logits [.., E]; the
  // experts' linears are layer groups of their own (sub_layer_ops), the op has none.
  OpSchema moe = kind("moe_experts");
  moe.num_inputs = 2;
  moe.attrs = {ints("experts", true, 1, 1, 1024), ints("top_k", true, 1, 1, 1024), ints("normalize", false, 1, 0, 1),
               {"fallback_threshold", T::kFloat, false, 1, 1, 0.0, 1.0}, {"activation", T::kString, true, 1, 1, 0, 0}};
  moe.feature = fmt::kFeatureMoeExperts;
  add(moe);
  return s;
}

std::string str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

const std::vector<OpSchema>& op_schemas() {
  static const std::vector<OpSchema> schemas = make_schemas();
  return schemas;
}

const OpSchema* find_op_schema(const std::string& kind) {
  for (const OpSchema& s : op_schemas())
    if (s.kind == kind) return &s;
  return nullptr;
}

std::vector<std::string> quantizable_kinds() {
  std::vector<std::string> out;
  for (const OpSchema& s : op_schemas())
    if (s.weight == WeightRole::kQuantizable) out.push_back(s.kind);
  return out;
}

std::vector<std::string> prunable_kinds() {
  std::vector<std::string> out;
  for (const OpSchema& s : op_schemas())
    if (s.prunable) out.push_back(s.kind);
  return out;
}

std::vector<std::string> op_features(const Op& op) {
  std::vector<std::string> out;
  const OpSchema* s = find_op_schema(op.kind);
  if (!s) return out;
  auto add = [&](const std::string& f) {
    if (!f.empty() && std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  };
  add(s->feature);
  for (const AttrSpec& a : s->attrs)
    if (op.ints.count(a.name) || op.floats.count(a.name) || op.strings.count(a.name)) add(a.feature);
  return out;
}

std::vector<std::string> moe_projections(const std::string& activation) {
  if (activation == "gelu_tanh") return {"fc1", "fc2"};
  if (activation == "silu_gated") return {"w1", "w3", "w2"};
  return {};
}

std::vector<Op> sub_layer_ops(const Op& op) {
  std::vector<Op> out;
  if (op.kind != "moe_experts") return out;
  auto it = op.strings.find("activation");
  const std::vector<std::string> proj = moe_projections(it == op.strings.end() ? "" : it->second);
  const int64_t experts = op.int_attr("experts", 0);
  for (int64_t e = 0; e < experts; ++e)
    for (const std::string& p : proj) {
      Op l;
      l.kind = "linear";
      l.name = op.name + "." + std::to_string(e) + "." + p;
      out.push_back(std::move(l));
    }
  return out;
}

std::string check_op(const Op& op) {
  const OpSchema* s = find_op_schema(op.kind);
  if (!s) return "unknown op kind '" + op.kind + "'";
  if (static_cast<int>(op.inputs.size()) != s->num_inputs)
    return "expects " + std::to_string(s->num_inputs) + " input(s), has " + std::to_string(op.inputs.size());
  if (op.outputs.size() != 1) return "expects exactly one output, has " + std::to_string(op.outputs.size());
  auto spec_of = [&](const std::string& name, T type) -> const AttrSpec* {
    for (const AttrSpec& a : s->attrs)
      if (a.name == name && a.type == type) return &a;
    return nullptr;
  };
  auto ignorable = [](const std::string& name) { return name.rfind(fmt::kIgnorablePrefix, 0) == 0; };
  for (const auto& [name, values] : op.ints) {
    if (ignorable(name)) continue;
    const AttrSpec* a = spec_of(name, T::kInts);
    if (!a) return "unknown integer attribute '" + name + "' (not part of " + op.kind + " in this format)";
    if (static_cast<int>(values.size()) < a->min_len || static_cast<int>(values.size()) > a->max_len)
      return "attribute '" + name + "' must have " + std::to_string(a->min_len) +
             (a->max_len != a->min_len ? " to " + std::to_string(a->max_len) : std::string()) + " value(s)";
    for (int64_t v : values)
      if (static_cast<double>(v) < a->lo || static_cast<double>(v) > a->hi)
        return "attribute '" + name + "' value " + std::to_string(v) + " outside [" + str(a->lo) + ", " +
               str(a->hi) + "]";
  }
  for (const auto& [name, v] : op.floats) {
    if (ignorable(name)) continue;
    const AttrSpec* a = spec_of(name, T::kFloat);
    if (!a) return "unknown float attribute '" + name + "' (not part of " + op.kind + " in this format)";
    if (!std::isfinite(v) || v < a->lo || v > a->hi)
      return "attribute '" + name + "' value " + str(v) + " outside [" + str(a->lo) + ", " + str(a->hi) + "]";
  }
  for (const auto& kv : op.strings)
    if (!ignorable(kv.first) && !spec_of(kv.first, T::kString))
      return "unknown string attribute '" + kv.first + "' (not part of " + op.kind + " in this format)";
  for (const AttrSpec& a : s->attrs) {
    if (!a.required) continue;
    const bool present = a.type == T::kInts ? op.ints.count(a.name) > 0
                         : a.type == T::kFloat ? op.floats.count(a.name) > 0
                                               : op.strings.count(a.name) > 0;
    if (!present) return "missing required attribute '" + a.name + "'";
  }
  if (op.kind == "moe_experts") {
    if (op.int_attr("top_k", 1) > op.int_attr("experts", 1)) return "top_k must not exceed experts";
    if (moe_projections(op.strings.at("activation")).empty())
      return "activation must be 'gelu_tanh' or 'silu_gated', got '" + op.strings.at("activation") + "'";
  }
  return "";
}

std::string check_layer_quantization(const std::string& kind, const WeightScheme* weight, const ActScheme& act) {
  const OpSchema* s = find_op_schema(kind);
  if (!s) return "unknown op kind '" + kind + "'";
  if (weight) {
    if (s->weight != WeightRole::kQuantizable)
      return kind + " weights cannot be quantized (quantizable kinds: linear, conv2d, embedding)";
    if (weight->bits < 2 || weight->bits > 8) return "weight bits must be in [2, 8], got " + std::to_string(weight->bits);
    if (!weight->symmetric) return "the checkpoint format stores symmetric weights only (symmetric: true)";
    if (weight->granularity == Granularity::kGroup && weight->group_size <= 0)
      return "granularity group needs group_size > 0";
    if (weight->ggml_format != GgmlFormat::kNone) {
      const WeightScheme g = ggml_weight_scheme(weight->ggml_format);
      if (weight->bits != g.bits || weight->granularity != g.granularity || weight->group_size != g.group_size)
        return std::string("format ") + ggml_format_name(weight->ggml_format) + " is " + std::to_string(g.bits) +
               "-bit in groups of 32 (do not set bits / granularity / group_size beside it)";
      if (kind == "conv2d") return "ggml block formats are for linear and embedding weights";
    }
    if (weight->full_range && (weight->bits > 4 || weight->ggml_format != GgmlFormat::kNone || weight->e4m3))
      return "the full code range (range: full) is for integer weights of 2..4 bits, got " +
             (weight->e4m3 ? std::string("fp8_e4m3")
                           : weight->ggml_format != GgmlFormat::kNone ? std::string(ggml_format_name(weight->ggml_format))
                                                                      : std::to_string(weight->bits) + " bits");
    if (weight->e4m3) {
      if (weight->ggml_format != GgmlFormat::kNone) return "fp8_e4m3 is not a ggml block format";
      if (weight->bits != 8) return "fp8_e4m3 weights are 8-bit (do not set bits beside format: fp8_e4m3)";
      if (weight->granularity == Granularity::kGroup)
        return "fp8_e4m3 weight scales are per tensor or per channel (granularity: tensor or channel)";
    }
  }
  if (act.mode == ActMode::kNone) return "";
  if (act.mode == ActMode::kStatic && !s->act_static)
    return "static input quantization is not defined for " + kind + " (only linear and conv2d)";
  if (act.mode == ActMode::kDynamicPerToken && !s->act_dynamic)
    return "dynamic per-token input quantization is not defined for " + kind + " (only linear)";
  if (!weight)
    return "quantized inputs need a quantized weight: the runtime's integer GEMM multiplies codes by codes "
           "(enable weights, or disable inputs)";
  if (act.bits < 2 || act.bits > 8) return "activation bits must be in [2, 8], got " + std::to_string(act.bits);
  // FP8 inputs feed the exact FP8 GEMM, which multiplies E4M3 by E4M3: both or neither.
  if (act.e4m3 != weight->e4m3)
    return act.e4m3 ? "fp8_e4m3 inputs need fp8_e4m3 weights (the runtime's FP8 GEMM multiplies E4M3 by E4M3)"
                    : "fp8_e4m3 weights take fp8_e4m3 inputs or float inputs (inputs: {format: fp8_e4m3} or "
                      "mode: none), not integer ones";
  if (act.e4m3) {
    if (act.bits != 8 || !act.symmetric || act.zero_point != 0)
      return "fp8_e4m3 inputs are 8-bit, symmetric, without zero point";
    return "";
  }
  if (act.mode == ActMode::kDynamicPerToken && (act.bits != 8 || !act.symmetric))
    return "dynamic per-token activations are symmetric int8 (bits: 8, symmetric: true)";
  return "";
}

}  // namespace qf
