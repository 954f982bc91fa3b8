// Weight observers: how the symmetric scale of each weight group (tensor, output channel, or
// group along K) is chosen from the float weights. The scale rule is core's (s = a / qmax); the
// observers differ in the clip value `a` they feed it.
//   minmax      a = max |w|                     (no clipping; QAT's default)
//   mse         a = r * max |w|, r on a grid in (0, 1], minimising the group's squared
//               fake-quantization error (exact, on the weights themselves)
//   percentile  a = the p-th percentile of |w| (linear interpolation, numpy's default)
//   kl          TensorRT's entropy threshold of the histogram of |w| (clip_search.h); per tensor
//               or per channel only: a group of a few dozen values has no histogram to speak of
#pragma once

#include <torch/torch.h>

#include <string>

#include "core/quant.h"

namespace qf::calibrate {

enum class WeightObserverKind { kMinMax, kMse, kPercentile, kKl };
WeightObserverKind parse_weight_observer(const std::string& name);  // minmax | mse | percentile | kl
const char* weight_observer_name(WeightObserverKind k);

struct WeightObserverOptions {
  WeightObserverKind kind = WeightObserverKind::kMinMax;
  double percentile = 99.9;  // percentile
  int mse_steps = 100;       // mse: ratios 1, 1 - 1/steps, ... down to mse_min_ratio
  double mse_min_ratio = 0.2;
  int kl_bins = 2048;        // kl
};

// `groups` [G0, G1, n]: n values share one scale. Returns the scales [G0, G1, 1] (float32), each
// produced by core's symmetric rule from the observer's clip value.
torch::Tensor observe_weight_scales(const torch::Tensor& groups, QuantRange range, const WeightObserverOptions& opt);

// Σ over each group of (fake_quantize(w, s) - w)², [G0, G1, 1]: what the mse observer minimises.
torch::Tensor group_quant_error(const torch::Tensor& groups, const torch::Tensor& scales, QuantRange range);

}  // namespace qf::calibrate
