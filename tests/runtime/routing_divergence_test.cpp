// validate's routing-aware end-to-end rule (runtime/routing_divergence.h) on hand-made router
// logits: agreement, a flip at a near tie (and the rows it exempts), a flip no drift explains, the
// confidence fallback, and the cascade (later ops skip positions already rerouted).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "runtime/routing_divergence.h"

namespace qf {
namespace {

MoeRouting top2() {
  MoeRouting r;
  r.top_k = 2;
  return r;
}

// [2 sequences, 3 positions, 4 experts], clear decisions (top-2 = experts 0 and 1) everywhere.
Tensor clear_logits() {
  std::vector<float> v;
  for (int i = 0; i < 6; ++i) v.insert(v.end(), {3.0f, 2.0f, 0.0f, -1.0f});
  return Tensor::floats({2, 3, 4}, v);
}

// Every logit of `t` moved by +drift (routing unchanged): the float drift of another sum order.
Tensor drifted(Tensor t, float drift) {
  for (size_t i = 0; i < t.f32.size(); i += 2) t.f32[i] += drift;
  return t;
}

TEST(RoutingDivergence, IdenticalRoutingExemptsNothing) {
  RoutingDivergence d;
  const Tensor g = clear_logits();
  compare_routing(g, drifted(g, 1e-3f), top2(), d);
  EXPECT_EQ(d.tokens_checked, 6);
  EXPECT_EQ(d.rerouted, 0);
  EXPECT_EQ(d.unexplained, 0);
  EXPECT_NEAR(d.max_logit_drift, 1e-3, 1e-6);
  for (bool e : rerouted_rows(d, {2, 3, 256})) EXPECT_FALSE(e);
}

TEST(RoutingDivergence, AFlipAtANearTieExemptsItsPositionAndLaterOnes) {
  Tensor g = clear_logits();
  // Sequence 0, position 1: experts 1 and 2 almost tie (margin 4e-4) ...
  g.f32[4 + 1] = 1.0f, g.f32[4 + 2] = 0.9996f;
  Tensor got = drifted(g, 1e-3f);
  // ... and the runtime's logits (drift 1e-3, like the other tokens') put expert 2 ahead.
  got.f32[4 + 1] = 0.9994f, got.f32[4 + 2] = 1.0f;
  RoutingDivergence d;
  compare_routing(g, got, top2(), d);
  EXPECT_EQ(d.rerouted, 1);
  EXPECT_EQ(d.unexplained, 0);
  ASSERT_EQ(d.first_rerouted.size(), 2u);
  EXPECT_EQ(d.first_rerouted[0], 1);
  EXPECT_EQ(d.first_rerouted[1], 3);  // none
  const std::vector<bool> rows = rerouted_rows(d, {2, 3, 256});
  EXPECT_EQ(rows, (std::vector<bool>{false, true, true, false, false, false}));
  // An output of another layout cannot be mapped: nothing is exempt.
  for (bool e : rerouted_rows(d, {6, 256})) EXPECT_FALSE(e);
  // A later moe op: position 2 of sequence 0 is no longer compared (its inputs already differ),
  // so even a gross difference there is not counted.
  Tensor later = got;
  later.f32[8 + 0] = -50.0f;
  compare_routing(g, later, top2(), d);
  EXPECT_EQ(d.tokens_checked, 6 + 4);
  EXPECT_EQ(d.unexplained, 0);
}

TEST(RoutingDivergence, AFlipNoDriftExplainsIsCounted) {
  const Tensor g = clear_logits();
  Tensor got = drifted(g, 1e-3f);
  got.f32[12 + 1] = -5.0f;  // sequence 1, position 0 loses expert 1 by a margin of 2 logits
  RoutingDivergence d;
  compare_routing(g, got, top2(), d);
  EXPECT_EQ(d.rerouted, 0);
  EXPECT_EQ(d.unexplained, 1);
  EXPECT_NEAR(d.max_logit_drift, 1e-3, 1e-6);  // the flipped token's own drift is not the yardstick
}

TEST(RoutingDivergence, ConfidenceFallbackNearItsThreshold) {
  MoeRouting r;
  r.top_k = 1;
  r.fallback_threshold = 0.7;
  // Two experts: p0 = sigmoid(l0 - l1); l0 - l1 = ln(0.7/0.3) + eps sits just above the threshold.
  const float at = static_cast<float>(std::log(0.7 / 0.3));
  Tensor g = Tensor::floats({1, 2, 2}, {at + 2e-4f, 0.0f, 4.0f, 0.0f});
  Tensor got = Tensor::floats({1, 2, 2}, {at - 2e-4f, 0.0f, 4.0f + 1e-3f, 0.0f});  // falls back now
  RoutingDivergence d;
  compare_routing(g, got, r, d);
  EXPECT_EQ(d.rerouted, 1);
  EXPECT_EQ(d.unexplained, 0);
  // Far from the threshold, the same change of decision is unexplained.
  Tensor far = Tensor::floats({1, 2, 2}, {at + 2.0f, 0.0f, 4.0f, 0.0f});
  RoutingDivergence d2;
  compare_routing(far, got, r, d2);
  EXPECT_EQ(d2.unexplained, 1);
}

// A case without a trace: the runtime's own logits only; the first token of a sequence within the
// (traced) drift of a tie marks the rest of its sequence.
TEST(RoutingDivergence, UntracedCasesMarkTheirNearTies) {
  Tensor own = clear_logits();
  own.f32[16 + 1] = 1.0f, own.f32[16 + 2] = 0.999f;  // sequence 1, position 1: margin 1e-3
  RoutingDivergence d;
  mark_near_ties(own, top2(), 1e-3, d);  // allowance 4e-3 >= 1e-3
  EXPECT_EQ(d.rerouted, 1);
  EXPECT_EQ(d.unexplained, 0);
  EXPECT_EQ(d.first_rerouted, (std::vector<int64_t>{3, 1}));
  RoutingDivergence tight;
  mark_near_ties(own, top2(), 1e-4, tight);  // allowance 4e-4 < 1e-3: a clear decision
  EXPECT_EQ(tight.rerouted, 0);
}

TEST(RoutingDivergence, RejectsMismatchedShapes) {
  RoutingDivergence d;
  EXPECT_THROW(compare_routing(clear_logits(), Tensor::floats({6, 4}, std::vector<float>(24)), top2(), d), Error);
  compare_routing(clear_logits(), clear_logits(), top2(), d);
  EXPECT_THROW(compare_routing(Tensor::floats({3, 2, 4}, std::vector<float>(24)),
                               Tensor::floats({3, 2, 4}, std::vector<float>(24)), top2(), d),
               Error);
}

}  // namespace
}  // namespace qf
