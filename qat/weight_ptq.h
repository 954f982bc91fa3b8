// Post-training quantization of a prepared model's weights (the `ptq` section of the
// quantization modifier): each layer's weight scales from an observer (minmax, mse, percentile,
// kl), or GPTQ, which also rewrites the float weights onto the grid. Layers are processed one at
// a time, in model order; GPTQ collects each layer's Hessian with the layers before it already
// quantized (and inputs quantized as the runtime will), so it compensates what precedes it.
//
// Results live where the rest of qforge already looks: scales in the weight fake-quant module
// (static or LSQ), weights in the layer's parameters, so evaluation, `qforge export`, `validate`
// and QAT continuing from it work unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "calibrate/gptq.h"
#include "calibrate/weight_observer.h"
#include "train/models.h"
#include "train/task.h"

namespace qf::qat {

struct WeightPtqConfig {
  enum class Method { kObserver, kGptq };
  Method method = Method::kObserver;
  calibrate::WeightObserverOptions observer;  // the scales (GPTQ's too)
  calibrate::GptqOptions gptq;
  int64_t batches = 16;  // GPTQ: calibration batches per layer Hessian
  // GPTQ: the float weights written back into the layer (QAT's latent weights when training
  // follows): false, Ŵ on the grid; true, the sweep's error-updated weights before rounding
  // (GptqResult::updated), which quantize to the same Ŵ.
  bool latent_updated = false;
};

// "minmax" | "mse" | "percentile" | "kl" | "gptq"
const char* ptq_method_name(const WeightPtqConfig& c);

struct LayerPtqReport {
  std::string name;
  int64_t rows = 0, cols = 0;
  // GPTQ: ‖(W − Ŵ)X‖² / ‖WX‖² over the calibration inputs, for RTN (same scales rule) and GPTQ.
  double rtn_error = -1, gptq_error = -1;
  bool selected_mask = false;  // GPTQ chose the layer's N:M mask (one-shot pruning, SparseGPT)
};

// Runs on every layer of `model` whose weight slot holds a WeightFakeQuant with stored scales
// (static or LSQ). `progress`: one line per layer on stderr.
std::vector<LayerPtqReport> quantize_weights_post_training(train::ZooModel& model, train::Task& task,
                                                           const WeightPtqConfig& config, torch::Device device,
                                                           bool progress);

}  // namespace qf::qat
