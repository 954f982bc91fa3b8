// The KV cache's size per token, from the checkpoint alone (for `qforge inspect`; `generate`
// reports the live caches' KvCache::bytes_per_token, which agree): every attention op's row
// width C (K = V = C values per token) from the linear that produces its keys, and its storage:
// float32 (the runtime's float cache), or codes + fp16 scales (+ offsets) (kv_cache_int4).
#pragma once

#include <cstdint>

#include "runtime/checkpoint.h"

namespace qf {

struct KvCacheSize {
  int64_t attention_ops = 0;
  int64_t quantized_ops = 0;
  int64_t bytes_per_token = 0;       // K and V of every attention op, one sequence, as stored
  int64_t fp16_bytes_per_token = 0;  // the same cache in fp16 (the usual deployment baseline)
  bool known = true;                 // false when an op's row width could not be traced
};

KvCacheSize kv_cache_size(const Checkpoint& ck);

}  // namespace qf
