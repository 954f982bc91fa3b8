#include "reference_model.h"

#include <cmath>
#include <stdexcept>

#include "core/quantize_rows.h"

namespace qf::test {
namespace {

const LayerContent& layer_of(const CheckpointContent& c, const std::string& name) {
  for (const LayerContent& L : c.layers)
    if (L.name == name) return L;
  throw std::runtime_error("reference: no layer " + name);
}

// Weight as the runtime sees it: quantize-dequantize with core rules (or the float weight).
std::vector<float> effective_weight(const LayerContent& L) {
  if (!L.weight_scheme) return L.weight.f32;
  const int64_t rows = L.weight.shape[0], k = L.weight.numel() / rows;
  const QuantLayout layout = QuantLayout::make(rows, k, L.weight_scheme->granularity, L.weight_scheme->group_size);
  QuantizedMatrix q = quantize_matrix(L.weight.f32.data(), layout, L.weight_scheme->bits, true, L.weight_scales);
  std::vector<float> w(q.codes.size());
  dequantize_with_params(q.codes.data(), layout, q.scales.data(), nullptr, w.data());
  return w;
}

// Input activation fake quantization; `row` = elements per token for per-token mode.
std::vector<float> fake_quant_act(const ActScheme& a, const std::vector<float>& x, int64_t row) {
  if (a.mode == ActMode::kNone) return x;
  std::vector<float> y(x.size());
  if (a.mode == ActMode::kStatic) {
    const QuantRange r = quant_range(a.bits, a.symmetric);
    for (size_t i = 0; i < x.size(); ++i) y[i] = fake_quantize(x[i], QuantParams{a.scale, a.zero_point}, r);
    return y;
  }
  const QuantRange r = quant_range(8, true);
  for (size_t s = 0; s < x.size(); s += static_cast<size_t>(row)) {
    float amax = 0;
    for (int64_t k = 0; k < row; ++k) amax = std::fmax(amax, std::fabs(x[s + static_cast<size_t>(k)]));
    const QuantParams p = symmetric_params(amax, r);
    for (int64_t k = 0; k < row; ++k) y[s + static_cast<size_t>(k)] = fake_quantize(x[s + static_cast<size_t>(k)], p, r);
  }
  return y;
}

// The contract's integer path for one layer (FORMAT.md): input codes, exact integer sums, then
// the float32 epilogue in the contract's order. `rows_x` are the GEMM rows (tokens or conv
// patches), each K codes long, given by `code_at(row, k)` already minus the zero point.
struct ContractWeight {
  QuantLayout layout;
  std::vector<int32_t> codes;
  std::vector<float> scales;
};

ContractWeight contract_weight(const LayerContent& L) {
  const int64_t rows = L.weight.shape[0], k = L.weight.numel() / rows;
  ContractWeight w;
  w.layout = QuantLayout::make(rows, k, L.weight_scheme->granularity, L.weight_scheme->group_size);
  QuantizedMatrix q = quantize_matrix(L.weight.f32.data(), w.layout, L.weight_scheme->bits, true, L.weight_scales);
  w.codes = std::move(q.codes);
  w.scales = std::move(q.scales);
  return w;
}

template <class CodeAt>
float contract_dot(const ContractWeight& w, int64_t o, float sx, const float* bias, CodeAt code_at) {
  const int64_t k = w.layout.cols;
  float y;
  if (w.layout.granularity != Granularity::kGroup) {
    int64_t acc = 0;
    for (int64_t kk = 0; kk < k; ++kk) acc += int64_t{code_at(kk)} * w.codes[static_cast<size_t>(o * k + kk)];
    y = static_cast<float>(acc) * (sx * w.scales[static_cast<size_t>(w.layout.param_index(o, 0))]);
  } else {
    float total = 0.0f;
    for (int64_t g = 0; g < w.layout.groups_per_row(); ++g) {
      int64_t acc = 0;
      for (int64_t kk = g * w.layout.group_size; kk < (g + 1) * w.layout.group_size; ++kk)
        acc += int64_t{code_at(kk)} * w.codes[static_cast<size_t>(o * k + kk)];
      total += static_cast<float>(acc) * w.scales[static_cast<size_t>(o * w.layout.groups_per_row() + g)];
    }
    y = sx * total;
  }
  return bias ? y + bias[o] : y;
}

// Input codes minus the zero point, with the rounding under test.
int32_t act_code(float x, const QuantParams& p, const QuantRange& r, bool round_half_up) {
  if (!round_half_up) return quantize(x, p, r) - p.zero_point;
  float q = std::floor(x / p.scale + 0.5f) + static_cast<float>(p.zero_point);
  q = std::fmin(std::fmax(q, static_cast<float>(r.qmin)), static_cast<float>(r.qmax));
  return static_cast<int32_t>(q) - p.zero_point;
}

bool integer_path(const LayerContent& L) { return L.weight_scheme && L.input_act.mode != ActMode::kNone; }

const float* bias_of(const LayerContent& L) {
  auto it = L.extra.find("bias");
  return it == L.extra.end() ? nullptr : it->second.f32.data();
}

std::pair<int64_t, int64_t> pair_attr(const Op& op, const std::string& key, int64_t dh, int64_t dw) {
  auto it = op.ints.find(key);
  if (it == op.ints.end()) return {dh, dw};
  return it->second.size() == 1 ? std::make_pair(it->second[0], it->second[0]) : std::make_pair(it->second[0], it->second[1]);
}

}  // namespace

std::map<std::string, Tensor> reference_run(const CheckpointContent& c, const std::map<std::string, Tensor>& inputs,
                                           const ReferenceOptions& opt, std::map<std::string, Tensor>* trace) {
  std::map<std::string, Tensor> t = inputs;
  for (const Op& op : c.graph.ops) {
    const Tensor& x = t.at(op.inputs[0]);
    Tensor y;
    y.dtype = DType::kFloat32;
    if (op.kind == "linear" && integer_path(layer_of(c, op.name))) {
      const LayerContent& L = layer_of(c, op.name);
      const ContractWeight w = contract_weight(L);
      const int64_t o = w.layout.rows, k = w.layout.cols, m = x.numel() / k;
      const ActScheme& a = L.input_act;
      y.shape = x.shape;
      y.shape.back() = o;
      y.f32.resize(static_cast<size_t>(m * o));
      for (int64_t i = 0; i < m; ++i) {
        const float* xr = x.f32.data() + i * k;
        QuantParams p{a.scale, a.zero_point};
        QuantRange r = quant_range(a.bits, a.symmetric);
        if (a.mode == ActMode::kDynamicPerToken) {
          float amax = 0;
          for (int64_t kk = 0; kk < k; ++kk) amax = std::fmax(amax, std::fabs(xr[kk]));
          r = quant_range(8, true);
          p = symmetric_params(amax, r);
        }
        std::vector<int32_t> qx(static_cast<size_t>(k));
        for (int64_t kk = 0; kk < k; ++kk) qx[static_cast<size_t>(kk)] = act_code(xr[kk], p, r, opt.round_half_up);
        for (int64_t j = 0; j < o; ++j)
          y.f32[static_cast<size_t>(i * o + j)] =
              contract_dot(w, j, p.scale, bias_of(L), [&](int64_t kk) { return qx[static_cast<size_t>(kk)]; });
      }
    } else if (op.kind == "conv2d" && integer_path(layer_of(c, op.name))) {
      const LayerContent& L = layer_of(c, op.name);
      const ContractWeight w = contract_weight(L);
      const ActScheme& a = L.input_act;
      const QuantParams p{a.scale, a.zero_point};
      const QuantRange r = quant_range(a.bits, a.symmetric);
      std::vector<int32_t> qx(x.f32.size());
      for (size_t i = 0; i < qx.size(); ++i) qx[i] = act_code(x.f32[i], p, r, opt.round_half_up);
      const int64_t n = x.shape[0], ci = x.shape[1], h = x.shape[2], wd = x.shape[3];
      const int64_t o = L.weight.shape[0], cg = L.weight.shape[1], kh = L.weight.shape[2], kw = L.weight.shape[3];
      auto [sh, sw] = pair_attr(op, "stride", 1, 1);
      auto [ph, pw] = pair_attr(op, "padding", 0, 0);
      const int64_t groups = op.int_attr("groups", 1), og = o / groups;
      const int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (wd + 2 * pw - kw) / sw + 1;
      y.shape = {n, o, oh, ow};
      y.f32.resize(static_cast<size_t>(n * o * oh * ow));
      for (int64_t bb = 0; bb < n; ++bb)
        for (int64_t oc = 0; oc < o; ++oc)
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) {
              const int64_t g = oc / og;
              auto code_at = [&](int64_t kk) -> int32_t {  // K order (c, i, j); padding is code zx, i.e. 0
                const int64_t ic = kk / (kh * kw), i = kk / kw % kh, j = kk % kw;
                const int64_t iy = oy * sh - ph + i, ix = ox * sw - pw + j;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) return 0;
                return qx[static_cast<size_t>(((bb * ci + g * cg + ic) * h + iy) * wd + ix)];
              };
              y.f32[static_cast<size_t>(((bb * o + oc) * oh + oy) * ow + ox)] =
                  contract_dot(w, oc, a.scale, bias_of(L), code_at);
            }
    } else if (op.kind == "linear") {
      const LayerContent& L = layer_of(c, op.name);
      const int64_t o = L.weight.shape[0], k = L.weight.shape[1], m = x.numel() / k;
      const auto w = effective_weight(L);
      const auto xq = fake_quant_act(L.input_act, x.f32, k);
      const float* b = bias_of(L);
      y.shape = x.shape;
      y.shape.back() = o;
      y.f32.resize(static_cast<size_t>(m * o));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < o; ++j) {
          double acc = b ? b[j] : 0.0;
          for (int64_t kk = 0; kk < k; ++kk) acc += static_cast<double>(xq[static_cast<size_t>(i * k + kk)]) * w[static_cast<size_t>(j * k + kk)];
          y.f32[static_cast<size_t>(i * o + j)] = static_cast<float>(acc);
        }
    } else if (op.kind == "conv2d") {
      const LayerContent& L = layer_of(c, op.name);
      const auto w = effective_weight(L);
      const auto xq = fake_quant_act(L.input_act, x.f32, x.numel());
      const float* b = bias_of(L);
      const int64_t n = x.shape[0], ci = x.shape[1], h = x.shape[2], wd = x.shape[3];
      const int64_t o = L.weight.shape[0], cg = L.weight.shape[1], kh = L.weight.shape[2], kw = L.weight.shape[3];
      auto [sh, sw] = pair_attr(op, "stride", 1, 1);
      auto [ph, pw] = pair_attr(op, "padding", 0, 0);
      const int64_t groups = op.int_attr("groups", 1), og = o / groups;
      const int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (wd + 2 * pw - kw) / sw + 1;
      y.shape = {n, o, oh, ow};
      y.f32.resize(static_cast<size_t>(n * o * oh * ow));
      for (int64_t bb = 0; bb < n; ++bb)
        for (int64_t oc = 0; oc < o; ++oc)
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) {
              double acc = b ? b[oc] : 0.0;
              const int64_t g = oc / og;
              for (int64_t ic = 0; ic < cg; ++ic)
                for (int64_t i = 0; i < kh; ++i)
                  for (int64_t j = 0; j < kw; ++j) {
                    const int64_t iy = oy * sh - ph + i, ix = ox * sw - pw + j;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                    acc += static_cast<double>(xq[static_cast<size_t>(((bb * ci + g * cg + ic) * h + iy) * wd + ix)]) *
                           w[static_cast<size_t>(((oc * cg + ic) * kh + i) * kw + j)];
                  }
              y.f32[static_cast<size_t>(((bb * o + oc) * oh + oy) * ow + ox)] = static_cast<float>(acc);
            }
    } else if (op.kind == "relu" || op.kind == "gelu") {
      y = x;
      for (float& v : y.f32) v = op.kind == "relu" ? std::fmax(v, 0.f) : static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
    } else if (op.kind == "maxpool2d" || op.kind == "avgpool2d") {
      auto [kh, kw] = pair_attr(op, "kernel", 1, 1);
      auto [sh, sw] = pair_attr(op, "stride", kh, kw);
      auto [ph, pw] = pair_attr(op, "padding", 0, 0);
      const int64_t h = x.shape[2], w = x.shape[3], oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
      const int64_t planes = x.shape[0] * x.shape[1];
      y.shape = {x.shape[0], x.shape[1], oh, ow};
      y.f32.resize(static_cast<size_t>(planes * oh * ow));
      for (int64_t p = 0; p < planes; ++p)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            double m = -INFINITY, s = 0;
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t iy = oy * sh - ph + i, ix = ox * sw - pw + j;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const double v = x.f32[static_cast<size_t>((p * h + iy) * w + ix)];
                m = std::max(m, v);
                s += v;
              }
            y.f32[static_cast<size_t>((p * oh + oy) * ow + ox)] =
                static_cast<float>(op.kind == "maxpool2d" ? m : s / static_cast<double>(kh * kw));
          }
    } else if (op.kind == "flatten") {
      y = x;
      y.shape = {x.shape[0], x.numel() / x.shape[0]};
    } else if (op.kind == "add") {
      y = x;
      const Tensor& b = t.at(op.inputs[1]);
      for (size_t i = 0; i < y.f32.size(); ++i) y.f32[i] += b.f32[i];
    } else if (op.kind == "layernorm") {
      const LayerContent& L = layer_of(c, op.name);
      const int64_t cc = x.shape.back();
      const double eps = op.float_attr("eps", 1e-5);
      y = x;
      for (int64_t r = 0; r < x.numel() / cc; ++r) {
        double mean = 0, var = 0;
        for (int64_t k = 0; k < cc; ++k) mean += x.f32[static_cast<size_t>(r * cc + k)];
        mean /= static_cast<double>(cc);
        for (int64_t k = 0; k < cc; ++k) var += std::pow(x.f32[static_cast<size_t>(r * cc + k)] - mean, 2);
        var /= static_cast<double>(cc);
        for (int64_t k = 0; k < cc; ++k)
          y.f32[static_cast<size_t>(r * cc + k)] = static_cast<float>(
              (x.f32[static_cast<size_t>(r * cc + k)] - mean) / std::sqrt(var + eps) * L.weight.f32[static_cast<size_t>(k)] +
              L.extra.at("bias").f32[static_cast<size_t>(k)]);
      }
    } else if (op.kind == "softmax") {
      const int64_t cc = x.shape.back();
      y = x;
      for (int64_t r = 0; r < x.numel() / cc; ++r) {
        double m = -INFINITY, s = 0;
        for (int64_t k = 0; k < cc; ++k) m = std::max(m, static_cast<double>(x.f32[static_cast<size_t>(r * cc + k)]));
        for (int64_t k = 0; k < cc; ++k) s += std::exp(x.f32[static_cast<size_t>(r * cc + k)] - m);
        for (int64_t k = 0; k < cc; ++k) y.f32[static_cast<size_t>(r * cc + k)] = static_cast<float>(std::exp(x.f32[static_cast<size_t>(r * cc + k)] - m) / s);
      }
    } else if (op.kind == "embedding") {
      const LayerContent& L = layer_of(c, op.name);
      const auto w = effective_weight(L);
      const int64_t d = L.weight.shape[1];
      y.shape = x.shape;
      y.shape.push_back(d);
      for (int64_t id : x.i64) y.f32.insert(y.f32.end(), w.begin() + id * d, w.begin() + (id + 1) * d);
    } else if (op.kind == "positional_embedding") {
      const LayerContent& L = layer_of(c, op.name);
      const int64_t tt = x.shape[1], d = x.shape[2];
      y = x;
      for (int64_t b = 0; b < x.shape[0]; ++b)
        for (int64_t i = 0; i < tt; ++i)
          for (int64_t e = 0; e < d; ++e) y.f32[static_cast<size_t>((b * tt + i) * d + e)] += L.weight.f32[static_cast<size_t>(i * d + e)];
    } else if (op.kind == "causal_attention") {
      const int64_t bn = x.shape[0], tt = x.shape[1], cc = x.shape[2] / 3, heads = op.int_attr("heads", 1), d = cc / heads;
      y.shape = {bn, tt, cc};
      y.f32.assign(static_cast<size_t>(bn * tt * cc), 0.f);
      for (int64_t b = 0; b < bn; ++b)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < tt; ++i) {
            const float* q = x.f32.data() + (b * tt + i) * 3 * cc + h * d;
            std::vector<double> s(static_cast<size_t>(i + 1));
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j <= i; ++j) {
              const float* k = x.f32.data() + (b * tt + j) * 3 * cc + cc + h * d;
              double dot = 0;
              for (int64_t e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * k[e];
              s[static_cast<size_t>(j)] = dot / std::sqrt(static_cast<double>(d));
              m = std::max(m, s[static_cast<size_t>(j)]);
            }
            for (double& v : s) sum += (v = std::exp(v - m));
            for (int64_t e = 0; e < d; ++e) {
              double acc = 0;
              for (int64_t j = 0; j <= i; ++j) acc += s[static_cast<size_t>(j)] / sum * x.f32[static_cast<size_t>((b * tt + j) * 3 * cc + 2 * cc + h * d + e)];
              y.f32[static_cast<size_t>((b * tt + i) * cc + h * d + e)] = static_cast<float>(acc);
            }
          }
    } else {
      throw std::runtime_error("reference: unknown op " + op.kind);
    }
    t[op.outputs[0]] = std::move(y);
  }
  std::map<std::string, Tensor> out;
  for (const std::string& o : c.graph.outputs) out[o] = t.at(o);
  if (trace)
    for (const Op& op : c.graph.ops) (*trace)[op.outputs[0]] = t.at(op.outputs[0]);
  return out;
}

}  // namespace qf::test
