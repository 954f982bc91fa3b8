// The quantization contract of export/FORMAT.md, computed by a second, independent
// implementation: an interpreter of the checkpoint graph written with LibTorch ops, fed exactly
// the parameters the checkpoint writer stores (weights quantized with the same core/ call and the
// same scales, so its codes are the stored codes).
//
// Its outputs are the golden outputs of a checkpoint. The runtime's integer kernels must
// reproduce them bit for bit wherever every op on the path is exact (integer GEMMs with their
// documented float32 epilogues, relu, pooling, flatten, add, embedding lookups), and op by op
// elsewhere: every op output is kept in the trace, so an op fed the traced input can be checked
// on its own.
//
// The integer part is exact by construction, not by imitation of the runtime's loop order: the
// GEMM over codes runs in float64, where every partial sum is an integer far below 2^53.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"
#include "export/checkpoint_writer.h"

namespace qf::exporter {

// How activation codes round x / s. The contract says half to even; kHalfUp (floor(v + 0.5))
// exists only so that tests can prove the exact comparisons catch a wrong rounding mode.
enum class ContractRounding { kHalfEven, kHalfUp };

struct ContractOptions {
  ContractRounding rounding = ContractRounding::kHalfEven;
  bool keep_trace = true;  // keep every op output (float32) by tensor name
};

struct ContractResult {
  std::map<std::string, Tensor> outputs;  // graph outputs by name
  std::map<std::string, Tensor> trace;    // every op output by tensor name (graph outputs too)
};

// Runs `content.graph` on `inputs` (by graph input name) with the parameters of
// `content.layers`. Throws qf::Error naming the op on anything it cannot compute (unknown kind,
// missing parameters, a quantization the format does not define).
ContractResult run_contract(const CheckpointContent& content, const std::map<std::string, Tensor>& inputs,
                            const ContractOptions& options = {});

}  // namespace qf::exporter
