// Range observers for activations: they watch tensors flow by and keep a [min, max] range from
// which core/quant.h derives a scale and zero point. Buffers, so ranges are checkpointed.
//   minmax                 running min / max over everything observed (PTQ calibration)
//   moving_average_minmax  exponential moving average of each batch's min / max (QAT), the
//                          first batch initialising it
//   percentile | mse | kl  calibrated in two passes over the calibration batches: min / max first,
//                          then a histogram over that range, from which calibrate/clip_search.h
//                          picks the clip range (the p-th percentile; the least expected squared
//                          quantization error; TensorRT's KL threshold). The range is then frozen:
//                          training does not widen it again (that would undo the clipping).
#pragma once

#include <torch/torch.h>

#include <memory>

#include "core/quant.h"

namespace qf::calibrate {

struct Histogram;

enum class ObserverKind { kMinMax, kMovingAverageMinMax, kPercentile, kMse, kKl };
// "minmax" | "moving_average_minmax" | "percentile" | "mse" | "kl"
ObserverKind parse_observer_kind(const std::string& name);
const char* observer_kind_name(ObserverKind k);
bool uses_histogram(ObserverKind k);

class RangeObserverImpl : public torch::nn::Module {
 public:
  explicit RangeObserverImpl(ObserverKind kind, double averaging_constant = 0.01, double percentile = 99.99,
                             int64_t bins = 2048);
  ~RangeObserverImpl() override;
  // `calibrating`: accumulate a plain running min / max whatever the kind (PTQ calibration); in
  // the histogram pass (begin_histogram_pass), add to the histogram instead.
  void observe(const torch::Tensor& x, bool calibrating = false);
  bool has_range() const { return initialized_.item<bool>(); }
  float min() const { return lo_.item<float>(); }
  float max() const { return hi_.item<float>(); }
  // Scale and zero point of the observed range under core's rules.
  QuantParams params(QuantRange range, bool symmetric) const;
  void reset();

  // Histogram kinds: after the min / max pass, start the histogram over the observed range; after
  // it, replace the range by the clip range chosen for `range` / `symmetric`.
  void begin_histogram_pass();
  void finish_calibration(QuantRange range, bool symmetric);
  ObserverKind kind() const { return kind_; }

 private:
  ObserverKind kind_;
  double averaging_constant_, percentile_;
  int64_t bins_;
  torch::Tensor lo_, hi_, initialized_;
  std::unique_ptr<Histogram> hist_, abs_hist_;  // during the histogram pass only (not saved)
};
TORCH_MODULE(RangeObserver);

}  // namespace qf::calibrate
