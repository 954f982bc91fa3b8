// Generation on top of the runtime's sessions: Session::truncate / KV rows, speculative decoding
// (greedy identity with plain greedy decoding; the accept/reject sampler's distribution, alone
// and through the whole decoding loop), the prefix cache (hit == cold run, float and int4 KV;
// LRU bound) and continuous batching (ragged sessions; batched == one at a time); validate's unit
// behind an int4 cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "core/error.h"
#include "core/kv_cache_attrs.h"
#include "runtime/batch_generation.h"
#include "fixture_models.h"
#include "runtime/engine.h"
#include "runtime/generation.h"
#include "runtime/kernels/threads.h"
#include "runtime/prefix_cache.h"
#include "runtime/sampling.h"
#include "runtime/validate.h"
#include "test_util.h"

namespace qf {
namespace {

using test::layer;
using test::op;
using test::random_tensor;
using test::with_ints;

// A small pre-LN GPT with random weights. `integer`: every linear int8 per channel with dynamic
// per-token int8 inputs (the integer path: every kernel row-independent, so a position's logits
// do not depend on how many positions a step runs); otherwise every linear is float32. `noise`
// perturbs the weights of seed `seed` (a draft that mostly, not always, agrees).
// `int4_kv`: every attention op keeps an int4 KV cache (feature kv_cache_int4, groups of 4).
CheckpointContent small_gpt(unsigned seed, int64_t layers, bool integer, float noise = 0, int64_t vocab = 16,
                            int64_t d = 16, int64_t tmax = 64, bool int4_kv = false) {
  std::mt19937 gen(seed * 7919u + 1);
  std::normal_distribution<float> nd(0.f, 1.f);
  unsigned s = seed * 1000;
  auto w = [&](std::vector<int64_t> shape, float stddev) {
    Tensor t = random_tensor(std::move(shape), ++s, stddev);
    for (float& v : t.f32) v += noise * stddev * nd(gen);
    return t;
  };
  CheckpointContent c;
  c.graph.family = "gpt";
  c.graph.inputs.push_back({"ids", "int64", {-1, -1}});
  c.graph.ops = {op("embedding", "tok", {"ids"}, "e"), op("positional_embedding", "pos", {"e"}, "h0")};
  c.layers = {layer("tok", "embedding", w({vocab, d}, 1.f)), layer("pos", "positional_embedding", w({tmax, d}, 0.3f))};
  auto ln = [&](const std::string& name, const std::string& in, const std::string& out) {
    Op o = op("layernorm", name, {in}, out);
    o.floats["eps"] = 1e-5;
    c.graph.ops.push_back(o);
    LayerContent L = layer(name, "layernorm", w({d}, 0.1f));
    for (float& g : L.weight.f32) g += 1.f;
    L.extra["bias"] = w({d}, 0.1f);
    c.layers.push_back(L);
  };
  auto linear = [&](const std::string& name, const std::string& in, const std::string& out, int64_t o, int64_t i) {
    c.graph.ops.push_back(op("linear", name, {in}, out));
    LayerContent L = layer(name, "linear", w({o, i}, 1.f / std::sqrt(static_cast<float>(i))));
    L.extra["bias"] = w({o}, 0.05f);
    if (integer) {
      L.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
      L.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
    }
    c.layers.push_back(L);
  };
  std::string h = "h0";
  for (int64_t l = 0; l < layers; ++l) {
    const std::string p = "b" + std::to_string(l) + ".";
    ln(p + "ln1", h, p + "n1");
    linear(p + "qkv", p + "n1", p + "qkv_out", 3 * d, d);
    Op attn = with_ints(op("causal_attention", p + "attn", {p + "qkv_out"}, p + "att"), {{"heads", {2}}});
    if (int4_kv) set_kv_cache_attrs(attn, KvCacheScheme{4, 4, true, 1.0f}, d / 2);
    c.graph.ops.push_back(attn);
    linear(p + "proj", p + "att", p + "pr", d, d);
    c.graph.ops.push_back(op("add", p + "res1", {h, p + "pr"}, p + "h1"));
    ln(p + "ln2", p + "h1", p + "n2");
    linear(p + "fc1", p + "n2", p + "f1", 2 * d, d);
    c.graph.ops.push_back(op("gelu", p + "act", {p + "f1"}, p + "g"));
    linear(p + "fc2", p + "g", p + "f2", d, 2 * d);
    c.graph.ops.push_back(op("add", p + "res2", {p + "h1", p + "f2"}, p + "h2"));
    h = p + "h2";
  }
  ln("lnf", h, "nf");
  linear("head", "nf", "logits", vocab, d);
  c.graph.outputs = {"logits"};
  return c;
}

struct Models : ::testing::Test {
  std::vector<std::string> paths;
  // One kernel thread: these models are far below the threading threshold anyway, and on a
  // loaded machine waking pool threads for thousands of tiny steps dominates the test's time.
  void SetUp() override { kernels::set_num_threads(1); }
  void TearDown() override {
    kernels::set_num_threads(0);
    for (const std::string& p : paths) std::remove(p.c_str());
  }
  Engine load(const CheckpointContent& c) {
    paths.push_back(test::temp_path("gen_" + std::to_string(paths.size())));
    write_checkpoint(paths.back(), c);
    return Engine::load(paths.back());
  }
};

std::vector<int64_t> random_ids(std::mt19937& gen, int64_t n, int64_t vocab) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t& x : v) x = static_cast<int64_t>(gen() % static_cast<unsigned>(vocab));
  return v;
}

Tensor step(Session& s, const std::vector<int64_t>& ids) {
  return s.step({{"ids", Tensor::ids({1, static_cast<int64_t>(ids.size())}, ids)}}).at("logits");
}

// An int4 cache with integer zero points (feature kv_cache_zero_point): listed by the writer,
// decoded token by token through the session's packed cache to the full run's logits, its bytes
// per token (codes + nibble zero points + fp16 scales), and a file that uses it without listing it
// is refused, naming the feature.
TEST_F(Models, IntegerZeroPointCacheIsAFeatureAndDecodesLikeTheFullRun) {
  CheckpointContent c = small_gpt(3, 1, false, 0, 16, 16, 64, true);
  KvCacheScheme s{4, 4, false, 1.0f};
  s.int_zero_point = true;
  for (Op& op : c.graph.ops)
    if (op.kind == "causal_attention") set_kv_cache_attrs(op, s, 8);
  Engine e = load(c);
  const auto& f = e.checkpoint().required_features;
  EXPECT_NE(std::find(f.begin(), f.end(), "kv_cache_zero_point"), f.end());
  std::mt19937 gen(5);
  const std::vector<int64_t> ids = random_ids(gen, 9, 16);
  const Tensor full = e.run({{"ids", Tensor::ids({1, 9}, ids)}}).at("logits");
  Session ses = e.start_session();
  for (size_t i = 0; i < ids.size(); ++i) {
    const Tensor st = step(ses, {ids[i]});
    for (int64_t j = 0; j < 16; ++j)
      ASSERT_NEAR(st.f32[j], full.f32[i * 16 + j], 1e-4f * (1.0f + std::fabs(full.f32[i * 16 + j]))) << "token " << i;
  }
  // C = 16 per row, groups of 4: 8 bytes of codes + 2 of zero points + 4 fp16 scales, K and V.
  EXPECT_EQ(ses.kv_bytes_per_token(), 2 * (8 + 2 + 4 * 2));
  test::mutate_h5(paths.back(), [](hid_t h) {
    H5Adelete(h, "required_features");
    test::set_string_attr(h, "required_features", "kv_cache_int4");
  });
  try {
    Engine::load(paths.back());
    ADD_FAILURE() << "a file using kv_zero_point without listing kv_cache_zero_point loaded";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("needs feature 'kv_cache_zero_point'"), std::string::npos) << err.what();
  }
}

// ---- Session::truncate and KV rows ----

// validate checks an output behind an int4 KV cache in steps of the cache's codes (max|golden| / 7),
// behind a float cache in int8 steps (max / 127): FORMAT.md, "Validation".
TEST_F(Models, ValidateMeasuresOutputsBehindAnInt4CacheInInt4Steps) {
  for (bool int4_kv : {false, true}) {
    CheckpointContent c = small_gpt(3, 1, false, 0, 16, 16, 64, int4_kv);
    Golden g;
    g.inputs = {{"ids", test::ids_input(1, 6, 5).at("ids")}};
    g.outputs = {{"logits", random_tensor({1, 6, 16}, 1)}};  // replaced by the runtime's own below
    c.golden_reference = "contract";
    c.golden = {g};
    g.outputs = load(c).run(g.inputs);
    c.golden = {g};
    Engine e = load(c);
    const ValidationReport rep = validate(e);
    ASSERT_EQ(rep.checks.size(), 1u);
    EXPECT_EQ(rep.checks[0].unit_steps, int4_kv ? 7.0 : 127.0);
    EXPECT_TRUE(rep.passed) << rep.summary();
  }
}

TEST_F(Models, TruncateThenStepEqualsNeverHavingSteppedTheRejectedTokens) {
  Engine e = load(small_gpt(1, 2, true));
  std::mt19937 gen(5);
  const std::vector<int64_t> a = random_ids(gen, 7, 16), junk = random_ids(gen, 4, 16), b = random_ids(gen, 3, 16);
  Session clean = e.start_session(), rolled = e.start_session();
  step(clean, a);
  const Tensor want = step(clean, b);
  step(rolled, a);
  step(rolled, junk);
  EXPECT_EQ(rolled.position(), 11);
  rolled.truncate(7);
  EXPECT_EQ(rolled.position(), 7);
  const Tensor got = step(rolled, b);
  EXPECT_EQ(got.f32, want.f32);  // bit for bit
  EXPECT_THROW(rolled.truncate(11), Error);  // past the position
}

// Engine::set_last_position_outputs: a prompt step's output is the last row of the full step's,
// bit for bit (integer head: every GEMM row on its own), shape [1, 1, vocab]; the session goes on
// exactly as after a full step; a one-token step is unchanged; off again restores [1, T, vocab].
TEST_F(Models, LastPositionOutputsAreTheLastRowOfTheFullStep) {
  Engine full = load(small_gpt(2, 2, true)), last = load(small_gpt(2, 2, true));
  last.set_last_position_outputs(true);
  std::mt19937 gen(9);
  const std::vector<int64_t> prompt = random_ids(gen, 11, 16), next = random_ids(gen, 5, 16);
  Session a = full.start_session(), b = last.start_session();
  const Tensor fa = step(a, prompt), fb = step(b, prompt);
  ASSERT_EQ(fb.shape, (std::vector<int64_t>{1, 1, 16}));
  EXPECT_EQ(std::vector<float>(fa.f32.end() - 16, fa.f32.end()), fb.f32);
  for (int64_t id : next) {
    const Tensor ga = step(a, {id}), gb = step(b, {id});
    EXPECT_EQ(ga.shape, gb.shape);
    EXPECT_EQ(ga.f32, gb.f32);
  }
  last.set_last_position_outputs(false);
  Session c = last.start_session();
  EXPECT_EQ(step(c, prompt).f32, fa.f32);
}

TEST_F(Models, KvRowsMovedIntoAFreshSessionContinueLikeTheOriginal) {
  Engine e = load(small_gpt(2, 2, true));
  std::mt19937 gen(6);
  const std::vector<int64_t> a = random_ids(gen, 9, 16), b = random_ids(gen, 2, 16);
  Session s = e.start_session();
  step(s, a);
  Session t = e.start_session();
  t.append_kv_rows(s.kv_rows(0, 4));
  t.append_kv_rows(s.kv_rows(4, 9));
  EXPECT_EQ(t.position(), 9);
  EXPECT_EQ(step(t, b).f32, step(s, b).f32);
}

// ---- speculative decoding: greedy ----

// For many prompts and k in {1, 2, 4, 8}: the speculative output is the plain greedy output,
// for drafts that agree always (the target itself), often (perturbed weights) and rarely (an
// unrelated one-block model); with and without the sliding window; for an integer-path target
// and a float one (the x86 float GEMM's row-independent small-M kernel). An argmax flips only on
// a near-tie, so the float case alone would rarely catch a kernel whose rows depend on M; the
// kernel test F32GemmSmallMRowsDoNotDependOnM checks that property bit for bit (it fails with
// Eigen in place of the small-M kernel; tried).
void expect_speculative_equals_plain(Engine& target, Engine& same, Engine& close, Engine& other, unsigned seed) {
  std::mt19937 gen(seed);
  struct Draft {
    Engine* e;
    const char* name;
    GenerateStats total;
  };
  std::vector<Draft> drafts = {{&same, "target itself", {}}, {&close, "perturbed", {}}, {&other, "unrelated", {}}};
  for (int prompt_i = 0; prompt_i < 10; ++prompt_i) {
    const std::vector<int64_t> prompt = random_ids(gen, 1 + static_cast<int64_t>(gen() % 12), 16);
    for (int64_t context : {int64_t{0}, int64_t{24}}) {  // 24: several window restarts in 60 tokens
      GenerateOptions o;
      o.max_new_tokens = context ? 60 : 40;
      o.context = context;
      const std::vector<int64_t> want = generate(target, prompt, o);
      ASSERT_EQ(static_cast<int64_t>(want.size()), o.max_new_tokens);
      for (Draft& d : drafts)
        for (int64_t k : {1, 2, 4, 8}) {
          GenerateStats st;
          const std::vector<int64_t> got = generate_speculative(target, *d.e, k, prompt, o, &st);
          ASSERT_EQ(got, want) << "prompt " << prompt_i << ", context " << context << ", draft " << d.name << ", k " << k;
          EXPECT_EQ(st.tokens, o.max_new_tokens);
          EXPECT_LE(st.target_steps, o.max_new_tokens);
          d.total.drafted += st.drafted;
          d.total.accepted += st.accepted;
        }
    }
  }
  // The three drafts exercise full acceptance, mixed runs and early rejection.
  EXPECT_EQ(drafts[0].total.acceptance(), 1.0);
  EXPECT_GT(drafts[1].total.acceptance(), 0.2);
  EXPECT_LT(drafts[1].total.acceptance(), 0.95);
  EXPECT_LT(drafts[2].total.acceptance(), 0.5);
}

TEST_F(Models, SpeculativeGreedyEqualsPlainGreedyTokenForToken) {
  Engine target = load(small_gpt(3, 2, true)), same = load(small_gpt(3, 2, true));
  Engine close = load(small_gpt(3, 2, true, 0.15f)), other = load(small_gpt(9, 1, true));
  expect_speculative_equals_plain(target, same, close, other, 7);
}

TEST_F(Models, SpeculativeGreedyEqualsPlainGreedyWithAFloatTarget) {
  Engine target = load(small_gpt(4, 2, false)), same = load(small_gpt(4, 2, false));
  Engine close = load(small_gpt(4, 2, true, 0.15f)), other = load(small_gpt(10, 1, true));
  expect_speculative_equals_plain(target, same, close, other, 8);
}

TEST_F(Models, SpeculativeRefusesMismatchedVocabularies) {
  Engine target = load(small_gpt(3, 1, true));
  Engine draft = load(small_gpt(4, 1, true, 0, 12));
  GenerateOptions o;
  o.max_new_tokens = 5;
  EXPECT_THROW(generate_speculative(target, draft, 2, {1, 2, 3}, o), Error);
  EXPECT_THROW(generate_speculative(target, target, 0, {1, 2, 3}, o), Error);
  EXPECT_THROW(generate(target, {}, o), Error);
}

// ---- speculative decoding: sampling ----

// Pearson's chi-square statistic of `counts` against probabilities `p`.
double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& p) {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  double x2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = static_cast<double>(n) * p[i];
    x2 += (static_cast<double>(counts[i]) - e) * (static_cast<double>(counts[i]) - e) / e;
  }
  return x2;
}

// Upper 1e-6 quantiles of chi-square (the regularized upper incomplete gamma function,
// Q(df/2, x/2) = 1e-6): df 4 -> 33.38, df 7 -> 40.52. With a fixed seed each test is
// deterministic; the threshold says how unlikely a correct sampler is to fail it with another
// seed: 1 in a million.
constexpr double kChi2Df4 = 33.38, kChi2Df7 = 40.52;

TEST(SpeculativeSampler, OutputFollowsTheTargetDistribution) {
  const std::vector<double> p = {0.10, 0.20, 0.30, 0.15, 0.25}, q = {0.30, 0.05, 0.20, 0.40, 0.05};
  std::mt19937_64 rng(11);
  const int64_t n = 200000;
  std::vector<int64_t> out(5, 0), drafted(5, 0);
  int64_t accepted = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = sample(q, uniform01(rng));
    const double ua = uniform01(rng), ur = uniform01(rng);
    const SpeculativeVerdict v = speculative_verdict(p, q, d, ua, ur);
    ++out[static_cast<size_t>(v.token)];
    ++drafted[static_cast<size_t>(d)];
    accepted += v.accepted;
  }
  EXPECT_LT(chi_square(out, p), kChi2Df4);
  // The test can fail: the draft's own tokens are far from p.
  EXPECT_GT(chi_square(drafted, p), 1000.0);
  // Acceptance rate = sum_x min(p, q) = 0.55 (Leviathan et al., Theorem 3.5); 6 standard errors.
  EXPECT_NEAR(static_cast<double>(accepted) / n, 0.55, 6 * std::sqrt(0.55 * 0.45 / n));
  // Total variation distance of the output histogram from p, well under the draft's 0.45.
  double tv = 0;
  for (size_t i = 0; i < p.size(); ++i) tv += 0.5 * std::fabs(static_cast<double>(out[i]) / n - p[i]);
  EXPECT_LT(tv, 0.01);
}

TEST(SpeculativeSampler, EdgeCases) {
  // p == q: always accepted.
  const std::vector<double> p = {0.5, 0.5, 0.0};
  EXPECT_TRUE(speculative_verdict(p, p, 1, 0.999, 0.3).accepted);
  // The draft proposes a token the target never emits: always rejected, resampled where p > q.
  const std::vector<double> q = {0.0, 0.0, 1.0};
  for (double u : {0.0, 0.4, 0.6, 0.999}) {
    const SpeculativeVerdict v = speculative_verdict(p, q, 2, 0.0, u);
    EXPECT_FALSE(v.accepted);
    EXPECT_EQ(v.token, u < 0.5 ? 0 : 1);
  }
  EXPECT_THROW(speculative_verdict(p, q, 3, 0.5, 0.5), Error);
  EXPECT_EQ(sample({0.0, 1.0, 0.0}, 0.9999999), 1);
  EXPECT_EQ(argmax(std::vector<float>{1.f, 3.f, 3.f}.data(), 3), 1);  // ties: the lowest index
}

// Through the whole loop (drafting, verification, rollback): the third generated token of a
// fixed prompt, over many seeds, is distributed as the target's exact marginal, computed by
// enumerating the first two tokens.
TEST_F(Models, SpeculativeSamplingFollowsTheTargetThroughTheLoop) {
  const int64_t vocab = 8;
  Engine target = load(small_gpt(21, 1, true, 0, vocab));
  Engine draft = load(small_gpt(21, 1, true, 0.6f, vocab));
  const std::vector<int64_t> prompt = {3, 1, 4};
  const double temperature = 1.5;  // flatter distributions: every cell gets enough mass
  auto probs = [&](const std::vector<int64_t>& ids) {
    Session s = target.start_session();
    const Tensor l = step(s, ids);
    return softmax(l.f32.data() + (l.numel() - vocab), vocab, temperature);
  };
  std::vector<double> marginal(vocab, 0.0);
  const std::vector<double> p1 = probs(prompt);
  for (int64_t a = 0; a < vocab; ++a) {
    const std::vector<double> p2 = probs({3, 1, 4, a});
    for (int64_t b = 0; b < vocab; ++b) {
      const std::vector<double> p3 = probs({3, 1, 4, a, b});
      for (int64_t c = 0; c < vocab; ++c) marginal[c] += p1[a] * p2[b] * p3[c];
    }
  }
  std::vector<int64_t> counts(vocab, 0);
  GenerateStats total;
  const int64_t n = 4000;
  for (int64_t seed = 0; seed < n; ++seed) {
    GenerateOptions o;
    o.max_new_tokens = 3;
    o.temperature = temperature;
    o.seed = static_cast<uint64_t>(seed);
    GenerateStats st;
    const std::vector<int64_t> out = generate_speculative(target, draft, 2, prompt, o, &st);
    ASSERT_EQ(out.size(), 3u);
    ++counts[static_cast<size_t>(out[2])];
    total.drafted += st.drafted;
    total.accepted += st.accepted;
  }
  EXPECT_GT(total.acceptance(), 0.2);  // both accepted and rejected proposals happened
  EXPECT_LT(total.acceptance(), 0.95);
  EXPECT_LT(chi_square(counts, marginal), kChi2Df7);
}

// ---- prefix cache ----

TEST_F(Models, PrefixCacheHitReturnsTheLogitsOfAColdRun) {
  Engine e = load(small_gpt(31, 2, true));
  PrefixCache cache(4, 1 << 20);
  std::mt19937 gen(8);
  const std::vector<int64_t> shared = random_ids(gen, 21, 16);
  std::vector<int64_t> first = shared, second = shared;
  for (int64_t x : random_ids(gen, 3, 16)) first.push_back(x);
  for (int64_t x : random_ids(gen, 5, 16)) second.push_back(x);
  {
    Session s = e.start_session();
    EXPECT_EQ(cache.restore(s, first), 0);  // empty cache: a miss
    step(s, first);
    cache.insert(s, first);
    EXPECT_EQ(cache.blocks(), 6u);  // 24 tokens = 6 whole blocks of 4
  }
  Session cold = e.start_session();
  const Tensor want = step(cold, second);
  Session warm = e.start_session();
  const int64_t restored = cache.restore(warm, second);
  EXPECT_EQ(restored, 20);  // the 5 whole blocks inside the 21 shared tokens
  const Tensor got = step(warm, std::vector<int64_t>(second.begin() + restored, second.end()));
  ASSERT_EQ(got.shape[1], static_cast<int64_t>(second.size()) - restored);
  // The last position's logits (what the next token is chosen from) and every computed row
  // equal the cold run's rows bit for bit.
  const int64_t v = 16;
  for (int64_t i = 0; i < got.shape[1]; ++i)
    for (int64_t j = 0; j < v; ++j)
      ASSERT_EQ(got.f32[i * v + j], want.f32[(restored + i) * v + j]) << "row " << i;
  // A prompt that is entirely a cached prefix still runs its last token.
  Session whole = e.start_session();
  EXPECT_EQ(cache.restore(whole, std::vector<int64_t>(first.begin(), first.begin() + 8)), 4);
  // A different first block misses everything behind it (chained keys).
  std::vector<int64_t> changed = second;
  changed[0] = (changed[0] + 1) % 16;
  Session miss = e.start_session();
  EXPECT_EQ(cache.restore(miss, changed), 0);
  const std::vector<uint64_t> k1 = cache.block_keys(second), k2 = cache.block_keys(changed);
  for (size_t b = 0; b < k1.size(); ++b) EXPECT_NE(k1[b], k2[b]) << "block " << b;
}

// Float model: run_prompt's block-aligned chunks (<= 16 tokens: the row-independent float GEMM)
// make a warm run's logits the cold run's bits; both agree with one unchunked step to rounding.
TEST_F(Models, PrefixCacheRunPromptIsExactForAFloatModel) {
  Engine e = load(small_gpt(33, 2, false));
  PrefixCache cache(8, 1 << 20);
  std::mt19937 gen(10);
  std::vector<int64_t> first = random_ids(gen, 40, 16), second(first.begin(), first.begin() + 33);
  for (int64_t x : random_ids(gen, 6, 16)) second.push_back(x);
  PrefixCache empty(8, 1 << 20);
  Session cold = e.start_session();
  const std::vector<float> want = empty.run_prompt(cold, "ids", "logits", second);
  Session s1 = e.start_session();
  cache.run_prompt(s1, "ids", "logits", first);
  Session warm = e.start_session();
  const std::vector<float> got = cache.run_prompt(warm, "ids", "logits", second);
  EXPECT_EQ(cache.hit_tokens(), 32);
  EXPECT_EQ(got, want);
  EXPECT_EQ(warm.position(), static_cast<int64_t>(second.size()));
  Session one = e.start_session();
  const Tensor whole = step(one, second);
  for (int64_t j = 0; j < 16; ++j) EXPECT_NEAR(got[j], whole.f32[(second.size() - 1) * 16 + j], 1e-4);
}

TEST_F(Models, PrefixCacheEvictionBoundsMemoryLeastRecentlyUsedFirst) {
  Engine e = load(small_gpt(32, 2, true));
  const int64_t block = 4;
  // One block's KV rows: 2 layers x (K + V) x 4 tokens x 16 channels x 4 bytes = 1 KiB.
  const int64_t block_bytes = 2 * 2 * block * 16 * 4;
  PrefixCache cache(block, 10 * block_bytes);
  std::mt19937 gen(9);
  std::vector<std::vector<int64_t>> prompts;
  for (int i = 0; i < 8; ++i) prompts.push_back(random_ids(gen, 13, 16));  // 3 whole blocks each
  auto run = [&](const std::vector<int64_t>& p) {
    Session s = e.start_session();
    const int64_t r = cache.restore(s, p);
    step(s, std::vector<int64_t>(p.begin() + r, p.end()));
    cache.insert(s, p);
    return r;
  };
  for (size_t i = 0; i < prompts.size(); ++i) {
    run(prompts[i]);
    EXPECT_LE(cache.bytes(), cache.max_bytes()) << "after prompt " << i;
    if (i == 0) {
      EXPECT_EQ(cache.bytes(), 3 * block_bytes);
    }
  }
  EXPECT_EQ(cache.bytes(), 10 * block_bytes);  // filled to the bound, never past it
  EXPECT_GT(cache.evictions(), 0);
  // The most recent prompts hit in full, the oldest were evicted.
  EXPECT_EQ(run(prompts[7]), 12);
  EXPECT_EQ(run(prompts[0]), 0);
  // Prompt 0 just came back: its prefix hits again; eviction took leaves (prompt 6's
  // third block at the latest), never a block whose continuation stayed.
  EXPECT_EQ(run(prompts[0]), 12);
  EXPECT_LE(cache.bytes(), cache.max_bytes());
}

// ---- the prefix cache on an int4-KV model: packed rows move byte for byte ----

TEST_F(Models, PrefixCacheHitOnAnInt4KvModelEqualsAColdRunBitForBit) {
  for (bool integer : {true, false}) {
    Engine e = load(small_gpt(34, 2, integer, 0, 16, 16, 64, true));
    PrefixCache cache(4, 1 << 20);
    std::mt19937 gen(11);
    std::vector<int64_t> first = random_ids(gen, 26, 16), second(first.begin(), first.begin() + 19);
    for (int64_t x : random_ids(gen, 7, 16)) second.push_back(x);
    PrefixCache empty(4, 1 << 20);
    Session cold = e.start_session();
    const std::vector<float> want = empty.run_prompt(cold, "ids", "logits", second);
    Session s1 = e.start_session();
    cache.run_prompt(s1, "ids", "logits", first);
    EXPECT_GT(s1.kv_bytes_per_token(), 0);
    EXPECT_LE(s1.kv_bytes_per_token(), 2 * 2 * 16 * 4 / 4);  // packed: a quarter of float rows
    Session warm = e.start_session();
    const std::vector<float> got = cache.run_prompt(warm, "ids", "logits", second);
    EXPECT_EQ(cache.hit_tokens(), 16) << integer;
    EXPECT_EQ(got, want) << integer;  // bit for bit
    // The sessions continue alike: the restored packed rows are the cold run's bytes.
    const std::vector<int64_t> more = random_ids(gen, 3, 16);
    EXPECT_EQ(step(warm, more).f32, step(cold, more).f32) << integer;
    // The KV rows hold the packed form: codes + scales, a quarter of the float rows or less.
    const KvRows rows = warm.kv_rows(0, 8);
    EXPECT_EQ(rows.bytes(), 8 * warm.kv_bytes_per_token());
  }
}

// ---- continuous batching ----

// A ragged session: rows at different positions stepped together give each row the logits it
// gets alone; rows leave and join between steps.
TEST_F(Models, RaggedSessionRowsStepLikeSeparateSessions) {
  for (bool int4_kv : {false, true}) {
    Engine e = load(small_gpt(41, 2, true, 0, 16, 16, 64, int4_kv));
    std::mt19937 gen(12);
    std::vector<std::vector<int64_t>> prompts = {random_ids(gen, 5, 16), random_ids(gen, 11, 16), random_ids(gen, 2, 16)};
    std::vector<Session> alone;
    Session batch = e.start_session();
    for (const auto& p : prompts) {
      alone.push_back(e.start_session());
      step(alone.back(), p);
      batch.add_row(alone.back().kv_rows(0, static_cast<int64_t>(p.size())));
    }
    ASSERT_EQ(batch.rows(), 3);
    EXPECT_EQ(batch.position(1), 11);
    EXPECT_THROW(batch.truncate(1), Error);  // rows at different positions
    for (int round = 0; round < 4; ++round) {
      const int64_t b = batch.rows();
      const std::vector<int64_t> ids = random_ids(gen, b, 16);
      const Tensor got = batch.step({{"ids", Tensor::ids({b, 1}, ids)}}).at("logits");
      for (int64_t r = 0; r < b; ++r) {
        const Tensor want = step(alone[static_cast<size_t>(r)], {ids[static_cast<size_t>(r)]});
        ASSERT_EQ(std::vector<float>(got.f32.begin() + r * 16, got.f32.begin() + (r + 1) * 16), want.f32)
            << "round " << round << " row " << r << " int4 " << int4_kv;
      }
      if (round == 1) {  // row 0 leaves, a new sequence joins as the last row
        batch.remove_row(0);
        alone.erase(alone.begin());
        alone.push_back(e.start_session());
        step(alone.back(), random_ids(gen, 7, 16));
        batch.add_row(alone.back().kv_rows(0, 7));
        EXPECT_EQ(batch.position(2), 7);
      }
    }
    EXPECT_THROW(batch.remove_row(3), Error);
  }
}

// Batched generation equals one-at-a-time generation for every prompt: mixed prompt lengths,
// mixed budgets and stop ids, so sequences leave and waiting ones join mid-run; greedy and
// sampled; integer-path, float and int4-KV models; with the sliding window (restarts in the batch).
TEST_F(Models, BatchedGenerationEqualsOneAtATime) {
  struct Case {
    bool integer, int4_kv;
    int64_t max_batch, context;
    double temperature;
  };
  const std::vector<Case> cases = {{true, false, 4, 0, 0},  {true, false, 16, 0, 0.8}, {false, false, 5, 0, 0},
                                   {false, false, 16, 32, 0}, {true, true, 3, 0, 0},   {true, false, 1, 24, 0.9},
                                   {true, false, 7, 24, 0}};
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    Engine e = load(small_gpt(50 + static_cast<unsigned>(ci), 2, c.integer, 0, 16, 16, 64, c.int4_kv));
    std::mt19937 gen(100 + static_cast<unsigned>(ci));
    std::vector<BatchRequest> reqs;
    for (int i = 0; i < 21; ++i) {
      BatchRequest r;
      r.prompt = random_ids(gen, 1 + static_cast<int64_t>(gen() % 20), 16);
      r.max_new_tokens = static_cast<int64_t>(gen() % 26);  // 0 included: finishes without a step
      if (i % 3 == 0) r.stop_ids = {static_cast<int64_t>(gen() % 16)};
      r.seed = 1000 + static_cast<uint64_t>(i);
      reqs.push_back(r);
    }
    BatchOptions bo;
    bo.max_batch = c.max_batch;
    bo.temperature = c.temperature;
    bo.context = c.context;
    std::vector<int64_t> streamed(reqs.size(), 0);
    std::vector<int> finished(reqs.size(), 0);
    bo.on_token = [&](size_t i, int64_t) { ++streamed[i]; };
    bo.on_finish = [&](size_t i, const std::vector<int64_t>&) { ++finished[i]; };
    BatchStats st;
    const std::vector<std::vector<int64_t>> got = generate_batch(e, reqs, bo, &st);
    ASSERT_EQ(got.size(), reqs.size());
    int64_t total = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      GenerateOptions g;
      g.max_new_tokens = reqs[i].max_new_tokens;
      g.temperature = c.temperature;
      g.seed = reqs[i].seed;
      g.context = c.context;
      g.stop_ids = reqs[i].stop_ids;
      const std::vector<int64_t> want = generate(e, reqs[i].prompt, g);
      EXPECT_EQ(got[i], want) << "case " << ci << " prompt " << i;
      EXPECT_EQ(streamed[i], static_cast<int64_t>(got[i].size()));
      EXPECT_EQ(finished[i], 1);
      total += static_cast<int64_t>(want.size());
    }
    EXPECT_EQ(st.tokens, total);
    EXPECT_LE(st.most_rows, c.max_batch);
    if (c.max_batch > 1) {
      EXPECT_GT(st.most_rows, 1) << "case " << ci;  // rows really shared steps
    }
  }
}

TEST_F(Models, BatchedGenerationRefusesBadRequests) {
  Engine e = load(small_gpt(60, 1, true));
  BatchOptions bo;
  EXPECT_THROW(generate_batch(e, {BatchRequest{{}, 3, {}, 0}}, bo), Error);  // empty prompt
  bo.max_batch = 0;
  EXPECT_THROW(generate_batch(e, {BatchRequest{{1, 2}, 3, {}, 0}}, bo), Error);
  bo.max_batch = 4;
  bo.context = 4;
  EXPECT_THROW(generate_batch(e, {BatchRequest{{1, 2, 3, 4, 5}, 3, {}, 0}}, bo), Error);  // longer than the context
  EXPECT_TRUE(generate_batch(e, {}, bo).empty());
}

}  // namespace
}  // namespace qf
