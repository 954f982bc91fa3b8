// The model graph: ops in topological order over named tensors. Model zoo (train/) produces it,
// the exporter writes it into the checkpoint as JSON, the runtime executes it. Std-only.
//
// Op kinds and their contract (inputs, parameters stored under /layers/<op.name>, attributes) are
// listed in export/FORMAT.md, "Ops". New kinds (moe_router, kv-cache quantization, fp8 linears)
// are added as new `kind` strings with their own attributes; readers reject kinds they don't know.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace qf {

struct TensorSpec {
  std::string name;
  std::string dtype;            // "float32" or "int64" (token ids)
  std::vector<int64_t> shape;   // -1 marks a dynamic dimension (batch, sequence length)
};

struct Op {
  std::string kind;   // "linear", "conv2d", "relu", ...
  std::string name;   // stable layer name ("features.0.conv"); its parameters live under it
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, std::vector<int64_t>> ints;
  std::map<std::string, double> floats;
  std::map<std::string, std::string> strings;

  int64_t int_attr(const std::string& key, int64_t fallback) const {
    auto it = ints.find(key);
    return it == ints.end() || it->second.empty() ? fallback : it->second.front();
  }
  double float_attr(const std::string& key, double fallback) const {
    auto it = floats.find(key);
    return it == floats.end() ? fallback : it->second;
  }
};

// Whether `t` can be fed as graph input `spec`: same dtype, same rank, every dimension > 0 and
// equal to the spec's unless the spec says -1, and as many values as the shape holds. Returns ""
// when it can, else what is wrong (callers add where). The one check of the writer's golden
// inputs, the reader's and the executor's run inputs.
std::string check_input(const TensorSpec& spec, const Tensor& t);

struct Graph {
  std::string family;                 // "mlp", "cnn", "gpt"
  std::vector<TensorSpec> inputs;
  std::vector<std::string> outputs;
  std::vector<Op> ops;
};

}  // namespace qf
