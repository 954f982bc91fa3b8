// An independent, naive float reference of a CheckpointContent: every op in plain loops
// (double accumulation), quantized layers applied as *fake quantization* with core/ rules
// (quantize-dequantize the input activation and the weight), exactly what the training side
// does. The runtime must agree with it up to float rounding.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"
#include "export/checkpoint_writer.h"

namespace qf::test {

struct ReferenceOptions {
  bool round_half_up = false;  // a deliberately wrong decoder: validate must catch it
};

// Runs the full graph from position 0. Quantized layers with quantized inputs compute the
// contract exactly (integer sums, float32 epilogue in the contract's order); the rest in double
// and rounded once. `trace` (optional) receives every op output.
std::map<std::string, Tensor> reference_run(const CheckpointContent& c, const std::map<std::string, Tensor>& inputs,
                                           const ReferenceOptions& opt = {},
                                           std::map<std::string, Tensor>* trace = nullptr);

}  // namespace qf::test
