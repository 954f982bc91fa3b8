// Continuous batching: many prompts through one target engine at once (`qforge generate
// --prompts FILE`). Up to `max_batch` sequences share one ragged session (Session::add_row):
// every decoding step runs one token for each of them, each row at its own position with its
// own KV-cache length. A waiting prompt joins between steps: it is prefilled alone in a batch-1
// session (exactly the step one-at-a-time generation runs), its first token chosen there, and
// its keys and values moved into the batch as a new row. A sequence leaves as soon as it
// stops: max_new_tokens reached, or it emitted one of its stop ids.
//
// Exactness: request i's tokens are generate()'s tokens for the same prompt and options
// (greedy: token for token; sampled: the same seed gives the same draws), because every kernel
// on the decoding path computes a row the same way whatever the other rows are: integer GEMMs
// and per-token activation quantization are row-wise, attention runs per row over that row's
// cache, and the x86 float GEMM takes its row-independent kernel for M <= 16 rows
// (generation.h). max_batch <= 16 therefore keeps the identity for float layers as well; past
// 16 rows float layers use Eigen's GEMM, which may round a row differently (integer-path models
// stay exact).
//
// The sliding window (options.context > 0) restarts a row the way generate() restarts: the row
// leaves, its last context / 2 tokens are prefilled alone, and it joins again.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/engine.h"
#include "runtime/prefix_cache.h"

namespace qf {

struct BatchRequest {
  std::vector<int64_t> prompt;
  int64_t max_new_tokens = 0;
  std::vector<int64_t> stop_ids;  // generation ends after emitting one of these (it is kept)
  uint64_t seed = 0;              // sampling (temperature > 0)
};

struct BatchOptions {
  int64_t max_batch = 16;  // sequences in flight at once
  double temperature = 0;  // 0: greedy
  int64_t context = 0;     // > 0: generate()'s sliding window; 0: none
  // Called with (request index, token) for each new token as soon as it is chosen, and with the
  // request index and its whole output when a request finishes (requests finish out of order).
  std::function<void(size_t, int64_t)> on_token;
  std::function<void(size_t, const std::vector<int64_t>&)> on_finish;
  // The prompts' prefill goes through this cache (PrefixCache::run_prompt), as generate() does.
  PrefixCache* prefix_cache = nullptr;
};

struct BatchStats {
  int64_t tokens = 0;        // generated, all requests
  int64_t steps = 0;         // batched decoding steps
  int64_t prefills = 0;      // batch-1 prompt (or window restart) steps
  int64_t row_steps = 0;     // sum over decoding steps of the rows they ran
  int64_t most_rows = 0;     // the largest batch a step ran
  double mean_rows() const { return steps ? static_cast<double>(row_steps) / static_cast<double>(steps) : 0.0; }
};

// The new tokens of every request, in request order. Throws qf::Error for an empty prompt, a
// prompt longer than the context, max_batch < 1, or a graph that is not a language model.
std::vector<std::vector<int64_t>> generate_batch(Engine& engine, const std::vector<BatchRequest>& requests,
                                                 const BatchOptions& options, BatchStats* stats = nullptr);

}  // namespace qf
