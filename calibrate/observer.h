// Range observers for activations: they watch tensors flow by and keep a [min, max] range from
// which core/quant.h derives a scale and zero point. Buffers, so ranges are checkpointed.
//   minmax                 running min / max over everything observed (PTQ calibration)
//   moving_average_minmax  exponential moving average of each batch's min / max (QAT), the
//                          first batch initialising it
#pragma once

#include <torch/torch.h>

#include "core/quant.h"

namespace qf::calibrate {

enum class ObserverKind { kMinMax, kMovingAverageMinMax };
ObserverKind parse_observer_kind(const std::string& name);  // "minmax" | "moving_average_minmax"

class RangeObserverImpl : public torch::nn::Module {
 public:
  explicit RangeObserverImpl(ObserverKind kind, double averaging_constant = 0.01);
  // `calibrating`: accumulate a plain running min / max whatever the kind (PTQ calibration).
  void observe(const torch::Tensor& x, bool calibrating = false);
  bool has_range() const { return initialized_.item<bool>(); }
  float min() const { return lo_.item<float>(); }
  float max() const { return hi_.item<float>(); }
  // Scale and zero point of the observed range under core's rules.
  QuantParams params(QuantRange range, bool symmetric) const;
  void reset();

 private:
  ObserverKind kind_;
  double averaging_constant_;
  torch::Tensor lo_, hi_, initialized_;
};
TORCH_MODULE(RangeObserver);

}  // namespace qf::calibrate
