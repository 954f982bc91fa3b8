// Token generation with a language-model checkpoint (graph input: token ids [B, T]; output:
// logits [B, T, V]) through the runtime's sessions, batch 1 (many prompts at once:
// runtime/batch_generation.h):
//
//   plain        one target step per token (the prompt in one step first);
//   speculative  a draft model proposes k tokens one at a time, the target scores all of them in
//                one step over the pending tokens + k positions, the longest agreeing run is kept
//                and both KV caches are rolled back (Session::truncate) past it. Greedy: the
//                output is token for token the plain greedy output (the target's argmax decides
//                every token). Sampled: the accept/reject rule of runtime/sampling.h, so every
//                token is distributed as the target's tempered softmax.
//
// Sliding window (GenerateOptions::context > 0, the text path of `qforge generate`): when the
// next prediction would need more than `context` tokens in the cache, both sessions restart on
// the last context / 2 tokens. Speculative rounds never cross such a restart, so the target sees
// exactly the windows the plain loop sees.
//
// Exactness: the greedy identity needs the target's logits for a position not to depend on how
// many positions one step runs. The prompt (and a window restart) therefore runs alone, exactly
// as in the plain loop, and each verification step then runs 1 + k positions; the integer GEMMs,
// attention, norms and elementwise kernels compute rows independently, and the x86 float GEMM
// uses a row-independent kernel for M <= 16 (Eigen's GEMV and GEMM round differently), so
// k <= 15 keeps speculative greedy output bit-identical to plain greedy output on those tables.
// (Another backend's float GEMM, e.g. CUDA's, must give the same guarantee for the same claim.)
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "runtime/engine.h"
#include "runtime/prefix_cache.h"

namespace qf {

struct GenerateOptions {
  int64_t max_new_tokens = 0;
  double temperature = 0;  // 0: greedy
  uint64_t seed = 0;
  int64_t context = 0;     // > 0: the sliding window above; 0: none (the graph's own limits apply)
  std::function<void(int64_t)> on_token;  // called with each new token as soon as it is final
  std::vector<int64_t> stop_ids;          // generation ends after emitting one of these (it is kept)
  // Plain generation only: the prompt goes through this cache (PrefixCache::run_prompt): its
  // cached prefix is restored, its new blocks stored. Must belong to the same target engine.
  PrefixCache* prefix_cache = nullptr;
};

struct GenerateStats {
  int64_t tokens = 0;        // generated
  int64_t target_steps = 0;  // Session::step calls on the target
  int64_t draft_steps = 0;   // ... and on the draft
  int64_t rounds = 0;        // speculative rounds that drafted at least one token
  int64_t drafted = 0;       // draft tokens proposed
  int64_t accepted = 0;      // ... of which the target accepted
  double acceptance() const { return drafted ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0; }
};

// The token plain generation (and continuous batching, runtime/batch_generation.h) picks from one
// position's logits: the argmax for temperature <= 0, else a draw from softmax(logits /
// temperature) (qforge generate's sampler since its first version: same seed, same text).
int64_t pick_token(const float* logits, int64_t vocab, double temperature, std::mt19937_64& rng);

// The positional table's length (the graph's context), or 0 when the graph has none (rotary).
int64_t positional_context(const Engine& engine);

// Returns the new tokens only. Throws qf::Error for an empty prompt, a graph that is not a
// language model, or (speculative) a draft whose vocabulary differs from the target's.
std::vector<int64_t> generate(Engine& target, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                              GenerateStats* stats = nullptr);
std::vector<int64_t> generate_speculative(Engine& target, Engine& draft, int64_t k, const std::vector<int64_t>& prompt,
                                          const GenerateOptions& options, GenerateStats* stats = nullptr);

}  // namespace qf
