// Fake-quantization modules that plug into a layer's slots (train/layers.h):
//   WeightFakeQuant  weights, per-tensor / per-output-channel / per-group along K, symmetric;
//                    scale from the current weights (min-max, STE) or learned (LSQ)
//   ActFakeQuant     layer inputs: static per-tensor (observed range or LSQ, optionally a learned
//                    zero point) or dynamic per-token (symmetric, per row, computed on the fly)
// Both compute with qat::fake_quantize, i.e. core/quant.h's arithmetic, and expose the exact
// scales they used so the exporter writes what the model was trained with.
#pragma once

#include <torch/torch.h>

#include "calibrate/observer.h"
#include "core/quant_scheme.h"
#include "train/layers.h"

namespace qf::qat {

enum class ScaleMethod { kMinMax, kLsq };  // from the data (observer / weight range), or learned
ScaleMethod parse_scale_method(const std::string& s);  // "minmax" | "lsq"
const char* scale_method_name(ScaleMethod m);

struct WeightQuantConfig {
  WeightScheme scheme;
  ScaleMethod method = ScaleMethod::kMinMax;
  // minmax only: the scales are a buffer set once by post-training calibration (qat/weight_ptq.h:
  // an observer's clipped scales, or GPTQ's) and kept fixed, instead of max|w| / qmax at every step.
  bool static_scales = false;
  // minmax only (computed, not static): the scale max|w| / qmax passes gradient to the weights
  // (each group's largest |w|) instead of being a constant of the backward: the fake-quantized
  // group's exact derivative under the straight-through rounding, LSQ's dy/ds without its gradient
  // scale. Recipe key `scale_gradient: true` of a weights section.
  bool scale_gradient = false;
};

struct ActQuantConfig {
  ActMode mode = ActMode::kStatic;
  int bits = 8;
  bool symmetric = false;
  ScaleMethod method = ScaleMethod::kMinMax;  // static only
  bool learn_zero_point = false;              // static, asymmetric, LSQ only
  calibrate::ObserverKind observer = calibrate::ObserverKind::kMovingAverageMinMax;
  double percentile = 99.99;  // observer: percentile
  bool e4m3 = false;          // FP8 E4M3 codes (qat/fp8_fake_quant.h): scale = amax / 448
};

// Quantization on/off and observer state, driven by the quantization modifier's schedule.
enum class QuantPhase {
  kOff,        // pass-through (before the modifier's start epoch)
  kCalibrate,  // activations: observe ranges, pass through unquantized
  kObserve,    // quantize, and keep updating observed ranges (training)
  kFrozen,     // quantize with frozen ranges
};

class WeightFakeQuantImpl : public train::WeightQuantizerHook {
 public:
  WeightFakeQuantImpl(WeightQuantConfig config, const torch::Tensor& weight);
  torch::Tensor forward(const torch::Tensor& w) override;
  // Scales for `w` as the forward uses them: [1] (tensor), [O] (channel) or [O, K/G] (group).
  torch::Tensor scales(const torch::Tensor& w);
  const WeightQuantConfig& config() const { return config_; }
  WeightScheme weight_scheme() const override { return config_.scheme; }
  torch::Tensor weight_scales(const torch::Tensor& w) override { return scales(w); }
  bool active() const override { return phase_ != QuantPhase::kOff; }
  void set_phase(QuantPhase p) { phase_ = p; }
  QuantPhase phase() const { return phase_; }
  // Whether the scales are stored (LSQ's learned ones, or static ones) rather than recomputed.
  bool has_stored_scales() const { return lsq_scale_.defined() || static_scale_.defined(); }
  // Sets the stored scales ([1], [O] or [O, K/G], as scales() returns them): a post-training
  // observer or GPTQ initialises LSQ (or fixes static scales) this way. Throws without storage.
  void set_scales(const torch::Tensor& scales);
  // Quant-Noise (Fan et al. 2020): in training mode each group (of the scales: a group, a channel
  // or the tensor) is fake-quantized with probability `p` and passes its float weights otherwise,
  // drawn afresh at every forward from torch's generator of the weight's device. 1 (the default):
  // every group, as in evaluation mode, which always quantizes every group.
  void set_quant_fraction(double p) { quant_fraction_ = p; }
  double quant_fraction() const { return quant_fraction_; }
  // For every element of `w`: the scale its group uses now (w's shape; no gradient).
  torch::Tensor element_scales(const torch::Tensor& w);
  // The integer codes the forward gives `w` now: clamp(round_half_even(w / s), qmin, qmax), as
  // floats in w's shape. Integer grids only (not the ggml block formats or FP8).
  torch::Tensor codes(const torch::Tensor& w);
  // The same with element_scales(w) already computed (a caller that needs both computes them once).
  torch::Tensor codes(const torch::Tensor& w, const torch::Tensor& scale_per_element);
  // Whether the weights lie on an integer grid with one scale per group (codes() applies).
  bool integer_grid() const { return config_.scheme.ggml_format == GgmlFormat::kNone && !config_.scheme.e4m3; }

 private:
  torch::Tensor as_groups(const torch::Tensor& w) const;  // [O, K/G, G] view (G = K for channel)
  torch::Tensor grouped_scales(const torch::Tensor& groups) const;  // broadcastable to as_groups
  WeightQuantConfig config_;
  QuantRange range_;
  int64_t rows_, k_, group_;
  torch::Tensor lsq_scale_;     // LSQ: learned, [O, K/G, 1] or [1,1,1]
  torch::Tensor static_scale_;  // static_scales: fixed, same shape
  QuantPhase phase_ = QuantPhase::kObserve;
  double quant_fraction_ = 1.0;
};
TORCH_MODULE(WeightFakeQuant);

class ActFakeQuantImpl : public train::InputQuantizerHook {
 public:
  explicit ActFakeQuantImpl(ActQuantConfig config);
  torch::Tensor forward(const torch::Tensor& x) override;
  // Static mode: the (scale, zero point) the forward quantizes with now.
  QuantParams static_params() const;
  // LSQ: start the learned scale (and zero point) from the observed range.
  void init_learned_from_observer();
  // Histogram observers (percentile, mse, kl) calibrate in a second pass: see calibrate_activations.
  bool needs_histogram_pass() const { return observer_ && calibrate::uses_histogram(config_.observer); }
  void begin_histogram_pass() { if (observer_) observer_->begin_histogram_pass(); }
  void finish_calibration() { if (observer_) observer_->finish_calibration(range_, config_.symmetric); }
  const ActQuantConfig& config() const { return config_; }
  ActScheme act_scheme() const override;
  bool active() const override { return phase_ != QuantPhase::kOff && phase_ != QuantPhase::kCalibrate; }
  void set_phase(QuantPhase p) { phase_ = p; }
  QuantPhase phase() const { return phase_; }

 private:
  torch::Tensor effective_scale() const;
  torch::Tensor effective_zero_point() const;
  ActQuantConfig config_;
  QuantRange range_;
  calibrate::RangeObserver observer_{nullptr};
  torch::Tensor lsq_scale_, lsq_zero_point_;
  QuantPhase phase_ = QuantPhase::kObserve;
};
TORCH_MODULE(ActFakeQuant);

// core's symmetric scale rule on tensors: absmax / symmetric_divisor(range), kMinScale floor, 1 for all-zero ranges.
torch::Tensor symmetric_scale(const torch::Tensor& absmax, QuantRange range);

}  // namespace qf::qat
