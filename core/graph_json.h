// qf::Graph <-> JSON, the graph's form inside a checkpoint (/graph, see export/FORMAT.md).
//
//   {"family": "cnn",
//    "inputs":  [{"name": "x", "dtype": "float32", "shape": [-1, 1, 28, 28]}],
//    "outputs": ["logits"],
//    "ops": [{"kind": "conv2d", "name": "conv1", "inputs": ["x"], "outputs": ["conv1"],
//             "ints": {"kernel": [3, 3]}, "floats": {}, "strings": {}}, ...]}
//
// Unknown keys are ignored (later minor format versions may add some); known keys must have the
// right type.
#pragma once

#include <string>

#include "core/graph.h"
#include "core/json.h"

namespace qf {

Json graph_to_json(const Graph& g);
std::string graph_to_json_string(const Graph& g);

// Parses and validates (validate_graph). Throws qf::Error naming the op / key at fault.
Graph graph_from_json(const Json& j);
Graph graph_from_json_string(const std::string& text);

// Structural checks: op names unique and non-empty; every op input is a graph input or an output
// of an earlier op; every tensor is produced once (no name shared with a graph input); graph
// outputs exist; input dtypes are float32/int64 and dims are > 0 or -1 (dynamic).
// Names must not contain '/' (they become HDF5 group names). Throws qf::Error.
void validate_graph(const Graph& g);

}  // namespace qf
