#include "qat/fake_quantize.h"

#include <cmath>

#include "qat/fake_quant_fn.h"
#include "qat/fp8_fake_quant.h"
#include "qat/ggml_fake_quant.h"

namespace qf::qat {

ScaleMethod parse_scale_method(const std::string& s) {
  if (s == "minmax") return ScaleMethod::kMinMax;
  if (s == "lsq") return ScaleMethod::kLsq;
  throw std::invalid_argument("unknown scale method '" + s + "' (expected minmax or lsq)");
}
const char* scale_method_name(ScaleMethod m) { return m == ScaleMethod::kLsq ? "lsq" : "minmax"; }

torch::Tensor symmetric_scale(const torch::Tensor& absmax, QuantRange range) {
  const torch::Tensor s = absmax / symmetric_divisor(range);
  const torch::Tensor fallback = torch::where(absmax > 0, torch::full_like(s, kMinScale), torch::ones_like(s));
  return torch::where(s > kMinScale, s, fallback);
}

// ---- weights ----------------------------------------------------------------------------------

WeightFakeQuantImpl::WeightFakeQuantImpl(WeightQuantConfig config, const torch::Tensor& weight)
    : config_(config), range_(weight_quant_range(config.scheme)) {
  if (!config_.scheme.symmetric) throw std::invalid_argument("weights are quantized symmetrically (format v1)");
  rows_ = weight.size(0);
  k_ = weight.numel() / rows_;
  if (config_.scheme.ggml_format != GgmlFormat::kNone) {
    // llama.cpp's blocks: the scale is ggml's function of the data, never learned.
    if (config_.method != ScaleMethod::kMinMax)
      throw std::invalid_argument(std::string("format ") + ggml_format_name(config_.scheme.ggml_format) +
                                  " computes its scales from the weights (method: minmax)");
    if (weight.dim() != 2 || k_ % 32 != 0)
      throw std::invalid_argument(std::string("format ") + ggml_format_name(config_.scheme.ggml_format) +
                                  " needs a [O, K] weight with K a multiple of 32, got K = " + std::to_string(k_));
    group_ = 32;
    return;
  }
  if (config_.scheme.e4m3) {
    // FP8: the scale only places the range (amax / 448), never learned; no groups.
    if (config_.method != ScaleMethod::kMinMax)
      throw std::invalid_argument("format fp8_e4m3 computes its scales from the weights (method: minmax)");
    if (config_.scheme.granularity == Granularity::kGroup)
      throw std::invalid_argument("format fp8_e4m3 takes granularity tensor or channel");
  }
  switch (config_.scheme.granularity) {
    case Granularity::kTensor: group_ = rows_ * k_; break;
    case Granularity::kChannel: group_ = k_; break;
    case Granularity::kGroup:
      group_ = config_.scheme.group_size;
      if (group_ <= 0 || k_ % group_ != 0)
        throw std::invalid_argument("group size " + std::to_string(group_) + " does not divide the input dimension " +
                                    std::to_string(k_));
      break;
  }
  if (config_.method == ScaleMethod::kLsq) {
    torch::NoGradGuard no_grad;
    lsq_scale_ = register_parameter("scale", grouped_scales(as_groups(weight.detach())).clone());
  } else if (config_.static_scales) {
    torch::NoGradGuard no_grad;
    static_scale_ = register_buffer("static_scale", grouped_scales(as_groups(weight.detach())).clone());
  }
}

void WeightFakeQuantImpl::set_scales(const torch::Tensor& scales) {
  torch::Tensor& dst = lsq_scale_.defined() ? lsq_scale_ : static_scale_;
  if (!dst.defined()) throw std::logic_error("set_scales: these weight scales are computed, not stored");
  if (scales.numel() != dst.numel())
    throw std::invalid_argument("set_scales: " + std::to_string(scales.numel()) + " scales for " +
                                std::to_string(dst.numel()) + " groups");
  torch::NoGradGuard no_grad;
  dst.copy_(scales.reshape(dst.sizes()).to(dst.options()));
}

torch::Tensor WeightFakeQuantImpl::as_groups(const torch::Tensor& w) const {
  if (config_.scheme.granularity == Granularity::kTensor) return w.reshape({1, 1, -1});
  return w.reshape({rows_, k_ / group_, group_});
}

torch::Tensor WeightFakeQuantImpl::grouped_scales(const torch::Tensor& groups) const {
  if (lsq_scale_.defined()) return lsq_scale_.clamp_min(kMinScale);
  if (static_scale_.defined()) return static_scale_;
  const torch::Tensor absmax = (config_.scale_gradient ? groups : groups.detach()).abs().amax(-1, /*keepdim=*/true);
  return config_.scheme.e4m3 ? e4m3_scale(absmax) : symmetric_scale(absmax, range_);
}

torch::Tensor WeightFakeQuantImpl::forward(const torch::Tensor& w) {
  if (phase_ == QuantPhase::kOff) return w;
  const torch::Tensor groups = as_groups(w);
  torch::Tensor y;
  if (config_.scheme.ggml_format != GgmlFormat::kNone) {
    y = ggml_fake_quantize(w, config_.scheme.ggml_format);
  } else {
    const torch::Tensor s = grouped_scales(groups);
    if (config_.scheme.e4m3) {
      y = e4m3_fake_quantize(groups, s).reshape(w.sizes());
    } else {
      // LSQ's gradient scale 1/sqrt(N * Qp) for learned scales; a min-max scale that passes
      // gradient (scale_gradient) takes the exact derivative.
      const double grad_factor =
          config_.scale_gradient ? 1.0 : 1.0 / std::sqrt(static_cast<double>(groups.size(-1)) * range_.qmax);
      y = fake_quantize(groups, s, torch::zeros({}, w.options()), range_.qmin, range_.qmax, grad_factor)
              .reshape(w.sizes());
    }
  }
  if (quant_fraction_ >= 1.0 || !is_training()) return y;
  const torch::Tensor quantized =
      torch::rand({groups.size(0), groups.size(1), 1}, w.options().dtype(torch::kFloat)) < quant_fraction_;
  return torch::where(quantized, as_groups(y), groups).reshape(w.sizes());
}

torch::Tensor WeightFakeQuantImpl::element_scales(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  const torch::Tensor groups = as_groups(w);
  return grouped_scales(groups).expand_as(groups).reshape(w.sizes());
}

torch::Tensor WeightFakeQuantImpl::codes(const torch::Tensor& w) { return codes(w, element_scales(w)); }

torch::Tensor WeightFakeQuantImpl::codes(const torch::Tensor& w, const torch::Tensor& scale_per_element) {
  if (!integer_grid()) throw std::logic_error("codes: the ggml block formats and FP8 have no integer grid per group");
  torch::NoGradGuard no_grad;
  return torch::clamp(torch::round(w / scale_per_element), static_cast<double>(range_.qmin),
                      static_cast<double>(range_.qmax));
}

torch::Tensor WeightFakeQuantImpl::scales(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  if (config_.scheme.ggml_format != GgmlFormat::kNone) return ggml_block_scales(w, config_.scheme.ggml_format);
  const torch::Tensor s = grouped_scales(as_groups(w));
  switch (config_.scheme.granularity) {
    case Granularity::kTensor: return s.reshape({1});
    case Granularity::kChannel: return s.reshape({rows_});
    case Granularity::kGroup: return s.reshape({rows_, k_ / group_});
  }
  return s;
}

// ---- activations ------------------------------------------------------------------------------

ActFakeQuantImpl::ActFakeQuantImpl(ActQuantConfig config)
    : config_(config),
      // FP8: the observer's symmetric rule with 448 for qmax is core's e4m3_scale (amax / 448).
      range_(config.e4m3 ? QuantRange{-448, 448}
                         : quant_range(config.bits, config.mode == ActMode::kDynamicPerToken ? true : config.symmetric)) {
  if (config_.e4m3 && (config_.method != ScaleMethod::kMinMax || !config_.symmetric || config_.bits != 8))
    throw std::invalid_argument("fp8_e4m3 inputs are symmetric 8-bit with observed scales (method: minmax)");
  if (config_.mode == ActMode::kStatic) {
    observer_ = register_module("observer", calibrate::RangeObserver(config_.observer, 0.01, config_.percentile));
    if (config_.method == ScaleMethod::kLsq) {
      lsq_scale_ = register_parameter("scale", torch::ones({}));
      if (!config_.symmetric)
        lsq_zero_point_ = register_parameter("zero_point", torch::zeros({}), config_.learn_zero_point);
    }
  }
}

void ActFakeQuantImpl::init_learned_from_observer() {
  if (!lsq_scale_.defined() || !observer_->has_range()) return;
  torch::NoGradGuard no_grad;
  const QuantParams p = observer_->params(range_, config_.symmetric);
  lsq_scale_.fill_(p.scale);
  if (lsq_zero_point_.defined()) lsq_zero_point_.fill_(static_cast<double>(p.zero_point));
}

torch::Tensor ActFakeQuantImpl::effective_scale() const {
  if (lsq_scale_.defined()) return lsq_scale_.clamp_min(kMinScale);
  return torch::tensor(static_params().scale);
}

torch::Tensor ActFakeQuantImpl::effective_zero_point() const {
  if (config_.symmetric) return torch::zeros({});
  if (lsq_zero_point_.defined()) {
    // Learned continuously, used rounded (straight-through), so the exported integer is exact.
    const torch::Tensor z = lsq_zero_point_ + (torch::round(lsq_zero_point_) - lsq_zero_point_).detach();
    return z.clamp(static_cast<double>(range_.qmin), static_cast<double>(range_.qmax));
  }
  return torch::tensor(static_cast<float>(static_params().zero_point));
}

QuantParams ActFakeQuantImpl::static_params() const {
  if (lsq_scale_.defined()) {
    QuantParams p;
    p.scale = std::fmax(lsq_scale_.item<float>(), kMinScale);
    if (lsq_zero_point_.defined()) {
      const float z = std::nearbyint(lsq_zero_point_.item<float>());
      p.zero_point = static_cast<int32_t>(std::fmin(std::fmax(z, range_.qmin), range_.qmax));
    }
    return p;
  }
  if (!observer_->has_range())
    throw std::logic_error("activation fake-quant used before any range was observed (calibrate first)");
  return observer_->params(range_, config_.symmetric);
}

ActScheme ActFakeQuantImpl::act_scheme() const {
  ActScheme a;
  a.mode = config_.mode;
  a.bits = config_.bits;
  a.symmetric = config_.mode == ActMode::kDynamicPerToken ? true : config_.symmetric;
  a.e4m3 = config_.e4m3;
  if (config_.mode == ActMode::kStatic) {
    const QuantParams p = static_params();
    a.scale = p.scale;
    a.zero_point = p.zero_point;
  }
  return a;
}

torch::Tensor ActFakeQuantImpl::forward(const torch::Tensor& x) {
  if (phase_ == QuantPhase::kOff) return x;
  if (config_.mode == ActMode::kDynamicPerToken) {
    if (phase_ == QuantPhase::kCalibrate) return x;
    const torch::Tensor absmax = x.detach().abs().amax(-1, /*keepdim=*/true);
    if (config_.e4m3) return e4m3_fake_quantize(x, e4m3_scale(absmax));
    const torch::Tensor s = symmetric_scale(absmax, range_);
    return fake_quantize(x, s, torch::zeros({}, x.options()), range_.qmin, range_.qmax);
  }
  const bool observing = phase_ == QuantPhase::kCalibrate || (phase_ == QuantPhase::kObserve && is_training());
  if (observing && !(lsq_scale_.defined() && phase_ != QuantPhase::kCalibrate)) observer_->observe(x, phase_ == QuantPhase::kCalibrate);
  if (phase_ == QuantPhase::kCalibrate) return x;
  if (config_.e4m3) return e4m3_fake_quantize(x, effective_scale().to(x.device()));
  const torch::Tensor s = effective_scale().to(x.device()), z = effective_zero_point().to(x.device());
  // LSQ: gradient scale 1/sqrt(N * Qp), N = features per example.
  const double grad_factor = 1.0 / std::sqrt(static_cast<double>(x.numel() / std::max<int64_t>(1, x.size(0))) * range_.qmax);
  return fake_quantize(x, s, z, range_.qmin, range_.qmax, grad_factor);
}

}  // namespace qf::qat
