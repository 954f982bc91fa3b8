#include "runtime/inspect.h"

#include <cstdio>

#include "core/op_schema.h"
#include "core/quant_scheme.h"
#include "runtime/kv_cache_size.h"

namespace qf {

InspectSummary inspect(const Checkpoint& ck) {
  InspectSummary s;
  s.source = ck.source;
  s.format_version = ck.format_version;
  s.format_minor = ck.format_minor;
  s.family = ck.graph.family;
  std::vector<std::string> names;  // layers in graph order, an op's sub-layers (expert linears) after it
  for (const Op& op : ck.graph.ops) {
    names.push_back(op.name);
    for (const Op& sub : sub_layer_ops(op)) names.push_back(sub.name);
  }
  for (const std::string& name : names) {
    auto it = ck.layers.find(name);
    if (it == ck.layers.end()) continue;
    const LayerWeights& L = it->second;
    LayerSummary l;
    l.name = L.name;
    l.kind = L.kind;
    l.shape = L.shape;
    // "int4 (full)": codes in [-8, 7] (feature int4_full_range).
    l.weight_format = std::string(weight_format_name(L.format)) + (L.full_range ? " (full)" : "");
    l.bits = L.bits;
    l.granularity = granularity_name(L.granularity);
    l.group_size = L.group_size;
    l.sparsity = !L.sparse ? "dense" : (L.format == WeightFormat::kBSInt8 || L.format == WeightFormat::kBSInt4) ? L.block.str() : L.nm.str();
    l.act_mode = act_mode_name(L.input_act.mode);
    l.params = shape_numel(L.shape);
    l.bytes_stored = L.bytes_stored;
    s.total_params += l.params;
    s.total_bytes += l.bytes_stored;
    s.layers.push_back(l);
  }
  s.file_bytes = ck.file_bytes;
  if (s.total_params > 0 && s.total_bytes > 0) {
    s.bits_per_weight = 8.0 * static_cast<double>(s.total_bytes) / static_cast<double>(s.total_params);
    s.ratio_vs_float32 = 4.0 * static_cast<double>(s.total_params) / static_cast<double>(s.total_bytes);
    s.ratio_vs_float16 = 2.0 * static_cast<double>(s.total_params) / static_cast<double>(s.total_bytes);
  }
  const KvCacheSize kv = kv_cache_size(ck);
  if (kv.known) {
    s.kv_attention_ops = kv.attention_ops;
    s.kv_quantized_ops = kv.quantized_ops;
    s.kv_bytes_per_token = kv.bytes_per_token;
    s.kv_fp16_bytes_per_token = kv.fp16_bytes_per_token;
  }
  s.num_golden = static_cast<int>(ck.golden.size());
  s.golden_reference = ck.golden_reference;
  s.has_trace = !ck.golden.empty() && !ck.golden[0].trace.empty();
  s.required_features = ck.required_features;
  s.provenance = ck.provenance;
  s.metrics_json = ck.metrics_json;
  s.recipe_yaml = ck.recipe_yaml;
  return s;
}

std::string InspectSummary::to_text() const {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s: qforge format %lld.%lld, family '%s', %d golden case(s), %lld bytes\n",
                source.c_str(), static_cast<long long>(format_version), static_cast<long long>(format_minor),
                family.c_str(), num_golden, static_cast<long long>(file_bytes));
  out += buf;
  std::string features;
  for (const std::string& f : required_features) features += (features.empty() ? "" : ", ") + f;
  std::snprintf(buf, sizeof buf, "required features: %s; golden outputs: %s%s%s%s\n",
                features.empty() ? "none" : features.c_str(), golden_reference.c_str(),
                has_trace ? ", with a per-op trace" : "", kernels.empty() ? "" : "; kernels: ",
                kernels.c_str());
  out += buf;
  std::snprintf(buf, sizeof buf, "%-28s %-20s %-18s %-12s %4s %-12s %-6s %-18s %10s %10s\n", "layer", "kind", "shape",
                "format", "bits", "granularity", "sparse", "input act", "params", "bytes");
  out += buf;
  for (const LayerSummary& l : layers) {
    std::string shape = shape_str(l.shape);
    std::string gran = l.granularity + (l.group_size ? "/" + std::to_string(l.group_size) : "");
    std::snprintf(buf, sizeof buf, "%-28s %-20s %-18s %-12s %4d %-12s %-6s %-18s %10lld %10lld\n", l.name.c_str(),
                  l.kind.c_str(), shape.c_str(), l.weight_format.c_str(), l.bits, gran.c_str(), l.sparsity.c_str(),
                  l.act_mode.c_str(), static_cast<long long>(l.params), static_cast<long long>(l.bytes_stored));
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "total: %lld weights in %lld bytes = %.2f bits/weight (%.2fx smaller than float32, %.2fx than float16)\n",
                static_cast<long long>(total_params), static_cast<long long>(total_bytes), bits_per_weight,
                ratio_vs_float32, ratio_vs_float16);
  out += buf;
  if (kv_attention_ops > 0 && kv_fp16_bytes_per_token > 0) {
    std::snprintf(buf, sizeof buf,
                  "KV cache: %lld bytes/token (%lld of %lld attention ops quantized), %.4fx of an fp16 cache "
                  "(%lld bytes/token)\n",
                  static_cast<long long>(kv_bytes_per_token), static_cast<long long>(kv_quantized_ops),
                  static_cast<long long>(kv_attention_ops),
                  static_cast<double>(kv_bytes_per_token) / static_cast<double>(kv_fp16_bytes_per_token),
                  static_cast<long long>(kv_fp16_bytes_per_token));
    out += buf;
  }
  return out;
}

}  // namespace qf
