#include "calibrate/weight_observer.h"

#include <stdexcept>

#include "calibrate/clip_search.h"

namespace qf::calibrate {
namespace {

// core's symmetric rule on tensors (qat::symmetric_scale's twin; calibrate/ sits below qat/).
torch::Tensor scale_from_clip(const torch::Tensor& a, QuantRange range) {
  const torch::Tensor s = a / symmetric_divisor(range);
  const torch::Tensor fallback = torch::where(a > 0, torch::full_like(s, kMinScale), torch::ones_like(s));
  return torch::where(s > kMinScale, s, fallback);
}

torch::Tensor fake_quant(const torch::Tensor& w, const torch::Tensor& s, QuantRange range) {
  return torch::clamp(torch::round(w / s), static_cast<double>(range.qmin), static_cast<double>(range.qmax)) * s;
}

}  // namespace

WeightObserverKind parse_weight_observer(const std::string& name) {
  if (name == "minmax") return WeightObserverKind::kMinMax;
  if (name == "mse") return WeightObserverKind::kMse;
  if (name == "percentile") return WeightObserverKind::kPercentile;
  if (name == "kl") return WeightObserverKind::kKl;
  throw std::invalid_argument("unknown weight observer '" + name + "' (expected minmax, mse, percentile or kl)");
}

const char* weight_observer_name(WeightObserverKind k) {
  switch (k) {
    case WeightObserverKind::kMinMax: return "minmax";
    case WeightObserverKind::kMse: return "mse";
    case WeightObserverKind::kPercentile: return "percentile";
    case WeightObserverKind::kKl: return "kl";
  }
  return "?";
}

torch::Tensor group_quant_error(const torch::Tensor& groups, const torch::Tensor& scales, QuantRange range) {
  return (fake_quant(groups, scales, range) - groups).pow(2).sum(-1, /*keepdim=*/true);
}

torch::Tensor observe_weight_scales(const torch::Tensor& groups_in, QuantRange range, const WeightObserverOptions& opt) {
  torch::NoGradGuard no_grad;
  const torch::Tensor groups = groups_in.detach().to(torch::kFloat32);
  const torch::Tensor absmax = groups.abs().amax(-1, /*keepdim=*/true);
  switch (opt.kind) {
    case WeightObserverKind::kMinMax: return scale_from_clip(absmax, range);
    case WeightObserverKind::kPercentile: {
      if (opt.percentile <= 0 || opt.percentile > 100) throw std::invalid_argument("percentile must be in (0, 100]");
      const torch::Tensor a = torch::quantile(groups.abs(), opt.percentile / 100.0, -1, /*keepdim=*/true, "linear");
      return scale_from_clip(a, range);
    }
    case WeightObserverKind::kMse: {
      torch::Tensor best_s = scale_from_clip(absmax, range);
      torch::Tensor best_err = group_quant_error(groups, best_s, range);
      for (int i = 1; i <= opt.mse_steps; ++i) {
        const double r = 1.0 - static_cast<double>(i) / opt.mse_steps;
        if (r < opt.mse_min_ratio) break;
        const torch::Tensor s = scale_from_clip(absmax * r, range);
        const torch::Tensor err = group_quant_error(groups, s, range);
        const torch::Tensor better = err < best_err;  // strict: ties keep the wider range
        best_s = torch::where(better, s, best_s);
        best_err = torch::where(better, err, best_err);
      }
      return best_s;
    }
    case WeightObserverKind::kKl: {
      const torch::Tensor flat = groups.abs().reshape({-1, groups.size(-1)}).contiguous();
      const torch::Tensor amax = absmax.reshape({-1});
      std::vector<float> clip(static_cast<size_t>(flat.size(0)));
      for (int64_t g = 0; g < flat.size(0); ++g) {
        Histogram h = Histogram::make(0.0, amax[g].item<double>(), opt.kl_bins);
        h.add(flat[g].data_ptr<float>(), flat.size(1));
        clip[static_cast<size_t>(g)] = static_cast<float>(kl_threshold(h, range.qmax + 1));
      }
      return scale_from_clip(torch::tensor(clip).reshape(absmax.sizes()), range);
    }
  }
  throw std::logic_error("unhandled weight observer");
}

}  // namespace qf::calibrate
