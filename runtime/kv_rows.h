// A copy of some tokens' keys and values from a session, every attention op's, for batch
// element 0, kept in the backend's memory: what the prefix cache stores per block of prompt
// tokens and hands back to a later session (Session::kv_rows / Session::append_kv_rows).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/buffer.h"

namespace qf {

struct KvRows {
  struct Layer {
    size_t op = 0;     // the attention op's index in the graph (RunState::kv's key)
    int64_t c = 0;     // channels per token (C of K, and of V)
    Buffer k, v;       // [tokens, c] floats each
  };
  int64_t tokens = 0;
  std::vector<Layer> layers;
  int64_t bytes() const {
    int64_t n = 0;
    for (const Layer& l : layers) n += 2 * tokens * l.c * static_cast<int64_t>(sizeof(float));
    return n;
  }
};

}  // namespace qf
