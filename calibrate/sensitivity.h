// Per-layer sensitivity: quantize one layer's weights at a time (every other layer float) in each
// candidate format, and measure on calibration batches how much the loss rises and how far the
// output distribution moves from the float model's (KL(float || quantized), mean per output row).
// The table ranks layers for mixed precision (precision_budget.h).
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "calibrate/weight_observer.h"
#include "core/quant_scheme.h"
#include "train/layers.h"
#include "train/models.h"
#include "train/task.h"

namespace qf::calibrate {

struct SensitivityFormat {
  std::string name;                    // e.g. "w4g32", "w8", "float"
  std::optional<WeightScheme> scheme;  // none: float
};

// The format a layer with `cols` inputs really gets: a group size that does not divide K falls
// back to per-channel scales (named e.g. "w4c").
SensitivityFormat format_for_layer(const SensitivityFormat& f, int64_t cols);

// Storage of a [rows, cols] weight in `f`: codes plus float32 scales (float: 32 bits a weight).
int64_t weight_storage_bits(const SensitivityFormat& f, int64_t rows, int64_t cols);

struct LayerSensitivity {
  std::string name, kind;
  int64_t rows = 0, cols = 0;
  std::vector<std::string> format;  // per candidate format, as applied to this layer
  std::vector<int64_t> bits;        // per format
  std::vector<double> delta_loss;   // per format: loss(quantized) - loss(float)
  std::vector<double> kl;           // per format: mean KL(float || quantized) over output rows
};

struct SensitivityResult {
  double float_loss = 0;
  std::vector<LayerSensitivity> layers;
};

// `layers`: those to measure, in model order (their weight slots must be empty: the model is float).
SensitivityResult measure_sensitivity(train::ZooModel& model, train::Task& task,
                                      const std::vector<std::shared_ptr<train::QuantizableLayer>>& layers,
                                      const std::vector<SensitivityFormat>& formats,
                                      const WeightObserverOptions& observer, int64_t batches, torch::Device device,
                                      bool progress);

}  // namespace qf::calibrate
