#include "runtime/generation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "core/error.h"
#include "runtime/sampling.h"

namespace qf {
namespace {

// One language model's session plus how many tokens of the current window it holds.
struct Lm {
  explicit Lm(Engine& e, const char* role) : session(e.start_session()) {
    const Graph& g = e.checkpoint().graph;
    if (g.inputs.size() != 1 || g.inputs[0].dtype != "int64" || g.outputs.empty())
      throw Error(std::string(role) + " is not a language model (its input is not token ids)");
    in = g.inputs[0].name;
    out = g.outputs[0];
  }
  // Runs `ids` as the next tokens; returns their logits, [ids.size(), vocab] row-major.
  std::vector<float> step(std::vector<int64_t> ids) {
    const int64_t t = static_cast<int64_t>(ids.size());
    Tensor logits = session.step({{in, Tensor::ids({1, t}, std::move(ids))}}).at(out);
    if (logits.shape.size() < 2 || logits.numel() % t != 0) throw Error("generate: unexpected logits " + shape_str(logits.shape));
    vocab = logits.shape.back();
    fed += t;
    return std::move(logits.f32);
  }
  void truncate(int64_t len) {  // the session's position is always `fed`
    session.truncate(len);
    fed = len;
  }
  void reset() {
    session.reset();
    fed = 0;
  }
  Session session;
  std::string in, out;
  int64_t vocab = 0;
  int64_t fed = 0;  // tokens of the window (history[start, start + fed)) in the cache
};

// The sliding window of `qforge generate`'s text path (see generation.h).
struct Window {
  int64_t context = 0, start = 0;
  // Before predicting history index n: true when the sessions must restart.
  bool slide(int64_t n) {
    if (context <= 0 || n - start <= context) return false;
    start = n - context / 2;
    return true;
  }
  // How many positions past n one step may still predict inside the window.
  int64_t room(int64_t n) const { return context > 0 ? context - (n - start) : std::numeric_limits<int64_t>::max(); }
};

std::vector<int64_t> slice(const std::vector<int64_t>& v, int64_t b, int64_t e) {
  return std::vector<int64_t>(v.begin() + b, v.begin() + e);
}

void check_prompt(const std::vector<int64_t>& prompt, const GenerateOptions& o) {
  if (prompt.empty()) throw Error("generate: the prompt is empty");
  if (o.max_new_tokens < 0) throw Error("generate: negative token count");
  if (o.context > 0 && static_cast<int64_t>(prompt.size()) > o.context)
    throw Error("generate: the prompt (" + std::to_string(prompt.size()) + " tokens) is longer than the context (" +
                std::to_string(o.context) + ")");
}

}  // namespace

int64_t pick_token(const float* last, int64_t vocab, double temperature, std::mt19937_64& rng) {
  if (temperature <= 0) return argmax(last, vocab);
  std::vector<double> w(static_cast<size_t>(vocab));
  const float mx = *std::max_element(last, last + vocab);
  for (int64_t v = 0; v < vocab; ++v) w[v] = std::exp((last[v] - mx) / temperature);
  return std::discrete_distribution<int64_t>(w.begin(), w.end())(rng);
}

int64_t positional_context(const Engine& engine) {
  for (const Op& op : engine.checkpoint().graph.ops)
    if (op.kind == "positional_embedding") return engine.checkpoint().layers.at(op.name).shape.at(0);
  return 0;
}

std::vector<int64_t> generate(Engine& target, const std::vector<int64_t>& prompt, const GenerateOptions& o,
                              GenerateStats* stats) {
  check_prompt(prompt, o);
  Lm lm(target, "the checkpoint");
  GenerateStats st;
  Window win{o.context, 0};
  std::vector<int64_t> history = prompt;
  std::mt19937_64 rng(o.seed);
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    const int64_t n = static_cast<int64_t>(history.size());
    if (win.slide(n)) lm.reset();
    std::vector<float> logits;
    if (o.prefix_cache && i == 0) {
      logits = o.prefix_cache->run_prompt(lm.session, lm.in, lm.out, history);
      lm.vocab = static_cast<int64_t>(logits.size());
      lm.fed = n;
    } else {
      logits = lm.step(slice(history, win.start + lm.fed, n));
    }
    ++st.target_steps;
    const float* last = logits.data() + logits.size() - static_cast<size_t>(lm.vocab);
    const int64_t next = pick_token(last, lm.vocab, o.temperature, rng);
    history.push_back(next);
    ++st.tokens;
    if (o.on_token) o.on_token(next);
    if (std::find(o.stop_ids.begin(), o.stop_ids.end(), next) != o.stop_ids.end()) break;
  }
  if (stats) *stats = st;
  return slice(history, static_cast<int64_t>(prompt.size()), static_cast<int64_t>(history.size()));
}

std::vector<int64_t> generate_speculative(Engine& target, Engine& draft, int64_t k, const std::vector<int64_t>& prompt,
                                          const GenerateOptions& o, GenerateStats* stats) {
  check_prompt(prompt, o);
  if (k < 1) throw Error("generate: --speculate must be >= 1, got " + std::to_string(k));
  Lm tl(target, "the target checkpoint"), dl(draft, "the draft checkpoint");
  const bool greedy = o.temperature <= 0;
  GenerateStats st;
  Window win{o.context, 0};
  std::vector<int64_t> history = prompt;
  std::mt19937_64 rng(o.seed);
  bool stopped = false;  // a stop id was emitted: later tokens of the round are dropped
  auto emit = [&](int64_t token) {
    if (stopped) return;
    history.push_back(token);
    ++st.tokens;
    if (o.on_token) o.on_token(token);
    stopped = std::find(o.stop_ids.begin(), o.stop_ids.end(), token) != o.stop_ids.end();
  };
  while (st.tokens < o.max_new_tokens && !stopped) {
    const int64_t n = static_cast<int64_t>(history.size());
    if (win.slide(n)) {
      tl.reset();
      dl.reset();
    }
    const int64_t kk = std::min({k, o.max_new_tokens - st.tokens - 1, win.room(n)});
    const int64_t pending = n - win.start - tl.fed;  // >= 1: the last token is never in the cache
    // A prompt (or a window restart) runs alone, as in the plain loop, so the target computes
    // exactly the steps plain decoding computes; verification steps then hold 1 + kk tokens,
    // whose rows the kernels compute as they would one at a time (generation.h).
    if (kk <= 0 || pending > 1) {  // one plain target step
      const std::vector<float> logits = tl.step(slice(history, win.start + tl.fed, n));
      ++st.target_steps;
      const float* last = logits.data() + logits.size() - static_cast<size_t>(tl.vocab);
      emit(greedy ? argmax(last, tl.vocab) : sample(softmax(last, tl.vocab, o.temperature), uniform01(rng)));
      continue;
    }
    // Draft: catch up on the tokens it has not seen, then propose kk tokens one at a time.
    std::vector<int64_t> proposal;
    std::vector<std::vector<double>> q;  // the draft's distributions (sampling only)
    std::vector<int64_t> ids = slice(history, win.start + dl.fed, n);
    for (int64_t j = 0; j < kk; ++j) {
      const std::vector<float> logits = dl.step(std::move(ids));
      ++st.draft_steps;
      const float* last = logits.data() + logits.size() - static_cast<size_t>(dl.vocab);
      int64_t d = 0;
      if (greedy) {
        d = argmax(last, dl.vocab);
      } else {
        q.push_back(softmax(last, dl.vocab, o.temperature));
        d = sample(q.back(), uniform01(rng));
      }
      proposal.push_back(d);
      ids = {d};
    }
    // Target: the pending tokens and the whole proposal in one step; row pending - 1 + i scores
    // position n + i.
    std::vector<int64_t> verify = slice(history, win.start + tl.fed, n);
    verify.insert(verify.end(), proposal.begin(), proposal.end());
    const std::vector<float> logits = tl.step(std::move(verify));
    ++st.target_steps;
    if (dl.vocab != tl.vocab)
      throw Error("generate: the draft's vocabulary (" + std::to_string(dl.vocab) + ") differs from the target's (" +
                  std::to_string(tl.vocab) + ")");
    ++st.rounds;
    st.drafted += kk;
    int64_t accepted = 0;
    int64_t next = -1;  // the token after the accepted run: correction or bonus
    for (int64_t i = 0; i <= kk && next < 0; ++i) {
      const float* row = logits.data() + static_cast<size_t>((pending - 1 + i) * tl.vocab);
      if (i == kk) {  // every proposal accepted: the target's own next token comes free
        next = greedy ? argmax(row, tl.vocab) : sample(softmax(row, tl.vocab, o.temperature), uniform01(rng));
        break;
      }
      if (greedy) {
        const int64_t best = argmax(row, tl.vocab);
        if (best == proposal[i]) ++accepted;
        else next = best;
      } else {
        const double ua = uniform01(rng), ur = uniform01(rng);
        const SpeculativeVerdict v = speculative_verdict(softmax(row, tl.vocab, o.temperature), q[i], proposal[i], ua, ur);
        if (v.accepted) ++accepted;
        else next = v.token;
      }
    }
    st.accepted += accepted;
    for (int64_t i = 0; i < accepted; ++i) emit(proposal[i]);
    emit(next);
    // Roll back: keep the window's tokens up to the last accepted proposal in the target's cache
    // (the new last token is fed next round), and as much of that as the draft has seen.
    const int64_t valid = n - win.start + accepted;
    tl.truncate(valid);
    dl.truncate(std::min(dl.fed, valid));
  }
  if (stats) *stats = st;
  return slice(history, static_cast<int64_t>(prompt.size()), static_cast<int64_t>(history.size()));
}

}  // namespace qf
