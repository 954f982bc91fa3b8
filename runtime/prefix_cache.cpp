#include "runtime/prefix_cache.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/splitmix64.h"

namespace qf {
namespace {

constexpr uint64_t kRoot = 0x51f0c0ffee5eedull;  // the "parent" of block 0

}  // namespace

PrefixCache::PrefixCache(int64_t block_tokens, int64_t max_bytes) : block_(block_tokens), max_bytes_(max_bytes) {
  if (block_tokens < 1) throw Error("PrefixCache: block_tokens must be >= 1, got " + std::to_string(block_tokens));
  if (max_bytes < 0) throw Error("PrefixCache: max_bytes must be >= 0");
}

std::vector<uint64_t> PrefixCache::block_keys(const std::vector<int64_t>& ids) const {
  std::vector<uint64_t> keys;
  uint64_t h = kRoot;
  for (size_t b = 0; (b + 1) * static_cast<size_t>(block_) <= ids.size(); ++b) {
    for (int64_t i = 0; i < block_; ++i) h = splitmix64(h ^ static_cast<uint64_t>(ids[b * block_ + i]));
    keys.push_back(h);
  }
  return keys;
}

const PrefixCache::Entry* PrefixCache::find(uint64_t key, uint64_t parent, const int64_t* tokens) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.parent != parent) return nullptr;
  if (!std::equal(it->second.tokens.begin(), it->second.tokens.end(), tokens)) return nullptr;
  return &it->second;
}

void PrefixCache::touch(uint64_t key) {
  Entry& e = entries_.at(key);
  lru_.splice(lru_.begin(), lru_, e.lru);
}

void PrefixCache::evict_to(int64_t limit) {
  while (bytes_ > limit && !lru_.empty()) {
    auto it = entries_.find(lru_.back());
    bytes_ -= it->second.rows.bytes();
    entries_.erase(it);
    lru_.pop_back();
    ++evictions_;
  }
}

int64_t PrefixCache::restore(Session& session, const std::vector<int64_t>& ids) {
  if (session.position() != 0) throw Error("PrefixCache::restore: the session is not fresh");
  if (ids.empty()) return 0;
  // Whole blocks only, and never the prompt's last token.
  std::vector<int64_t> head(ids.begin(), ids.end() - 1);
  const std::vector<uint64_t> keys = block_keys(head);
  std::vector<const Entry*> hit;
  uint64_t parent = kRoot;
  for (size_t b = 0; b < keys.size(); ++b) {
    const Entry* e = find(keys[b], parent, ids.data() + b * block_);
    if (!e) break;
    hit.push_back(e);
    parent = keys[b];
  }
  for (const Entry* e : hit) session.append_kv_rows(e->rows);
  for (size_t b = hit.size(); b-- > 0;) touch(keys[b]);  // last block first: prefixes stay newer
  const int64_t n = static_cast<int64_t>(hit.size()) * block_;
  hit_tokens_ += n;
  return n;
}

void PrefixCache::insert(const Session& session, const std::vector<int64_t>& ids) {
  const int64_t len = session.position();
  if (len > static_cast<int64_t>(ids.size()))
    throw Error("PrefixCache::insert: the session holds " + std::to_string(len) + " tokens, the prompt has " +
                std::to_string(ids.size()));
  const std::vector<uint64_t> keys = block_keys(std::vector<int64_t>(ids.begin(), ids.begin() + len));
  uint64_t parent = kRoot;
  size_t stored = 0;
  for (size_t b = 0; b < keys.size(); ++b, ++stored) {
    const int64_t* tokens = ids.data() + b * block_;
    if (!find(keys[b], parent, tokens)) {
      if (entries_.count(keys[b])) break;  // a colliding entry holds this key: stop here
      Entry e;
      e.parent = parent;
      e.tokens.assign(tokens, tokens + block_);
      e.rows = session.kv_rows(static_cast<int64_t>(b) * block_, static_cast<int64_t>(b + 1) * block_);
      if (e.rows.bytes() > max_bytes_) break;  // a block larger than the whole cache
      bytes_ += e.rows.bytes();
      lru_.push_front(keys[b]);
      e.lru = lru_.begin();
      entries_.emplace(keys[b], std::move(e));
    }
    parent = keys[b];
  }
  for (size_t b = stored; b-- > 0;) touch(keys[b]);
  evict_to(max_bytes_);
}

std::vector<float> PrefixCache::run_prompt(Session& session, const std::string& input, const std::string& output,
                                           const std::vector<int64_t>& ids) {
  if (ids.empty()) throw Error("PrefixCache::run_prompt: empty prompt");
  int64_t pos = restore(session, ids);
  const int64_t n = static_cast<int64_t>(ids.size());
  Tensor logits;
  while (pos < n) {
    const int64_t end = std::min(n, (pos / block_ + 1) * block_);
    std::vector<int64_t> chunk(ids.begin() + pos, ids.begin() + end);
    logits = session.step({{input, Tensor::ids({1, end - pos}, std::move(chunk))}}).at(output);
    pos = end;
  }
  insert(session, ids);
  const int64_t v = logits.shape.back();
  return std::vector<float>(logits.f32.end() - v, logits.f32.end());
}

}  // namespace qf
