// A copy of some tokens' keys and values of one sequence (one batch row of a session), every
// attention op's, kept in the backend's memory exactly as the cache stores them: float rows, or
// the packed codes and fp16 scales (+ offsets) of a quantized cache (kv_cache_int4), copied
// byte for byte, so rows put back into a session are the very bits a cold run would hold.
// What the prefix cache stores per block of prompt tokens (Session::kv_rows /
// Session::append_kv_rows) and how continuous batching moves a prefilled prompt into the batch
// (Session::add_row).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/buffer.h"
#include "runtime/kernels/kernels.h"

namespace qf {

struct KvRows {
  struct Layer {
    size_t op = 0;             // the attention op's index in the graph (RunState::kv's key)
    int64_t c = 0;             // channels per token (C of K, and of V)
    bool quantized = false;    // packed rows of this scheme (else float rows)
    kernels::KvQuant q;
    // KvCache::parts() order: float: K, V ([tokens, c] floats); quantized: K codes, V codes,
    // K scales, V scales (+ K offsets, V offsets when asymmetric), each [tokens, row bytes].
    std::vector<Buffer> parts;
    std::vector<int64_t> row_bytes;  // per part
  };
  int64_t tokens = 0;
  std::vector<Layer> layers;
  int64_t bytes() const {
    int64_t n = 0;
    for (const Layer& l : layers)
      for (int64_t rb : l.row_bytes) n += tokens * rb;
    return n;
  }
};

}  // namespace qf
