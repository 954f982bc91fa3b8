// The std-only checkpoint writer. The LibTorch side (export/from_torch.cpp) fills a
// CheckpointContent with plain float tensors and schemes; this writer quantizes, packs and
// compresses them with the core/ rules and writes the HDF5 file specified in export/FORMAT.md.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/checkpoint_format.h"
#include "core/graph.h"
#include "core/quant_scheme.h"
#include "core/tensor.h"

namespace qf {

// The parameters of one graph op (by op name) and how they are stored.
struct LayerContent {
  std::string name;  // op name in the graph
  std::string kind;  // op kind, must equal the graph's

  // The op's "weight" parameter as trained (float32, BN already folded). linear [O, K],
  // conv2d [O, C/groups, kh, kw], embedding [V, D], layernorm [C], positional_embedding [T, D].
  // Leave empty (no shape) for ops without a weight.
  Tensor weight;
  // Quantized storage (linear, conv2d, embedding only). Absent: the weight is stored float32.
  // Quantized weights are the [O, K] matrix, K = prod(shape[1:]) in PyTorch order (c, kh, kw).
  std::optional<WeightScheme> weight_scheme;
  // Optional learned (e.g. LSQ) scales to use instead of ones computed from the data:
  // [1] (tensor), [O] (channel) or [O * K/group_size] row-major (group). Must be finite, > 0.
  std::vector<float> weight_scales;
  // "dense" or "N:M" (e.g. "2:4"): the weight must already be N:M along K (pruned); it is stored
  // compressed. Needs a weight_scheme.
  std::string sparsity = "dense";

  // How the runtime quantizes this layer's input (linear, conv2d only; conv2d: static only).
  ActScheme input_act;

  // Other float32 parameters by name: "bias" (linear, conv2d: [O]; layernorm: [C]).
  std::map<std::string, Tensor> extra;
};

struct CheckpointContent {
  Graph graph;
  std::vector<LayerContent> layers;
  std::vector<Golden> golden;                     // inputs + outputs (+ model outputs, trace)
  // What golden outputs are: "contract" (FORMAT.md's contract computed from exactly the stored
  // parameters, so validate demands bit equality on integer paths) or "model" (some other
  // computation of the model, e.g. a float forward: validate checks agreement only).
  std::string golden_reference = "model";
  std::map<std::string, std::string> provenance;  // git commit, recipe name, date, ...
  std::string recipe_yaml;
  std::string metrics_json;
};

// Validates the content (graph structure, layer/op match, shapes, schemes, N:M pattern, golden
// names and dtypes), quantizes and writes `path` atomically (`path`.tmp, then rename).
// Throws qf::Error naming the layer / tensor at fault; on error no file is left at `path`
// (an existing one is untouched).
void write_checkpoint(const std::string& path, const CheckpointContent& content);

}  // namespace qf
