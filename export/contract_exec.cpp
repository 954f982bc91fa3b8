#include "export/contract_exec.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/fp8_quantize.h"
#include "core/kv_cache_attrs.h"
#include "core/op_schema.h"
#include "core/quantize_rows.h"
#include "export/from_torch.h"
#include "train/kv_fake_quant.h"

namespace qf::exporter {
namespace {

namespace F = torch::nn::functional;

[[noreturn]] void fail(const Op& op, const std::string& msg) {
  throw Error("contract: op '" + op.name + "' (" + op.kind + "): " + msg);
}

// A 1- or 2-element int attribute as (h, w), FORMAT.md's convention.
std::pair<int64_t, int64_t> pair_attr(const Op& op, const std::string& key, int64_t dh, int64_t dw) {
  auto it = op.ints.find(key);
  if (it == op.ints.end() || it->second.empty()) return {dh, dw};
  if (it->second.size() == 1) return {it->second[0], it->second[0]};
  if (it->second.size() == 2) return {it->second[0], it->second[1]};
  fail(op, "attribute '" + key + "' must have 1 or 2 values");
}

torch::Tensor f32_tensor(const std::vector<float>& v, const std::vector<int64_t>& shape) {
  return torch::tensor(v, torch::kFloat).reshape(shape);
}

// A quantized weight as the contract sees it. The codes come from the very call the checkpoint
// writer makes (quantize_weight_matrix with the layer's learned scales, or ggml's blocks), so they are
// the stored codes.
struct QuantWeight {
  int64_t o = 0, k = 0, group_size = 0;
  bool per_group = false;
  torch::Tensor codes;    // [O, K] float64: small integers, exact
  torch::Tensor scales;   // [O, G] float32 (G = 1 for tensor and channel granularity)
  torch::Tensor dequant;  // [O, K] float32: code * scale, core's dequantize
};

// fp8_e4m3: `codes` holds the E4M3 *values* (float64, exact), the operand of the exact FP8 dot
// product; the codes come from the writer's call (quantize_e4m3_matrix with the same scales).
QuantWeight quantize_weight_e4m3(const Op& op, const LayerContent& L, QuantWeight w) {
  const WeightScheme& ws = *L.weight_scheme;
  const QuantLayout layout = QuantLayout::make(w.o, w.k, ws.granularity, 0);
  if (!L.weight_scales.empty() && static_cast<int64_t>(L.weight_scales.size()) != layout.num_params())
    fail(op, "weight_scales do not match the fp8_e4m3 layout");
  std::vector<float> scales(static_cast<size_t>(layout.num_params()));
  std::vector<uint8_t> codes(static_cast<size_t>(w.o * w.k));
  quantize_e4m3_matrix(L.weight.f32.data(), layout, L.weight_scales.empty() ? nullptr : L.weight_scales.data(),
                       scales.data(), codes.data());
  std::vector<float> deq(codes.size());
  dequantize_e4m3_matrix(codes.data(), layout, scales.data(), deq.data());
  std::vector<double> values(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) values[i] = e4m3_to_fp32(codes[i]);
  w.per_group = false;
  w.group_size = w.k;
  w.codes = torch::tensor(values, torch::kDouble).reshape({w.o, w.k});
  w.dequant = f32_tensor(deq, {w.o, w.k});
  const torch::Tensor s = f32_tensor(scales, {static_cast<int64_t>(scales.size())});
  w.scales = ws.granularity == Granularity::kTensor ? s.expand({w.o, 1}).contiguous() : s.reshape({w.o, 1});
  return w;
}

QuantWeight quantize_weight(const Op& op, const LayerContent& L) {
  const WeightScheme& ws = *L.weight_scheme;
  if (!ws.symmetric) fail(op, "format v1 defines symmetric weights only");
  if (L.weight.shape.size() < 2) fail(op, "a quantized weight needs at least 2 dimensions");
  QuantWeight w;
  w.o = L.weight.shape[0];
  w.k = L.weight.numel() / std::max<int64_t>(1, w.o);
  if (ws.e4m3) return quantize_weight_e4m3(op, L, w);
  const QuantLayout layout = QuantLayout::make(w.o, w.k, ws.granularity, ws.group_size);
  const QuantizedMatrix q = quantize_weight_matrix(L.weight.f32.data(), layout, ws, L.weight_scales);
  std::vector<float> deq(q.codes.size());
  dequantize_with_params(q.codes.data(), layout, q.scales.data(), nullptr, deq.data());
  w.per_group = ws.granularity == Granularity::kGroup;
  w.group_size = w.per_group ? ws.group_size : w.k;
  const std::vector<double> codes(q.codes.begin(), q.codes.end());
  w.codes = torch::tensor(codes, torch::kDouble).reshape({w.o, w.k});
  w.dequant = f32_tensor(deq, {w.o, w.k});
  const torch::Tensor s = f32_tensor(q.scales, {static_cast<int64_t>(q.scales.size())});
  w.scales = ws.granularity == Granularity::kTensor ? s.expand({w.o, 1}).contiguous() : s.reshape({w.o, -1});
  return w;
}

torch::Tensor round_codes(const torch::Tensor& v, ContractRounding r) {
  return r == ContractRounding::kHalfEven ? torch::round(v) : torch::floor(v + 0.5);
}

// True float32 division, elementwise: the divisor is a full tensor, never a scalar that a kernel
// might turn into a multiplication by its reciprocal.
torch::Tensor true_div(const torch::Tensor& a, const torch::Tensor& b) {
  return a / b.expand_as(a).contiguous();
}

// A quantized activation: float32 codes, the zero point and the scale as a float32 tensor that
// broadcasts against [M, O] (shape [1, 1] static, [M, 1] per token).
struct QuantAct {
  torch::Tensor codes;
  int32_t zx = 0;
  torch::Tensor sx;
};

// q = clamp(round(x / s) + z, qmin, qmax), one float32 op per step as in core's quantize. The
// `+ z` is kept even for z = 0: it turns round's -0.0 into +0.0, as core's does.
QuantAct quantize_act(const torch::Tensor& x, const torch::Tensor& s, int32_t zx, QuantRange range,
                      ContractRounding r) {
  QuantAct q;
  q.zx = zx;
  q.sx = s;
  q.codes = torch::clamp(round_codes(true_div(x, s), r) + static_cast<double>(zx), range.qmin, range.qmax);
  return q;
}

// Static: the whole tensor with (act_scale, act_zero_point).
QuantAct quantize_static(const torch::Tensor& x, const ActScheme& a, ContractRounding r) {
  return quantize_act(x, torch::full({1, 1}, a.scale, torch::kFloat), a.symmetric ? 0 : a.zero_point,
                      quant_range(a.bits, a.symmetric), r);
}

// Dynamic per token: each row of x2d [M, K] gets sx = max|x| / 127 with core's rules (an all-zero
// row gets 1, a positive scale below kMinScale becomes kMinScale), zx = 0.
QuantAct quantize_per_token(const torch::Tensor& x2d, ContractRounding r) {
  const QuantRange range = quant_range(8, true);
  const torch::Tensor amax = x2d.abs().amax(-1, /*keepdim=*/true);
  torch::Tensor s = true_div(amax, torch::full({1, 1}, static_cast<float>(range.qmax), torch::kFloat));
  const torch::Tensor tiny = torch::full_like(s, kMinScale), one = torch::ones_like(s);
  s = torch::where(s > kMinScale, s, torch::where(amax > 0, tiny, one));
  return quantize_act(x2d, s, 0, range, r);
}

// FP8 E4M3 rounding of float32 values with tensor ops (an implementation of its own, not
// core's bit manipulation): |v| clamped to 448 (saturation), then rounded to nearest even on
// the grid of its binade, 2^(e-3) with e = max(floor(log2 |v|), -6) (-6: the subnormals' grid
// 2^-9). frexp gives floor(log2) exactly; the grid step is built from its exponent bits.
torch::Tensor e4m3_round(const torch::Tensor& v) {
  const torch::Tensor a = v.abs().clamp_max(static_cast<double>(kE4M3Max));
  const torch::Tensor e = std::get<1>(torch::frexp(a)).to(torch::kInt) - 1;  // floor(log2 a)
  const torch::Tensor step = ((torch::clamp_min(e, -6) - 3 + 127) * (1 << 23)).to(torch::kInt).view(torch::kFloat);
  return torch::copysign(torch::round(a / step) * step, v);
}

// FP8 inputs: E4M3 values (float64) of x / s; static (act_scale) or per token (amax / 448).
QuantAct quantize_e4m3_act(const torch::Tensor& x2d, const ActScheme& a) {
  QuantAct q;
  if (a.mode == ActMode::kStatic) {
    q.sx = torch::full({1, 1}, a.scale, torch::kFloat);
  } else {
    const torch::Tensor amax = x2d.abs().amax(-1, /*keepdim=*/true);
    const torch::Tensor s = true_div(amax, torch::full({1, 1}, kE4M3Max, torch::kFloat));
    q.sx = torch::where(s > kMinScale, s, torch::where(amax > 0, torch::full_like(s, kMinScale), torch::ones_like(s)));
  }
  q.codes = e4m3_round(true_div(x2d, q.sx)).to(torch::kDouble);
  return q;
}

// The integer GEMM of the contract and its float32 epilogue. xcodes [M, K] (any float dtype,
// integer values), weight rows [o0, o0 + n), bias [n] or undefined. Returns [M, n] float32.
//   tensor/channel: y = float(acc) * (sx * sw[o]) + bias[o]
//   group:          y = sx * S + bias[o],  S = sum_g float(acc_g) * sw[o, g] in increasing g
// acc is computed in float64: |partial sums| <= K * 255 * 127, integers far below 2^53, hence
// exact in any summation order, and its conversion to float32 rounds the exact integer.
// acc = sum_k (qx - zx) * code as float64, exact. `+ 0.0` makes an exact zero +0.0 whatever
// the BLAS summed (-0.0 + -0.0 stays -0.0), as the int32 accumulator's zero converts to +0.0.
torch::Tensor exact_dot(const torch::Tensor& xs, const torch::Tensor& codes) {
  return (torch::matmul(xs, codes.t()) + 0.0).to(torch::kFloat);
}

torch::Tensor integer_gemm(const torch::Tensor& xcodes, int32_t zx, const torch::Tensor& sx, const QuantWeight& w,
                           int64_t o0, int64_t n, const torch::Tensor& bias) {
  const torch::Tensor xs = xcodes.to(torch::kDouble) - static_cast<double>(zx);
  const torch::Tensor codes = w.codes.narrow(0, o0, n), sw = w.scales.narrow(0, o0, n);
  torch::Tensor y;
  if (!w.per_group) {
    const torch::Tensor acc = exact_dot(xs, codes);
    y = acc * (sx * sw.select(1, 0).view({1, n}));
  } else {
    const int64_t groups = w.k / w.group_size;
    torch::Tensor s = torch::zeros({xs.size(0), n}, torch::kFloat);
    for (int64_t g = 0; g < groups; ++g) {
      const torch::Tensor acc_g =
          exact_dot(xs.narrow(1, g * w.group_size, w.group_size), codes.narrow(1, g * w.group_size, w.group_size));
      s = s + acc_g * sw.select(1, g).view({1, n});
    }
    y = sx * s;
  }
  if (bias.defined()) y = y + bias.narrow(0, o0, n).view({1, n});
  return y;
}

const LayerContent& layer_of(const Op& op, const std::map<std::string, const LayerContent*>& layers) {
  auto it = layers.find(op.name);
  if (it == layers.end()) fail(op, "no parameters (layer content) for this op");
  return *it->second;
}

torch::Tensor bias_of(const LayerContent& L) {
  auto it = L.extra.find("bias");
  return it == L.extra.end() ? torch::Tensor() : to_torch(it->second);
}

// The layer's weight for float math: dequantized codes (weight-only) or the float32 weight.
torch::Tensor float_weight(const Op& op, const LayerContent& L) {
  if (L.weight.shape.empty()) fail(op, "has no weight");
  if (!L.weight_scheme) return to_torch(L.weight);
  return quantize_weight(op, L).dequant.reshape(L.weight.shape);
}

void check_act(const Op& op, const LayerContent& L) {
  if (L.input_act.mode != ActMode::kNone && !L.weight_scheme)
    fail(op, "input activation quantization needs a quantized weight");
}

torch::Tensor run_linear(const Op& op, const LayerContent& L, const torch::Tensor& x, ContractRounding r) {
  check_act(op, L);
  const torch::Tensor bias = bias_of(L);
  if (L.input_act.mode == ActMode::kNone) return F::linear(x, float_weight(op, L), bias);
  const QuantWeight w = quantize_weight(op, L);
  if (x.size(-1) != w.k) fail(op, "input does not end in K = " + std::to_string(w.k));
  const torch::Tensor x2d = x.reshape({-1, w.k});
  // fp8_e4m3: E4M3 values times E4M3 values, summed exactly in float64 (K <= kFp8MaxK), rounded
  // once to float32 by exact_dot: the same epilogue as the integer GEMM's.
  const QuantAct q = L.input_act.e4m3                         ? quantize_e4m3_act(x2d, L.input_act)
                     : L.input_act.mode == ActMode::kStatic ? quantize_static(x2d, L.input_act, r)
                                                            : quantize_per_token(x2d, r);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.o;
  return integer_gemm(q.codes, q.zx, q.sx, w, 0, w.o, bias).reshape(shape);
}

torch::Tensor run_conv2d(const Op& op, const LayerContent& L, const torch::Tensor& x, ContractRounding r) {
  check_act(op, L);
  if (L.weight.shape.size() != 4) fail(op, "weight must be [O, C/groups, kh, kw]");
  const int64_t o = L.weight.shape[0], cg = L.weight.shape[1], kh = L.weight.shape[2], kw = L.weight.shape[3];
  const auto [sh, sw] = pair_attr(op, "stride", 1, 1);
  const auto [ph, pw] = pair_attr(op, "padding", 0, 0);
  const int64_t groups = op.int_attr("groups", 1);
  if (x.dim() != 4 || x.size(1) != cg * groups) fail(op, "input must be NCHW with C = C/groups * groups");
  const torch::Tensor bias = bias_of(L);
  if (L.input_act.mode == ActMode::kNone)
    return F::conv2d(x, float_weight(op, L),
                     F::Conv2dFuncOptions().bias(bias).stride({sh, sw}).padding({ph, pw}).groups(groups));
  if (L.input_act.mode != ActMode::kStatic) fail(op, "conv2d inputs are quantized statically only");
  const QuantWeight w = quantize_weight(op, L);
  // The whole input quantized once, then padded with the zero point: (zx - zx) = 0 exactly
  // (fp8_e4m3: padded with the value 0).
  const QuantAct q = L.input_act.e4m3 ? quantize_e4m3_act(x, L.input_act) : quantize_static(x, L.input_act, r);
  const torch::Tensor padded = F::pad(q.codes, F::PadFuncOptions({pw, pw, ph, ph}).mode(torch::kConstant).value(q.zx));
  // im2col: [N, C*kh*kw, P], K in (c, i, j) order like the weight's reshape(O, -1).
  const torch::Tensor cols = F::unfold(padded.to(torch::kDouble), F::UnfoldFuncOptions({kh, kw}).stride({sh, sw}));
  const int64_t n = x.size(0), p = cols.size(2), kg = cg * kh * kw, og = o / groups;
  const int64_t oh = (x.size(2) + 2 * ph - kh) / sh + 1, ow = (x.size(3) + 2 * pw - kw) / sw + 1;
  if (oh * ow != p) fail(op, "internal: im2col size mismatch");
  std::vector<torch::Tensor> outs;
  for (int64_t gi = 0; gi < groups; ++gi) {
    const torch::Tensor xg = cols.narrow(1, gi * kg, kg).transpose(1, 2).reshape({n * p, kg});
    const torch::Tensor y = integer_gemm(xg, q.zx, q.sx, w, gi * og, og, bias);  // [N*P, Og]
    outs.push_back(y.view({n, p, og}).permute({0, 2, 1}));
  }
  return torch::cat(outs, 1).reshape({n, o, oh, ow}).contiguous();
}

torch::Tensor run_pool(const Op& op, const torch::Tensor& x, bool is_max) {
  if (!op.ints.count("kernel")) fail(op, "missing attribute 'kernel'");
  const auto [kh, kw] = pair_attr(op, "kernel", 1, 1);
  const auto [sh, sw] = pair_attr(op, "stride", kh, kw);
  const auto [ph, pw] = pair_attr(op, "padding", 0, 0);
  if (is_max) return torch::max_pool2d(x, {kh, kw}, {sh, sw}, {ph, pw});
  return torch::avg_pool2d(x, {kh, kw}, {sh, sw}, {ph, pw}, /*ceil_mode=*/false, /*count_include_pad=*/true);
}

torch::Tensor run_embedding(const Op& op, const LayerContent& L, const torch::Tensor& ids) {
  if (ids.scalar_type() != torch::kLong) fail(op, "input must be int64 token ids");
  if (L.weight.shape.size() != 2) fail(op, "weight must be [V, D]");
  const int64_t v = L.weight.shape[0];
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= v))
    fail(op, "token id outside [0, " + std::to_string(v) + ")");
  // The output row is the dequantized table row code * scale, exactly (a copy).
  return torch::embedding(float_weight(op, L), ids);
}

torch::Tensor run_positional(const Op& op, const LayerContent& L, const torch::Tensor& x) {
  if (L.weight.shape.size() != 2 || x.dim() != 3 || x.size(2) != L.weight.shape[1])
    fail(op, "needs x [B, T, D] and weight [Tmax, D]");
  if (x.size(1) > L.weight.shape[0]) fail(op, "sequence longer than the positional table");
  return x + to_torch(L.weight).narrow(0, 0, x.size(1));  // p0 = 0: a full run
}

// K or V rows [B, T, C] as the op's KV cache holds them: quantized and read back with
// core/kv_quant.h's rule when the op has a quantized cache (feature kv_cache_int4).
torch::Tensor cached(const Op& op, const torch::Tensor& rows, int64_t head_dim) {
  std::optional<KvCacheScheme> s;
  try {
    s = read_kv_cache_attrs(op);
  } catch (const Error& e) {
    fail(op, e.what());
  }
  if (!s) return rows;
  if (head_dim % s->group_size != 0) fail(op, "kv_group_size does not divide the head dimension");
  return train::kv_fake_quantize(rows, *s, head_dim);
}

torch::Tensor run_attention(const Op& op, const torch::Tensor& x) {
  const int64_t heads = op.int_attr("heads", 0);
  if (heads <= 0 || x.dim() != 3 || x.size(2) % 3 != 0 || (x.size(2) / 3) % heads != 0)
    fail(op, "needs x [B, T, 3C] with C divisible by heads");
  const int64_t b = x.size(0), t = x.size(1), c = x.size(2) / 3, d = c / heads;
  auto heads_of = [&](const torch::Tensor& rows) { return rows.reshape({b, t, heads, d}).transpose(1, 2); };
  const torch::Tensor q = heads_of(x.narrow(2, 0, c)), k = heads_of(cached(op, x.narrow(2, c, c), d)),
                      v = heads_of(cached(op, x.narrow(2, 2 * c, c), d));
  torch::Tensor att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
  const torch::Tensor future = torch::ones({t, t}, torch::kBool).triu(1);
  att = torch::softmax(att.masked_fill(future, -std::numeric_limits<float>::infinity()), -1);
  return torch::matmul(att, v).transpose(1, 2).reshape({b, t, c});
}

torch::Tensor run_layernorm(const Op& op, const LayerContent& L, const torch::Tensor& x) {
  const int64_t c = L.weight.numel();
  if (x.size(-1) != c) fail(op, "input does not end in C = " + std::to_string(c));
  auto b = L.extra.find("bias");
  if (b == L.extra.end()) fail(op, "missing 'bias'");
  return torch::layer_norm(x, {c}, to_torch(L.weight), to_torch(b->second), op.float_attr("eps", 1e-5));
}

// ---- decoder ops (feature decoder_ops), in float32 like transformers' eager forward ----

torch::Tensor run_rms_norm(const Op& op, const LayerContent& L, const torch::Tensor& x) {
  const int64_t d = L.weight.numel();
  if (d == 0 || x.size(-1) % d != 0) fail(op, "input does not end in a multiple of " + std::to_string(d));
  const torch::Tensor v = x.reshape({-1, d});
  // The statistic in float64 (the precision-sensitive part), the rest in float32.
  const torch::Tensor inv = torch::rsqrt(v.to(torch::kDouble).pow(2).mean(-1, true) + op.float_attr("eps", 1e-6))
                                .to(torch::kFloat);
  const torch::Tensor w = to_torch(L.weight);
  return ((v * inv) * (op.int_attr("plus_one", 0) ? w + 1.0 : w)).reshape(x.sizes());
}

torch::Tensor run_rope(const Op& op, const LayerContent& L, const torch::Tensor& x) {
  const int64_t h2 = L.weight.numel();
  if (h2 == 0 || x.dim() != 3 || x.size(2) % (2 * h2) != 0) fail(op, "needs x [B, T, heads * 2 * " + std::to_string(h2) + "]");
  const int64_t b = x.size(0), t = x.size(1), heads = x.size(2) / (2 * h2);
  const torch::Tensor angle = torch::arange(t, torch::kFloat).unsqueeze(1) * to_torch(L.weight).unsqueeze(0);  // [T, h2]
  // cos / sin of the float32 angle in double, rounded once (as FORMAT.md says).
  const torch::Tensor ad = angle.to(torch::kDouble);
  const torch::Tensor c = ad.cos().to(torch::kFloat).view({1, t, 1, h2}), s = ad.sin().to(torch::kFloat).view({1, t, 1, h2});
  const torch::Tensor xv = x.view({b, t, heads, 2 * h2});
  const torch::Tensor lo = xv.narrow(3, 0, h2), hi = xv.narrow(3, h2, h2);
  return torch::cat({lo * c - hi * s, hi * c + lo * s}, 3).reshape({b, t, heads * 2 * h2});
}

torch::Tensor run_gqa(const Op& op, const torch::Tensor& q, const torch::Tensor& k_in, const torch::Tensor& v_in) {
  const int64_t heads = op.int_attr("heads", 0), kv_heads = op.int_attr("kv_heads", 0), window = op.int_attr("window", 0);
  if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || q.dim() != 3 || q.size(2) % heads != 0)
    fail(op, "needs q [B, T, heads * d] with heads a multiple of kv_heads");
  const int64_t b = q.size(0), t = q.size(1), d = q.size(2) / heads;
  if (k_in.sizes() != torch::IntArrayRef({b, t, kv_heads * d}) || v_in.sizes() != k_in.sizes())
    fail(op, "k / v shape mismatch");
  const torch::Tensor k = cached(op, k_in, d), v = cached(op, v_in, d);
  // Scores, softmax and the weighted sum in double, rounded once at the end (FORMAT.md).
  const torch::Tensor qh = q.view({b, t, heads, d}).transpose(1, 2).to(torch::kDouble);
  const torch::Tensor kh =
      k.view({b, t, kv_heads, d}).transpose(1, 2).repeat_interleave(heads / kv_heads, 1).to(torch::kDouble);
  const torch::Tensor vh =
      v.view({b, t, kv_heads, d}).transpose(1, 2).repeat_interleave(heads / kv_heads, 1).to(torch::kDouble);
  torch::Tensor att =
      torch::matmul(qh, kh.transpose(-2, -1)) * static_cast<double>(static_cast<float>(op.float_attr("scale", 1.0)));
  const torch::Tensor pos = torch::arange(t, torch::kLong), diff = pos.unsqueeze(1) - pos.unsqueeze(0);
  torch::Tensor hidden = diff < 0;
  if (window > 0) hidden = hidden | (diff >= window);
  att = torch::softmax(att.masked_fill(hidden, -std::numeric_limits<float>::infinity()), -1);
  return torch::matmul(att, vh).to(torch::kFloat).transpose(1, 2).reshape({b, t, heads * d});
}

torch::Tensor run_gated(const Op& op, const torch::Tensor& g, const torch::Tensor& u) {
  if (g.sizes() != u.sizes()) fail(op, "gate and up differ in shape");
  auto it = op.strings.find("activation");
  const std::string a = it == op.strings.end() ? "" : it->second;
  // The activation in double, rounded once, then one float32 multiply (FORMAT.md).
  const torch::Tensor gd = g.to(torch::kDouble);
  if (a == "silu") return (gd / (1.0 + torch::exp(-gd))).to(torch::kFloat) * u;
  if (a == "gelu_tanh") return torch::gelu(gd, "tanh").to(torch::kFloat) * u;
  fail(op, "activation must be 'silu' or 'gelu_tanh', got '" + a + "'");
}

// moe_experts (FORMAT.md, "Mixture of experts"), written from the format's text independently of
// core/moe_routing.cpp: softmax in double, top-k by logit with ties to the lower index (a stable
// descending sort), fallback below the threshold, each expert's contract on its tokens, the
// weighted sum in increasing expert order.
torch::Tensor run_moe(const Op& op, const torch::Tensor& x, const torch::Tensor& logits,
                      const std::map<std::string, const LayerContent*>& layers, ContractRounding r) {
  const int64_t e_count = op.int_attr("experts", 0), k = op.int_attr("top_k", 1);
  const bool normalize = op.int_attr("normalize", 0) != 0, gated = op.strings.at("activation") == "silu_gated";
  const double threshold = op.float_attr("fallback_threshold", 0.0);
  const int64_t c = x.size(-1);
  if (logits.size(-1) != e_count || logits.numel() / e_count != x.numel() / c)
    fail(op, "router logits must be [tokens, experts]");
  const torch::Tensor x2 = x.reshape({-1, c}), l = logits.reshape({-1, e_count}).to(torch::kDouble);
  const torch::Tensor p = torch::softmax(l, -1);
  const torch::Tensor top = std::get<1>(l.sort(/*stable=*/true, /*dim=*/-1, /*descending=*/true)).narrow(1, 0, k);
  const torch::Tensor sel = torch::zeros_like(l, torch::kBool).scatter(1, top, true);
  const torch::Tensor conf = torch::where(sel, p, torch::zeros_like(p)).sum(-1, true);
  const torch::Tensor fallback = threshold > 0 ? conf < threshold : torch::zeros_like(conf, torch::kBool);
  torch::Tensor w = torch::where(sel, normalize ? p / conf : p, torch::zeros_like(p));
  w = torch::where(fallback, p, w).to(torch::kFloat);
  const torch::Tensor use = sel | fallback;
  const std::vector<Op> subs = sub_layer_ops(op);
  const size_t per = gated ? 3 : 2;
  torch::Tensor out = torch::zeros_like(x2);
  for (int64_t e = 0; e < e_count; ++e) {
    const torch::Tensor rows = use.select(1, e).nonzero().reshape({-1});
    if (rows.numel() == 0) continue;
    const torch::Tensor xe = x2.index_select(0, rows);
    const Op* proj = &subs[static_cast<size_t>(e) * per];
    const torch::Tensor h1 = run_linear(proj[0], layer_of(proj[0], layers), xe, r).to(torch::kDouble);
    torch::Tensor h;
    if (gated) h = (h1 / (1.0 + torch::exp(-h1))).to(torch::kFloat) * run_linear(proj[1], layer_of(proj[1], layers), xe, r);
    else h = torch::gelu(h1, "tanh").to(torch::kFloat);
    const torch::Tensor y = run_linear(proj[per - 1], layer_of(proj[per - 1], layers), h, r);
    out.index_add_(0, rows, y * w.index_select(0, rows).select(1, e).unsqueeze(1));
  }
  return out.reshape(x.sizes());
}

torch::Tensor run_op(const Op& op, const std::vector<torch::Tensor>& in,
                     const std::map<std::string, const LayerContent*>& layers, ContractRounding r) {
  const OpSchema* schema = find_op_schema(op.kind);
  const size_t want = schema ? static_cast<size_t>(schema->num_inputs) : 1;
  if (in.size() != want) fail(op, "expects " + std::to_string(want) + " input(s)");
  const torch::Tensor& x = in[0];
  if (op.kind != "embedding" && x.scalar_type() != torch::kFloat) fail(op, "expects float32 input");
  if (op.kind == "linear") return run_linear(op, layer_of(op, layers), x, r);
  if (op.kind == "conv2d") return run_conv2d(op, layer_of(op, layers), x, r);
  if (op.kind == "relu") return torch::relu(x);
  if (op.kind == "gelu") return torch::gelu(x);  // exact erf form (PyTorch's default)
  if (op.kind == "maxpool2d") return run_pool(op, x, true);
  if (op.kind == "avgpool2d") return run_pool(op, x, false);
  if (op.kind == "flatten") return x.flatten(op.int_attr("start_dim", 1));
  if (op.kind == "add") {
    if (in[1].sizes() != x.sizes()) fail(op, "inputs differ in shape");
    return x + in[1];
  }
  if (op.kind == "layernorm") return run_layernorm(op, layer_of(op, layers), x);
  if (op.kind == "softmax") return torch::softmax(x, -1);
  if (op.kind == "embedding") return run_embedding(op, layer_of(op, layers), x);
  if (op.kind == "positional_embedding") return run_positional(op, layer_of(op, layers), x);
  if (op.kind == "causal_attention") return run_attention(op, x);
  if (op.kind == "rms_norm") return run_rms_norm(op, layer_of(op, layers), x);
  if (op.kind == "rotary_embedding") return run_rope(op, layer_of(op, layers), x);
  if (op.kind == "gqa_attention") return run_gqa(op, x, in[1], in[2]);
  if (op.kind == "gated_activation") return run_gated(op, x, in[1]);
  if (op.kind == "scale") return x * static_cast<float>(op.float_attr("factor", 1.0));
  if (op.kind == "moe_experts") return run_moe(op, x, in[1], layers, r);
  fail(op, "unknown op kind");
}

}  // namespace

ContractResult run_contract(const CheckpointContent& content, const std::map<std::string, Tensor>& inputs,
                            const ContractOptions& options) {
  torch::NoGradGuard no_grad;
  std::map<std::string, const LayerContent*> layers;
  for (const LayerContent& L : content.layers) layers[L.name] = &L;
  std::map<std::string, torch::Tensor> values;
  for (const TensorSpec& spec : content.graph.inputs) {
    auto it = inputs.find(spec.name);
    if (it == inputs.end()) throw Error("contract: missing graph input '" + spec.name + "'");
    if (dtype_name(it->second.dtype) != spec.dtype)
      throw Error("contract: input '" + spec.name + "' is " + dtype_name(it->second.dtype) + ", the graph says " +
                  spec.dtype);
    values[spec.name] = to_torch(it->second);
  }
  ContractResult result;
  for (const Op& op : content.graph.ops) {
    if (op.outputs.size() != 1) fail(op, "expects exactly one output");
    std::vector<torch::Tensor> in;
    for (const std::string& name : op.inputs) {
      auto it = values.find(name);
      if (it == values.end()) fail(op, "input '" + name + "' is not computed before this op");
      in.push_back(it->second);
    }
    torch::Tensor y;
    try {
      y = run_op(op, in, layers, options.rounding).contiguous();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {  // LibTorch (c10::Error) or core (std::invalid_argument)
      fail(op, e.what());
    }
    values[op.outputs[0]] = y;
    if (options.keep_trace) result.trace[op.outputs[0]] = to_qf(y);
  }
  for (const std::string& name : content.graph.outputs) {
    auto it = values.find(name);
    if (it == values.end()) throw Error("contract: graph output '" + name + "' is never computed");
    result.outputs[name] = to_qf(it->second);
  }
  return result;
}

}  // namespace qf::exporter
