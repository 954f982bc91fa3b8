// Prompt prefix cache: the keys and values of whole blocks of prompt tokens, reused by later
// prompts that start with the same tokens (a shared system prompt, few-shot examples).
//
// A prompt is cut into blocks of `block_tokens`; block i's key is a hash chained over blocks
// 0..i (key_i = H(key_{i-1}, tokens of block i)), so equal keys mean equal whole prefixes, not
// just an equal block. Each entry also keeps its tokens and its parent's key and is checked
// against them on lookup, so a hash collision is a miss, never wrong KV rows. Entries are the
// KvRows of one engine (Session::kv_rows), as its caches store them (float rows, or the packed
// codes + scales of an int4/int8 KV cache, copied byte for byte): a cache serves one Engine
// (one model) only.
//
// Memory is bounded by `max_bytes` (the KV rows' bytes) with least-recently-used eviction. A
// prompt's blocks are touched last block first, so a prefix is always more recent than any of
// its continuations: eviction takes leaves before the blocks they hang from and never leaves an
// unreachable block behind.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/engine.h"
#include "runtime/kv_rows.h"

namespace qf {

class PrefixCache {
 public:
  PrefixCache(int64_t block_tokens, int64_t max_bytes);

  // Appends to `session` (fresh: position 0) the longest cached run of whole blocks that starts
  // `ids`, leaving at least the last token of `ids` to be run (its logits are what the caller
  // needs). Returns the number of tokens restored (a multiple of block_tokens).
  int64_t restore(Session& session, const std::vector<int64_t>& ids);
  // Stores the whole blocks of ids[0, session.position()) that are not cached yet. The session
  // must have processed exactly ids[0, position()) from position 0.
  void insert(const Session& session, const std::vector<int64_t>& ids);

  // A whole prompt through a fresh session with the cache: restore the cached prefix, run the
  // rest in chunks that end on block boundaries (at most block_tokens each), store the new
  // blocks. Returns the last token's logits [V]. Chunking is what makes a hit exact for float
  // models too: with block_tokens <= 16 every row takes the x86 float GEMM's row-independent
  // small-M kernel, so cold and warm runs compute each row the same way.
  std::vector<float> run_prompt(Session& session, const std::string& input, const std::string& output,
                                const std::vector<int64_t>& ids);

  int64_t block_tokens() const { return block_; }
  int64_t bytes() const { return bytes_; }
  int64_t max_bytes() const { return max_bytes_; }
  size_t blocks() const { return entries_.size(); }
  int64_t hit_tokens() const { return hit_tokens_; }  // restored by restore(), in all
  int64_t evictions() const { return evictions_; }
  // Chained key of each whole block of `ids` (exposed for tests).
  std::vector<uint64_t> block_keys(const std::vector<int64_t>& ids) const;

 private:
  struct Entry {
    uint64_t parent = 0;
    std::vector<int64_t> tokens;
    KvRows rows;
    std::list<uint64_t>::iterator lru;
  };
  const Entry* find(uint64_t key, uint64_t parent, const int64_t* tokens) const;
  void touch(uint64_t key);
  void evict_to(int64_t limit);

  int64_t block_, max_bytes_;
  int64_t bytes_ = 0, hit_tokens_ = 0, evictions_ = 0;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> lru_;  // front: most recently used
};

}  // namespace qf
