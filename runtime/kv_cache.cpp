#include "runtime/kv_cache.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/kv_quant.h"

namespace qf {

void KvCache::set_quantization(const kernels::KvQuant& q) {
  if (quantized_ && q.bits == q_.bits && q.group == q_.group && q.symmetric == q_.symmetric && q.clip == q_.clip &&
      q.int_zero_point == q_.int_zero_point)
    return;
  if (cap_ > 0) throw Error("KV cache: the quantization is set before the first token");
  quantized_ = true;
  q_ = q;
}

int64_t KvCache::code_bytes() const { return q_.group > 0 ? kv_row_code_bytes(c_, q_.group, kv_scheme()) : 0; }
int64_t KvCache::scale_count() const { return q_.group > 0 ? c_ / q_.group : 0; }
bool KvCache::fp16_offsets() const { return !q_.symmetric && !q_.int_zero_point; }

KvCacheScheme KvCache::kv_scheme() const {
  KvCacheScheme s;
  s.bits = q_.bits;
  s.group_size = q_.group;
  s.symmetric = q_.symmetric;
  s.clip = q_.clip;
  s.int_zero_point = q_.int_zero_point;
  return s;
}

int64_t KvCache::bytes_per_token() const {
  if (!quantized_) return 2 * c_ * static_cast<int64_t>(sizeof(float));
  return 2 * (code_bytes() + scale_count() * 2 * (fp16_offsets() ? 2 : 1));
}

int64_t KvCache::free_slot() const {
  for (int64_t s = 0;; ++s)
    if (std::find(slot_.begin(), slot_.end(), s) == slot_.end()) return s;
}

int64_t KvCache::longest() const {
  int64_t n = 0;
  for (int64_t l : len_) n = std::max(n, l);
  return n;
}

int64_t KvCache::bytes() const {
  int64_t n = 0;
  for (int64_t l : len_) n += l;
  return n * bytes_per_token();
}

kernels::QuantKvRows KvCache::rows(const Buffer& codes, const Buffer& scales, const Buffer& offsets, int64_t b) const {
  kernels::QuantKvRows r;
  const int64_t s = slot(b);
  r.codes = static_cast<const uint8_t*>(codes.data()) + s * cap_ * code_bytes();
  r.scales = static_cast<const uint16_t*>(scales.data()) + s * cap_ * scale_count();
  r.offsets = fp16_offsets() ? static_cast<const uint16_t*>(offsets.data()) + s * cap_ * scale_count() : nullptr;
  r.code_stride = code_bytes();
  r.zero_at = q_.int_zero_point ? kv_code_bytes(c_, q_.bits) : 0;
  r.scale_stride = scale_count();
  r.q = q_;
  return r;
}

std::vector<std::pair<Buffer*, int64_t>> KvCache::parts() {
  if (!quantized_) return {{&k_, c_ * 4}, {&v_, c_ * 4}};
  std::vector<std::pair<Buffer*, int64_t>> p = {
      {&k_, code_bytes()}, {&v_, code_bytes()}, {&ks_, scale_count() * 2}, {&vs_, scale_count() * 2}};
  if (fp16_offsets()) p.insert(p.end(), {{&ko_, scale_count() * 2}, {&vo_, scale_count() * 2}});
  return p;
}

std::vector<std::pair<const Buffer*, int64_t>> KvCache::parts() const {
  std::vector<std::pair<const Buffer*, int64_t>> p;
  for (auto [buf, row] : const_cast<KvCache*>(this)->parts()) p.emplace_back(buf, row);
  return p;
}

void KvCache::init(int64_t c) {
  c_ = c;
  if (quantized_ && (q_.group <= 0 || c_ % q_.group != 0))
    throw Error("KV cache: group " + std::to_string(q_.group) + " does not divide the row of " + std::to_string(c_));
}

void KvCache::reserve(const kernels::KernelTable& kt, int64_t rows, int64_t tokens) {
  if (tokens <= cap_ && rows <= batch_cap_) return;
  const int64_t cap = tokens <= cap_ ? cap_ : std::max<int64_t>({tokens, 2 * cap_, 16});
  const int64_t bcap = rows <= batch_cap_ ? batch_cap_ : std::max<int64_t>({rows, 2 * batch_cap_, 1});
  for (auto [buf, row] : parts()) {
    Buffer grown(*kt.memory);
    grown.reserve(static_cast<size_t>(bcap * cap * row));
    for (int64_t b = 0; b < batch_; ++b)  // every row keeps its slot
      if (len_[static_cast<size_t>(b)] > 0)
        kt.memory->copy(static_cast<char*>(grown.data()) + slot(b) * cap * row,
                        static_cast<const char*>(buf->data()) + slot(b) * cap_ * row,
                        static_cast<size_t>(len_[static_cast<size_t>(b)] * row));
    *buf = std::move(grown);
  }
  cap_ = cap;
  batch_cap_ = bcap;
}

void KvCache::append(const kernels::KernelTable& kt, int64_t batch, int64_t t, int64_t c, const float* k_src,
                     const float* v_src, int64_t src_stride, int64_t batch_stride) {
  if (batch_ == 0 && cap_ == 0) {
    init(c);
    batch_ = batch;
    len_.assign(static_cast<size_t>(batch), 0);
    slot_.resize(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) slot_[static_cast<size_t>(b)] = b;
  }
  if (batch != batch_ || c != c_)
    throw Error("KV cache: a step of " + std::to_string(batch) + " rows x " + std::to_string(c) +
                " channels for a cache of " + std::to_string(batch_) + " x " + std::to_string(c_));
  reserve(kt, batch_, longest() + t);
  for (int64_t b = 0; b < batch_; ++b) {
    const int64_t row0 = slot(b) * cap_ + len_[static_cast<size_t>(b)];
    len_[static_cast<size_t>(b)] += t;
    if (!quantized_) {
      kt.copy_rows(k_src + b * batch_stride, src_stride, t, c_, k_.f32() + row0 * c_, c_);
      kt.copy_rows(v_src + b * batch_stride, src_stride, t, c_, v_.f32() + row0 * c_, c_);
      continue;
    }
    const int64_t cb = code_bytes(), sc = scale_count();
    auto* off_k = fp16_offsets() ? static_cast<uint16_t*>(ko_.data()) + row0 * sc : nullptr;
    auto* off_v = fp16_offsets() ? static_cast<uint16_t*>(vo_.data()) + row0 * sc : nullptr;
    kt.quantize_kv_rows(k_src + b * batch_stride, t, src_stride, c_, q_, static_cast<uint8_t*>(k_.data()) + row0 * cb,
                        cb, static_cast<uint16_t*>(ks_.data()) + row0 * sc, off_k, sc);
    kt.quantize_kv_rows(v_src + b * batch_stride, t, src_stride, c_, q_, static_cast<uint8_t*>(v_.data()) + row0 * cb,
                        cb, static_cast<uint16_t*>(vs_.data()) + row0 * sc, off_v, sc);
  }
}

void KvCache::truncate(int64_t len) {
  for (int64_t l : len_)
    if (len < 0 || len > l)
      throw Error("KvCache::truncate: length " + std::to_string(len) + " outside [0, " + std::to_string(l) + "]");
  for (int64_t& l : len_) l = len;
}

KvRows::Layer KvCache::rows_out(const kernels::KernelTable& kt, size_t op, int64_t b, int64_t t0, int64_t t) const {
  if (b < 0 || b >= batch_ || t0 < 0 || t < 0 || t0 + t > len_[static_cast<size_t>(b)])
    throw Error("KvCache::rows_out: tokens [" + std::to_string(t0) + ", " + std::to_string(t0 + t) + ") of batch row " +
                std::to_string(b) + " outside the cache (" + std::to_string(length(b)) + " tokens)");
  KvRows::Layer l;
  l.op = op;
  l.c = c_;
  l.quantized = quantized_;
  l.q = q_;
  for (auto [buf, row] : parts()) {
    Buffer out(*kt.memory);
    out.reserve(static_cast<size_t>(std::max<int64_t>(t, 1) * row));
    if (t > 0)
      kt.memory->copy(out.data(), static_cast<const char*>(buf->data()) + (slot(b) * cap_ + t0) * row,
                      static_cast<size_t>(t * row));
    l.parts.push_back(std::move(out));
    l.row_bytes.push_back(row);
  }
  return l;
}

void KvCache::append_rows(const kernels::KernelTable& kt, int64_t b, const KvRows::Layer& rows, int64_t tokens) {
  if (rows.quantized) set_quantization(rows.q);  // the same scheme again is a no-op; another one throws
  else if (quantized_) throw Error("KV cache: float rows for a quantized cache");
  if (batch_ == 0 && cap_ == 0) init(rows.c);
  if (rows.c != c_)
    throw Error("KV cache: rows of " + std::to_string(rows.c) + " channels for a cache of " + std::to_string(c_));
  if (b < 0 || b > batch_)
    throw Error("KV cache: no batch row " + std::to_string(b) + " (the cache has " + std::to_string(batch_) + ")");
  const auto ps = parts();
  if (rows.parts.size() != ps.size() || rows.row_bytes.size() != ps.size())
    throw Error("KV cache: rows of another storage (" + std::to_string(rows.parts.size()) + " parts, the cache has " +
                std::to_string(ps.size()) + ")");
  for (size_t i = 0; i < ps.size(); ++i)
    if (rows.row_bytes[i] != ps[i].second) throw Error("KV cache: rows of another scheme (bytes per token differ)");
  const int64_t len = b < batch_ ? len_[static_cast<size_t>(b)] : 0;
  reserve(kt, std::max(batch_, b + 1), len + tokens);
  if (b == batch_) {
    slot_.push_back(free_slot());
    ++batch_;
    len_.push_back(0);
  }
  for (size_t i = 0; i < ps.size() && tokens > 0; ++i) {
    const int64_t row = ps[i].second;
    kt.memory->copy(static_cast<char*>(parts()[i].first->data()) + (slot(b) * cap_ + len) * row, rows.parts[i].data(),
                    static_cast<size_t>(tokens * row));
  }
  len_[static_cast<size_t>(b)] += tokens;
}

void KvCache::remove_row(const kernels::KernelTable& kt, int64_t b) {
  if (b < 0 || b >= batch_)
    throw Error("KV cache: no batch row " + std::to_string(b) + " to remove (the cache has " + std::to_string(batch_) + ")");
  (void)kt;  // nothing moves: the slot is free for the next row that joins
  slot_.erase(slot_.begin() + b);
  len_.erase(len_.begin() + b);
  --batch_;
}

}  // namespace qf
