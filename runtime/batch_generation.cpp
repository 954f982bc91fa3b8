#include "runtime/batch_generation.h"

#include <algorithm>
#include <random>
#include <string>

#include "core/error.h"
#include "runtime/generation.h"

namespace qf {
namespace {

// One request in flight: its tokens so far and where its window starts (generate()'s Window).
struct Sequence {
  size_t request = 0;
  std::vector<int64_t> history;
  int64_t prompt = 0, start = 0;
  std::mt19937_64 rng;
};

class Batcher {
 public:
  Batcher(Engine& engine, const std::vector<BatchRequest>& requests, const BatchOptions& o)
      : engine_(engine), requests_(requests), o_(o), batch_(engine.start_session()), out_(requests.size()) {
    const Graph& g = engine.checkpoint().graph;
    if (g.inputs.size() != 1 || g.inputs[0].dtype != "int64" || g.outputs.empty())
      throw Error("generate: the checkpoint is not a language model (its input is not token ids)");
    in_ = g.inputs[0].name;
    logits_ = g.outputs[0];
    if (o.max_batch < 1) throw Error("generate: the batch must hold at least 1 sequence, got " + std::to_string(o.max_batch));
    for (size_t i = 0; i < requests.size(); ++i) {
      const BatchRequest& r = requests[i];
      if (r.prompt.empty()) throw Error("generate: prompt " + std::to_string(i) + " is empty");
      if (r.max_new_tokens < 0) throw Error("generate: prompt " + std::to_string(i) + ": negative token count");
      if (o.context > 0 && static_cast<int64_t>(r.prompt.size()) > o.context)
        throw Error("generate: prompt " + std::to_string(i) + " (" + std::to_string(r.prompt.size()) +
                    " tokens) is longer than the context (" + std::to_string(o.context) + ")");
    }
  }

  std::vector<std::vector<int64_t>> run(BatchStats& st) {
    size_t next = 0;
    while (true) {
      while (static_cast<int64_t>(rows_.size()) < o_.max_batch && next < requests_.size()) join(next++, st);
      if (rows_.empty()) break;
      // Rows whose next prediction needs more than the window restart alone (leave and rejoin).
      for (size_t r = rows_.size(); r-- > 0;) {
        Sequence& s = rows_[r];
        const int64_t n = static_cast<int64_t>(s.history.size());
        if (o_.context <= 0 || n - s.start <= o_.context) continue;
        s.start = n - o_.context / 2;
        Sequence moved = std::move(s);
        rows_.erase(rows_.begin() + static_cast<std::ptrdiff_t>(r));
        batch_.remove_row(static_cast<int64_t>(r));
        prefill(std::move(moved), st);
      }
      if (rows_.empty()) continue;
      decode_step(st);
    }
    return std::move(out_);
  }

 private:
  // Emits `token` for s; true when s is finished (then its output is final).
  bool emit(Sequence& s, int64_t token, BatchStats& st) {
    s.history.push_back(token);
    ++st.tokens;
    if (o_.on_token) o_.on_token(s.request, token);
    const BatchRequest& r = requests_[s.request];
    const bool stop = std::find(r.stop_ids.begin(), r.stop_ids.end(), token) != r.stop_ids.end();
    if (!stop && static_cast<int64_t>(s.history.size()) - s.prompt < r.max_new_tokens) return false;
    finish(s);
    return true;
  }
  void finish(Sequence& s) {
    out_[s.request].assign(s.history.begin() + s.prompt, s.history.end());
    if (o_.on_finish) o_.on_finish(s.request, out_[s.request]);
  }

  void join(size_t i, BatchStats& st) {
    const BatchRequest& r = requests_[i];
    Sequence s;
    s.request = i;
    s.history = r.prompt;
    s.prompt = static_cast<int64_t>(r.prompt.size());
    s.rng.seed(r.seed);
    if (r.max_new_tokens == 0) {
      finish(s);
      return;
    }
    prefill(std::move(s), st);
  }

  // Runs history[start, n) alone (generate()'s prompt / window-restart step), picks the next
  // token there and, unless that finishes the sequence, moves its keys and values into the batch.
  void prefill(Sequence s, BatchStats& st) {
    Session one = engine_.start_session();
    const int64_t n = static_cast<int64_t>(s.history.size());
    std::vector<float> last;
    if (o_.prefix_cache && s.start == 0 && n == s.prompt) {
      last = o_.prefix_cache->run_prompt(one, in_, logits_, s.history);
    } else {
      std::vector<int64_t> ids(s.history.begin() + s.start, s.history.end());
      const Tensor t = one.step({{in_, Tensor::ids({1, n - s.start}, std::move(ids))}}).at(logits_);
      const int64_t v = t.shape.back();
      last.assign(t.f32.end() - v, t.f32.end());
    }
    ++st.prefills;
    if (emit(s, pick_token(last.data(), static_cast<int64_t>(last.size()), o_.temperature, s.rng), st)) return;
    batch_.add_row(one.kv_rows(0, one.position()));
    rows_.push_back(std::move(s));
  }

  // One token for every row; finished rows leave.
  void decode_step(BatchStats& st) {
    const int64_t b = static_cast<int64_t>(rows_.size());
    std::vector<int64_t> ids;
    for (const Sequence& s : rows_) ids.push_back(s.history.back());
    const Tensor t = batch_.step({{in_, Tensor::ids({b, 1}, std::move(ids))}}).at(logits_);
    const int64_t v = t.shape.back();
    if (t.numel() != b * v) throw Error("generate: unexpected logits " + shape_str(t.shape));
    ++st.steps;
    st.row_steps += b;
    st.most_rows = std::max(st.most_rows, b);
    std::vector<bool> done(static_cast<size_t>(b));
    for (int64_t r = 0; r < b; ++r) {
      Sequence& s = rows_[static_cast<size_t>(r)];
      done[static_cast<size_t>(r)] = emit(s, pick_token(t.f32.data() + r * v, v, o_.temperature, s.rng), st);
    }
    for (int64_t r = b; r-- > 0;)
      if (done[static_cast<size_t>(r)]) {
        batch_.remove_row(r);
        rows_.erase(rows_.begin() + r);
      }
  }

  Engine& engine_;
  const std::vector<BatchRequest>& requests_;
  const BatchOptions& o_;
  Session batch_;
  std::vector<Sequence> rows_;  // in the batch session's row order
  std::vector<std::vector<int64_t>> out_;
  std::string in_, logits_;
};

}  // namespace

std::vector<std::vector<int64_t>> generate_batch(Engine& engine, const std::vector<BatchRequest>& requests,
                                                 const BatchOptions& options, BatchStats* stats) {
  BatchStats st;
  Batcher b(engine, requests, options);
  std::vector<std::vector<int64_t>> out = b.run(st);
  if (stats) *stats = st;
  return out;
}

}  // namespace qf
