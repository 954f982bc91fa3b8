// A checkpoint as loaded and validated by the reader: plain host arrays, no HDF5 types.
// Every field here has been checked against the graph and the format rules (FORMAT.md) before
// the engine sees it, so kernels may index without further bounds checks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/block_sparse.h"
#include "core/graph.h"
#include "core/nm_sparse.h"
#include "core/quant_scheme.h"
#include "core/tensor.h"

namespace qf {

// kNMInt4 stores the kept N:M values nibble-packed; the reader unpacks them, so in memory it
// holds the same `codes` as kNMInt8.
// kBSInt8 / kBSInt4 (feature block_sparse): only the kept blocks are stored (core/block_sparse.h).
// kFp8E4M3 (feature fp8_e4m3): `packed` holds the [O, K] E4M3 bit patterns (no NaN).
enum class WeightFormat { kNone, kFloat32, kInt8, kInt4, kNMInt8, kNMInt4, kBSInt8, kBSInt4, kFp8E4M3 };
// As in FORMAT.md: none, float32, int8, int4, nm_int8, nm_int4, bs_int8, bs_int4, fp8_e4m3.
const char* weight_format_name(WeightFormat f);

struct LayerWeights {
  std::string name, kind;
  WeightFormat format = WeightFormat::kNone;
  std::vector<int64_t> shape;  // original weight shape (weight_shape attribute)
  int64_t rows = 0, cols = 0;  // the [O, K] matrix of a quantized weight
  int bits = 32;
  Granularity granularity = Granularity::kTensor;
  int64_t group_size = 0;
  bool full_range = false;      // code_range "full": codes in [-2^(b-1), 2^(b-1)-1] (int4 [-8, 7])
  bool sparse = false;
  NMPattern nm;                 // when sparse (N:M formats)
  BlockShape block;             // kBSInt8 / kBSInt4
  std::vector<int32_t> block_row_ptr, block_col;  // kBS*: BSR index arrays (core/block_sparse.h)
  std::vector<float> f32;       // kFloat32: weight in `shape`
  std::vector<int8_t> codes;    // kInt8: [O, K]; kNMInt8 / kNMInt4: values [O, K/M*N]; kBSInt8: blocks [nnzb, br, bc]
  std::vector<uint8_t> packed;  // kInt4: [O, ceil(K/2)]; kNMInt8 / kNMInt4: indices [O, row bytes];
                                // kBSInt4: blocks [nnzb, br, ceil(bc/2)]; kFp8E4M3: [O, K]
  std::vector<float> scales;    // [1] | [O] | [O, K/G]
  ActScheme input_act;
  std::map<std::string, Tensor> extra;  // bias, layernorm bias ... (float32)
  int64_t bytes_stored = 0;     // bytes of all datasets of this layer in the file
};

struct Checkpoint {
  std::string source;  // path (or "<memory>") for messages
  int64_t format_version = 0, format_minor = 0;
  std::vector<std::string> required_features;  // root attribute, every name known to this reader
  Graph graph;
  std::map<std::string, LayerWeights> layers;  // by op name
  std::vector<Golden> golden;
  // What golden outputs are (FORMAT.md, "Golden cases"): "contract" (the contract computed from
  // the stored parameters; bit-exact where the arithmetic is) or "model" (the trained model's
  // float forward; files before 1.2).
  std::string golden_reference = "model";
  std::map<std::string, std::string> provenance;
  std::string recipe_yaml;
  std::string metrics_json;
  int64_t file_bytes = 0;
};

}  // namespace qf
