#include "runtime/kv_cache_size.h"

#include <map>

#include "core/kv_cache_attrs.h"

namespace qf {
namespace {

// Row width of the tensor `name`: walk back through shape-preserving ops to the linear that
// produced it (its weight is [out, in]). 0 when unknown.
int64_t row_width(const Checkpoint& ck, const std::map<std::string, const Op*>& producer, std::string name) {
  for (int hops = 0; hops < 16; ++hops) {
    auto it = producer.find(name);
    if (it == producer.end()) return 0;
    const Op& op = *it->second;
    if (op.kind == "linear") {
      auto L = ck.layers.find(op.name);
      return L == ck.layers.end() || L->second.shape.empty() ? 0 : L->second.shape[0];
    }
    if ((op.kind != "rotary_embedding" && op.kind != "rms_norm" && op.kind != "scale") || op.inputs.empty()) return 0;
    name = op.inputs[0];
  }
  return 0;
}

}  // namespace

KvCacheSize kv_cache_size(const Checkpoint& ck) {
  KvCacheSize s;
  std::map<std::string, const Op*> producer;
  for (const Op& op : ck.graph.ops)
    for (const std::string& o : op.outputs) producer[o] = &op;
  for (const Op& op : ck.graph.ops) {
    int64_t c = 0;
    if (op.kind == "causal_attention" && !op.inputs.empty()) c = row_width(ck, producer, op.inputs[0]) / 3;
    else if (op.kind == "gqa_attention" && op.inputs.size() == 3) c = row_width(ck, producer, op.inputs[1]);
    else continue;
    ++s.attention_ops;
    if (c <= 0) {
      s.known = false;
      continue;
    }
    s.fp16_bytes_per_token += 2 * c * 2;
    std::optional<KvCacheScheme> q;
    try {
      q = read_kv_cache_attrs(op);
    } catch (...) {  // the reader already refused inconsistent attributes
    }
    if (q && q->group_size > 0 && c % q->group_size == 0) {
      ++s.quantized_ops;
      s.bytes_per_token += 2 * kv_row_bytes(c, q->group_size, *q);
    } else {
      s.bytes_per_token += 2 * c * 4;
    }
  }
  return s;
}

}  // namespace qf
