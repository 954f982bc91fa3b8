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

// Runs the full graph from position 0.
std::map<std::string, Tensor> reference_run(const CheckpointContent& c, const std::map<std::string, Tensor>& inputs);

}  // namespace qf::test
