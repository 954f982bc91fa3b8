// `qforge inspect`: what a checkpoint holds and how small it is.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/checkpoint.h"

namespace qf {

struct LayerSummary {
  std::string name, kind;
  std::vector<int64_t> shape;   // original weight shape
  std::string weight_format;    // float32 | int8 | int4 | nm_int8 ...; " (full)" for code_range full
  int bits = 32;
  std::string granularity;      // tensor | channel | group
  int64_t group_size = 0;
  std::string sparsity;         // dense | N:M
  std::string act_mode;         // none | static | dynamic_per_token
  int64_t params = 0;           // weight elements
  int64_t bytes_stored = 0;     // all datasets of the layer (weight, scales, indices, bias)
};

struct InspectSummary {
  std::string source;
  int64_t format_version = 0, format_minor = 0;
  std::string family;
  std::vector<LayerSummary> layers;  // in graph order
  int64_t total_params = 0;
  int64_t total_bytes = 0;           // sum of layers' bytes_stored
  int64_t file_bytes = 0;
  double bits_per_weight = 0;        // 8 * total_bytes / total_params
  double ratio_vs_float32 = 0;       // 4 * total_params / total_bytes
  double ratio_vs_float16 = 0;       // 2 * total_params / total_bytes
  int num_golden = 0;
  std::string golden_reference;            // contract | model
  bool has_trace = false;
  std::vector<std::string> required_features;
  std::string kernels;                     // the kernel table that would run it (set by the caller)
  // KV cache per token of one sequence (runtime/kv_cache_size.h); 0 ops: no attention.
  int64_t kv_attention_ops = 0, kv_quantized_ops = 0, kv_bytes_per_token = 0, kv_fp16_bytes_per_token = 0;
  std::map<std::string, std::string> provenance;
  std::string metrics_json;
  std::string recipe_yaml;

  std::string to_text() const;  // a table for the CLI
};

InspectSummary inspect(const Checkpoint& ck);

}  // namespace qf
