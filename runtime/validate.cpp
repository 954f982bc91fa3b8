#include "runtime/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/agreement.h"
#include "core/error.h"
#include "core/kv_cache_attrs.h"
#include "core/op_schema.h"
#include "runtime/routing_divergence.h"
#include "runtime/weight_prep.h"

namespace qf {
namespace {

// float32 unit roundoff: one rounding changes a value by at most u times its magnitude.
constexpr double kU = 1.0 / (1 << 24);

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.f32) m = std::fmax(m, std::fabs(v));
  return m;
}

// An FP8 E4M3 layer on the quantized path whose kernel table runs FP8 tensor cores: its sum is
// within fp8_rel (KernelTable::qf8_gemm_rel_bound) of the exact one, not bit-identical.
bool fp8_bounded(const LayerWeights* L, double fp8_rel) {
  return fp8_rel > 0 && L && L->format == WeightFormat::kFp8E4M3 && L->input_act.mode != ActMode::kNone;
}

// The extra error such a layer may add: fp8_rel * sum_k |x_k w_k| <= fp8_rel * max|x| * row L1 of
// the weight, with x the dequantized codes (at most 1 + 2^-4 times the float input's magnitude:
// one E4M3 rounding, or saturation, which only shrinks it).
double fp8_gemm_bound(const LayerWeights* L, double fp8_rel, double xmax, double row_l1) {
  return fp8_bounded(L, fp8_rel) ? fp8_rel * 1.0625 * xmax * row_l1 : 0.0;
}

// An op whose output, given identical inputs, is bit-identical under the contract: integer GEMMs
// (codes of identical floats are identical; int32 sums are exact; the epilogue's float order is
// fixed), and ops that are single IEEE operations or pure data movement. FP8 GEMMs are exact
// unless the table's qf8_gemm runs tensor cores (fp8_rel > 0).
bool op_is_exact(const Op& op, const LayerWeights* L, const std::map<std::string, LayerWeights>& layers,
                 double fp8_rel) {
  if (op.kind == "moe_experts") {
    // Exact when every expert linear is on the integer path: the routing weights and the
    // activation are computed in double and rounded once (as the decoder ops), the GEMMs are
    // integer, the weighted sum has a fixed order (FORMAT.md, "Mixture of experts").
    for (const Op& sub : sub_layer_ops(op)) {
      auto it = layers.find(sub.name);
      if (it == layers.end() || !op_is_exact(sub, &it->second, layers, fp8_rel)) return false;
    }
    return true;
  }
  switch (find_op_schema(op.kind)->arithmetic) {  // the reader checked the kind
    case Arithmetic::kExact: return true;
    case Arithmetic::kIntegerGemm:
      return L && L->format != WeightFormat::kFloat32 && L->input_act.mode != ActMode::kNone &&
             !fp8_bounded(L, fp8_rel);
    default: return false;
  }
}

// The largest |runtime - reference| a float op may show on identical inputs: each bound is
// (number of roundings on the longest dependency chain, times two for two implementations that
// sum in different orders) x u x (a magnitude bound of the terms). See FORMAT.md, "Validation".
// Magnitude and error bounds of one float linear on inputs bounded by x with error ex:
// returns {max |y|, max |y - y'|}.
std::pair<double, double> linear_bound(const LayerWeights& L, double x, double ex, double fp8_rel) {
  const std::vector<float> w = dequantized_weight(L);
  double row_l1 = 0;
  for (int64_t o = 0; o < L.rows; ++o) {
    double s = 0;
    for (int64_t k = 0; k < L.cols; ++k) s += std::fabs(w[static_cast<size_t>(o * L.cols + k)]);
    row_l1 = std::fmax(row_l1, s);
  }
  double bmax = 0;
  if (auto b = L.extra.find("bias"); b != L.extra.end()) bmax = max_abs(b->second);
  const double y = x * row_l1 + bmax;
  double err = (2.0 * static_cast<double>(L.cols) + 4) * kU * y + row_l1 * ex + fp8_gemm_bound(&L, fp8_rel, x + ex, row_l1);
  // An input error before an input quantizer can move a code by one step.
  if (ex > 0 && L.input_act.mode != ActMode::kNone)
    err += row_l1 * (L.input_act.mode == ActMode::kStatic ? L.input_act.scale : (x + ex) / 127.0);
  return {y, err};
}

// moe_experts on float experts: per expert, the chain of its linears and its activation
// (derivative <= 1.2 for silu and gelu_tanh, libm ulps 32 u); the routing weights (softmax over
// E in double, rounded once: 2 u relative) sum to at most 1; then the weighted sum over E terms.
double moe_bound(const Op& op, const std::map<std::string, LayerWeights>& layers, double xmax, double ymax,
                 double fp8_rel) {
  const bool gated = op.strings.at("activation") == "silu_gated";
  const std::vector<Op> subs = sub_layer_ops(op);
  const size_t per = gated ? 3 : 2;
  double worst = 0, ye_max = 0;
  for (size_t i = 0; i + per <= subs.size(); i += per) {
    auto [h1, e1] = linear_bound(layers.at(subs[i].name), xmax, 0, fp8_rel);
    double h = h1, eh = 1.2 * e1 + 32 * kU * h1;
    if (gated) {
      auto [h3, e3] = linear_bound(layers.at(subs[i + 1].name), xmax, 0, fp8_rel);
      eh = eh * h3 + h1 * e3;
      h = h1 * h3;
    }
    auto [y, ey] = linear_bound(layers.at(subs[i + per - 1].name), h, eh, fp8_rel);
    worst = std::fmax(worst, ey);
    ye_max = std::fmax(ye_max, y);
  }
  const double e = static_cast<double>(op.int_attr("experts", 1));
  return worst + (2 * e + 16) * kU * ye_max + (e + 2) * kU * ymax;
}

double float_bound(const Op& op, const LayerWeights* L, const std::vector<Tensor>& in, const Tensor& golden,
                   const std::map<std::string, LayerWeights>& layers, double fp8_rel) {
  const double xmax = in.empty() || in[0].dtype != DType::kFloat32 ? 0 : max_abs(in[0]);
  const double ymax = max_abs(golden);
  if (op.kind == "linear" || op.kind == "conv2d") {
    const std::vector<float> w = dequantized_weight(*L);
    double row_l1 = 0;
    for (int64_t o = 0; o < L->rows; ++o) {
      double s = 0;
      for (int64_t k = 0; k < L->cols; ++k) s += std::fabs(w[static_cast<size_t>(o * L->cols + k)]);
      row_l1 = std::fmax(row_l1, s);
    }
    double bmax = 0;
    if (auto b = L->extra.find("bias"); b != L->extra.end()) bmax = max_abs(b->second);
    return (2.0 * static_cast<double>(L->cols) + 4) * kU * (xmax * row_l1 + bmax) +
           fp8_gemm_bound(L, fp8_rel, xmax, row_l1);
  }
  if (op.kind == "layernorm") {
    const double c = static_cast<double>(L->shape[0]);
    double bmax = max_abs(L->extra.at("bias"));
    return (4 * c + 16) * kU * (ymax + bmax);
  }
  if (op.kind == "softmax") return (2.0 * static_cast<double>(golden.shape.back()) + 16) * kU;
  if (op.kind == "gelu") return 16 * kU * xmax;  // |gelu(x)| <= |x|; erf may differ by ulps between libms
  if (op.kind == "avgpool2d") {
    const auto it = op.ints.find("kernel");
    const double n = it == op.ints.end() ? 1.0
                     : static_cast<double>(it->second.front()) * static_cast<double>(it->second.back());
    return (n + 2) * kU * xmax;
  }
  if (op.kind == "causal_attention") {
    // Scores q.k/sqrt(d) over d terms, softmax over L keys, then a convex combination of v: a
    // score error e changes the weights by at most ~2e relative, the output by 2e * max|v|.
    const double c = static_cast<double>(in[0].shape[2] / 3), l = static_cast<double>(in[0].shape[1]);
    const double d = c / static_cast<double>(op.int_attr("heads", 1));
    const double score_err = (2 * d + 4) * kU * xmax * xmax / std::sqrt(d);
    return xmax * ((4 * l + 16) * kU + 4 * score_err);
  }
  if (op.kind == "rms_norm") {
    // A sum of d squares (relative error ~d u), a square root, two multiplies per element.
    const double d = static_cast<double>(L->shape[0]);
    return (2 * d + 16) * kU * ymax;
  }
  if (op.kind == "rotary_embedding") return 32 * kU * xmax;  // cos/sin of the same float angle: libm ulps
  if (op.kind == "gqa_attention") {
    // As causal_attention, with the stored score scale and q, k, v as separate inputs.
    const double qmax = xmax, kmax = in.size() > 1 ? max_abs(in[1]) : xmax, vmax = in.size() > 2 ? max_abs(in[2]) : xmax;
    const double heads = static_cast<double>(op.int_attr("heads", 1)), l = static_cast<double>(in[0].shape[1]);
    const double d = static_cast<double>(in[0].shape[2]) / heads;
    const double score_err = (2 * d + 4) * kU * qmax * kmax * d * op.float_attr("scale", 1.0);
    return vmax * ((4 * l + 16) * kU + 4 * score_err);
  }
  if (op.kind == "moe_experts") return moe_bound(op, layers, xmax, ymax, fp8_rel);
  if (op.kind == "gated_activation") {  // |act(g)| <= |g|; exp / tanh may differ by ulps between libms
    const double umax = in.size() > 1 ? max_abs(in[1]) : 0;
    return 32 * kU * xmax * umax;
  }
  return 16 * kU * std::fmax(xmax, ymax);
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape != b.shape) return false;
  for (size_t i = 0; i < a.f32.size(); ++i)
    if (!(a.f32[i] == b.f32[i]) && !(std::isnan(a.f32[i]) && std::isnan(b.f32[i]))) return false;
  return true;
}

// For graphs with moe_experts: the runtime's own run, op by op, its routing compared decision by
// decision with the trace's; for a case without a trace, its near ties marked against the drift
// the traced cases showed (untraced_drift < 0: none known, nothing marked). See
// runtime/routing_divergence.h.
RoutingDivergence routing_divergence(Engine& engine, const Checkpoint& ck, const Golden& gc, double untraced_drift) {
  RoutingDivergence d;
  std::map<std::string, Tensor> own = gc.inputs;
  for (size_t oi = 0; oi < ck.graph.ops.size(); ++oi) {
    const Op& op = ck.graph.ops[oi];
    std::vector<Tensor> in;
    for (const std::string& name : op.inputs) in.push_back(own.at(name));
    if (op.kind == "moe_experts") {
      const MoeRouting r = moe_routing_of(op);
      if (gc.trace.count(op.inputs.at(1)))
        compare_routing(gc.trace.at(op.inputs.at(1)), in.at(1), r, d);
      else if (untraced_drift >= 0)
        mark_near_ties(in.at(1), r, untraced_drift, d);
    }
    own[op.outputs.at(0)] = engine.run_op(oi, in);
  }
  return d;
}

// The max-diff rule over the rows no near-tie routing decision reached: in each sequence with a
// row over `limit`, the rows at or after its first near tie are left out (counted in
// c.rerouted_rows); sequences within the limit keep every row. Top-1 still counts every row.
void exempt_rerouted_rows(const RoutingDivergence& d, const Tensor& got, const Tensor& golden, double limit,
                          OutputCheck& c) {
  const std::vector<bool> exempt = rerouted_rows(d, golden.shape);
  if (static_cast<int64_t>(exempt.size()) != d.sequences * d.positions) return;  // another layout: all rows count
  const int64_t width = golden.shape.empty() ? 1 : golden.shape.back();
  auto row_over = [&](int64_t r) {
    for (int64_t j = r * width; j < (r + 1) * width; ++j)
      if (!(std::fabs(static_cast<double>(got.f32[j]) - golden.f32[j]) <= limit)) return true;
    return false;
  };
  Tensor masked = got;
  for (int64_t s = 0; s < d.sequences; ++s) {
    bool over = false;
    for (int64_t t = 0; t < d.positions && !over; ++t) over = row_over(s * d.positions + t);
    if (!over) continue;
    for (int64_t t = 0; t < d.positions; ++t) {
      const int64_t r = s * d.positions + t;
      if (!exempt[static_cast<size_t>(r)]) continue;
      ++c.rerouted_rows;
      std::copy_n(golden.f32.begin() + r * width, width, masked.f32.begin() + r * width);
    }
  }
  if (c.rerouted_rows == 0) return;
  c.max_abs_diff = compare_outputs(masked, golden).max_abs_diff;
  c.max_diff_units = c.max_abs_diff / c.unit;
}

}  // namespace

OutputCheck compare_outputs(const Tensor& got, const Tensor& golden) {
  Agreement a;
  try {
    a = measure_agreement(got, golden);
  } catch (const Error& e) {
    throw Error(std::string("validate: ") + e.what());
  }
  OutputCheck c;
  c.rows = a.rows;
  c.top1_matches = a.top1_matches;
  c.top1_agreement = a.top1;
  c.max_abs_diff = a.max_abs_diff;
  c.unit = a.unit;
  c.max_diff_units = a.max_diff_units;
  return c;
}

std::map<std::string, bool> exact_tensors(const Checkpoint& ck, double fp8_rel) {
  std::map<std::string, bool> exact;
  for (const TensorSpec& t : ck.graph.inputs) exact[t.name] = true;
  for (const Op& op : ck.graph.ops) {
    auto it = ck.layers.find(op.name);
    bool e = op_is_exact(op, it == ck.layers.end() ? nullptr : &it->second, ck.layers, fp8_rel);
    for (const std::string& in : op.inputs) e = e && exact.at(in);
    exact[op.outputs.at(0)] = e;
  }
  return exact;
}

// Steps per max|value| of the coarsest activation quantizer (layer inputs, the KV cache) on any
// path from the graph inputs to each tensor: an output behind float reductions moves by about one
// such step when a last-bit difference upstream flips a code (FORMAT.md, "Validation"). b-bit
// integers: 2^(b-1) - 1 symmetric, (2^b - 1) / 2 with a zero point (its range spans at most
// 2 max|value|), so int8 gives the default 127; FP8 E4M3: 16, since its 3 mantissa bits make one
// step at the top of a value's binade 1/16 to 1/8 of the value.
double integer_steps(int bits, bool symmetric) {
  return std::min(127.0, symmetric ? std::ldexp(1.0, bits - 1) - 1 : (std::ldexp(1.0, bits) - 1) / 2);
}

std::map<std::string, double> output_unit_steps(const Checkpoint& ck) {
  auto steps_of = [](const LayerWeights& L) {
    if (L.input_act.mode == ActMode::kNone) return 127.0;
    if (L.input_act.e4m3) return 16.0;
    return integer_steps(L.input_act.bits, L.input_act.symmetric);
  };
  std::map<std::string, double> steps;
  for (const TensorSpec& t : ck.graph.inputs) steps[t.name] = 127.0;
  for (const Op& op : ck.graph.ops) {
    double st = 127.0;
    for (const std::string& in : op.inputs) st = std::min(st, steps.at(in));
    if (auto it = ck.layers.find(op.name); it != ck.layers.end()) st = std::min(st, steps_of(it->second));
    if (const std::optional<KvCacheScheme> kv = read_kv_cache_attrs(op))
      st = std::min(st, integer_steps(kv->bits, kv->symmetric));
    if (op.kind == "moe_experts")
      for (const Op& sub : sub_layer_ops(op))
        if (auto it = ck.layers.find(sub.name); it != ck.layers.end()) st = std::min(st, steps_of(it->second));
    steps[op.outputs.at(0)] = st;
  }
  return steps;
}

ValidationReport validate(Engine& engine, const ValidateOptions& options) {
  const Checkpoint& ck = engine.checkpoint();
  if (ck.golden.empty()) throw Error("validate: checkpoint " + ck.source + " has no golden cases");
  ValidationReport rep;
  rep.options = options;
  rep.golden_is_contract = ck.golden_reference == "contract";
  // FP8 GEMMs on tensor cores (the cuda table) are bounded, not exact (kernels.h, "FP8 E4M3").
  const double fp8_rel = engine.kernel_table().qf8_gemm_rel_bound;
  const std::map<std::string, bool> exact = exact_tensors(ck, fp8_rel);
  const std::map<std::string, double> unit_steps = output_unit_steps(ck);
  const bool has_moe = std::any_of(ck.graph.ops.begin(), ck.graph.ops.end(),
                                   [](const Op& op) { return op.kind == "moe_experts"; });
  int64_t rows = 0, matches = 0, model_rows = 0, model_matches = 0;
  bool all_pass = true;
  // Mixture of experts: the traced cases first, whose router-logit drift then measures the near
  // ties of the untraced ones.
  std::vector<RoutingDivergence> routing(ck.golden.size());
  double drift = -1;
  if (has_moe) {
    for (size_t i = 0; i < ck.golden.size(); ++i)
      if (!ck.golden[i].trace.empty()) {
        routing[i] = routing_divergence(engine, ck, ck.golden[i], -1);
        drift = std::fmax(drift, routing[i].max_logit_drift);
      }
    for (size_t i = 0; i < ck.golden.size(); ++i)
      if (ck.golden[i].trace.empty()) routing[i] = routing_divergence(engine, ck, ck.golden[i], drift);
    for (const RoutingDivergence& d : routing) {
      rep.routing_decisions += d.tokens_checked;
      rep.rerouted_tokens += d.rerouted;
      rep.routing_unexplained += d.unexplained;
      rep.routing_drift = std::fmax(rep.routing_drift, d.max_logit_drift);
      all_pass = all_pass && d.unexplained == 0;
    }
  }
  for (size_t i = 0; i < ck.golden.size(); ++i) {
    const Golden& gc = ck.golden[i];
    auto out = engine.run(gc.inputs);
    for (const auto& kv : gc.outputs) {
      OutputCheck c = compare_outputs(out.at(kv.first), kv.second);
      c.golden_case = static_cast<int>(i);
      c.output = kv.first;
      c.exact_required = rep.golden_is_contract && exact.at(kv.first);
      c.unit_steps = unit_steps.at(kv.first);
      if (c.unit_steps != 127.0) {  // the unit of the coarser format upstream
        c.unit *= 127.0 / c.unit_steps;
        c.max_diff_units = c.max_abs_diff / c.unit;
      }
      if (routing[i].rerouted > 0) exempt_rerouted_rows(routing[i], out.at(kv.first), kv.second,
                                                        options.max_diff_units * c.unit, c);
      c.passed = c.exact_required ? bit_equal(out.at(kv.first), kv.second)
                                  : c.top1_agreement >= options.min_top1_agreement &&
                                        c.max_diff_units <= options.max_diff_units;
      all_pass = all_pass && c.passed;
      rows += c.rows;
      matches += c.top1_matches;
      rep.max_diff_units = std::fmax(rep.max_diff_units, c.max_diff_units);
      rep.checks.push_back(c);
      if (auto m = gc.model_outputs.find(kv.first); m != gc.model_outputs.end()) {
        const OutputCheck mc = compare_outputs(m->second, kv.second);
        rep.has_model_outputs = true;
        model_rows += mc.rows;
        model_matches += mc.top1_matches;
        rep.model_max_diff_units = std::fmax(rep.model_max_diff_units, mc.max_diff_units);
      }
    }
    if (gc.trace.empty()) continue;
    // Per op, on the traced inputs: exact where the op is, bounded where it reduces in float.
    for (size_t oi = 0; oi < ck.graph.ops.size(); ++oi) {
      const Op& op = ck.graph.ops[oi];
      std::vector<Tensor> in;
      for (const std::string& name : op.inputs)
        in.push_back(gc.trace.count(name) ? gc.trace.at(name) : gc.inputs.at(name));
      const Tensor& want = gc.trace.at(op.outputs.at(0));
      const Tensor got = engine.run_op(oi, in);
      if (got.shape != want.shape)
        throw Error("validate: op '" + op.name + "' output " + shape_str(got.shape) + " differs from the trace's " +
                    shape_str(want.shape));
      auto layer = ck.layers.find(op.name);
      const LayerWeights* L = layer == ck.layers.end() ? nullptr : &layer->second;
      OpCheck c;
      c.golden_case = static_cast<int>(i);
      c.index = oi;
      c.name = op.name;
      c.kind = op.kind;
      c.exact_required = op_is_exact(op, L, ck.layers, fp8_rel);
      c.max_abs_diff = compare_outputs(got, want).max_abs_diff;
      c.bound = c.exact_required ? 0.0 : float_bound(op, L, in, want, ck.layers, fp8_rel);
      c.passed = c.exact_required ? bit_equal(got, want) : c.max_abs_diff <= c.bound;
      if (!c.passed && rep.first_failing_op < 0) rep.first_failing_op = static_cast<int>(rep.op_checks.size());
      all_pass = all_pass && c.passed;
      rep.op_checks.push_back(c);
    }
  }
  rep.top1_agreement = rows ? static_cast<double>(matches) / static_cast<double>(rows) : 1.0;
  if (model_rows) rep.model_top1_agreement = static_cast<double>(model_matches) / static_cast<double>(model_rows);
  rep.passed = all_pass;
  return rep;
}

std::string ValidationReport::summary(bool per_op) const {
  std::string s;
  char buf[512];
  for (const OutputCheck& c : checks) {
    if (c.exact_required)
      std::snprintf(buf, sizeof buf, "case %d output %s: integer path, %s (max |diff| %.3g); top-1 %lld/%lld\n",
                    c.golden_case, c.output.c_str(), c.passed ? "bit-identical" : "NOT bit-identical", c.max_abs_diff,
                    static_cast<long long>(c.top1_matches), static_cast<long long>(c.rows));
    else
      std::snprintf(buf, sizeof buf,
                    "case %d output %s: float path, top-1 %lld/%lld (%.2f%%), max |diff| %.3g = %.3f units of %.3g "
                    "(max|golden|/%g)\n",
                    c.golden_case, c.output.c_str(), static_cast<long long>(c.top1_matches),
                    static_cast<long long>(c.rows), 100.0 * c.top1_agreement, c.max_abs_diff, c.max_diff_units, c.unit,
                    c.unit_steps);
    s += buf;
    if (c.rerouted_rows > 0) {
      std::snprintf(buf, sizeof buf, "  (max |diff| over %lld of %lld rows: %lld at or after a near-tie routing decision left out)\n",
                    static_cast<long long>(c.rows - c.rerouted_rows), static_cast<long long>(c.rows),
                    static_cast<long long>(c.rerouted_rows));
      s += buf;
    }
  }
  if (routing_decisions > 0) {
    std::snprintf(buf, sizeof buf,
                  "routing: %lld expert decisions checked (traced: against the trace; untraced: near ties within 2x the "
                  "traced router-logit drift %.3g): %lld at a near tie (rerouted; untraced: possibly), %lld differed without one%s\n",
                  static_cast<long long>(routing_decisions), routing_drift, static_cast<long long>(rerouted_tokens),
                  static_cast<long long>(routing_unexplained), routing_unexplained ? " (FAIL)" : "");
    s += buf;
  }
  if (!op_checks.empty()) {
    int exact_ops = 0, exact_ok = 0, bounded_ok = 0;
    for (const OpCheck& c : op_checks) {
      exact_ops += c.exact_required;
      exact_ok += c.exact_required && c.passed;
      bounded_ok += !c.exact_required && c.passed;
    }
    std::snprintf(buf, sizeof buf, "trace: %d/%d integer ops bit-identical, %d/%zu float ops within their bound\n",
                  exact_ok, exact_ops, bounded_ok, op_checks.size() - static_cast<size_t>(exact_ops));
    s += buf;
    if (per_op) {
      std::snprintf(buf, sizeof buf, "  %-4s %-28s %-20s %-8s %12s %12s %s\n", "case", "op", "kind", "check",
                    "max |diff|", "bound", "");
      s += buf;
      for (const OpCheck& c : op_checks) {
        std::snprintf(buf, sizeof buf, "  %-4d %-28s %-20s %-8s %12.3g %12.3g %s\n", c.golden_case, c.name.c_str(),
                      c.kind.c_str(), c.exact_required ? "exact" : "bounded", c.max_abs_diff, c.bound,
                      c.passed ? "ok" : "FAIL");
        s += buf;
      }
    }
    if (first_failing_op >= 0) {
      const OpCheck& c = op_checks[static_cast<size_t>(first_failing_op)];
      std::snprintf(buf, sizeof buf, "first divergence: op '%s' (%s), case %d: max |diff| %.3g, allowed %.3g\n",
                    c.name.c_str(), c.kind.c_str(), c.golden_case, c.max_abs_diff, c.bound);
      s += buf;
    }
  }
  if (has_model_outputs) {
    std::snprintf(buf, sizeof buf, "trained model vs contract: top-1 %.2f%%, max diff %.3f units (float order only)\n",
                  100.0 * model_top1_agreement, model_max_diff_units);
    s += buf;
  }
  if (!golden_is_contract)
    s += "note: the golden outputs are the trained model's float forward (written before format 1.2), so no "
         "output is held to bit equality\n";
  std::snprintf(buf, sizeof buf, "%s: top-1 agreement %.2f%% (need >= %.2f%% on float paths), max diff %.3f units\n",
                passed ? "PASS" : "FAIL", 100.0 * top1_agreement, 100.0 * options.min_top1_agreement, max_diff_units);
  return s + buf;
}

}  // namespace qf
