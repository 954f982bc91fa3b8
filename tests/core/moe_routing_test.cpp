// The moe_experts router rule (core/moe_routing.h) on hand-made logits: top-k selection, ties,
// renormalization, and the confidence fallback on both sides of the threshold.
#include <gtest/gtest.h>

#include <cmath>

#include "core/moe_routing.h"

namespace qf {
namespace {

// logits log(1, 2, 4, 1): p = (1/8, 2/8, 4/8, 1/8).
const float kLogits[4] = {0.0f, std::log(2.0f), std::log(4.0f), 0.0f};

TEST(MoeRouting, TopTwoRenormalized) {
  TokenRoute r;
  route_token(kLogits, 4, {2, true, 0.0}, r);
  EXPECT_EQ(r.experts, (std::vector<int64_t>{1, 2}));  // increasing expert order
  EXPECT_NEAR(r.confidence, 0.75, 1e-6);
  EXPECT_FALSE(r.fallback);
  ASSERT_EQ(r.weights.size(), 2u);
  EXPECT_NEAR(r.weights[0], 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(r.weights[1], 2.0 / 3.0, 1e-6);
}

TEST(MoeRouting, TopOneKeepsTheProbability) {
  TokenRoute r;
  route_token(kLogits, 4, {1, false, 0.0}, r);
  EXPECT_EQ(r.experts, (std::vector<int64_t>{2}));
  EXPECT_NEAR(r.weights[0], 0.5, 1e-6);
  route_token(kLogits, 4, {1, true, 0.0}, r);  // renormalized top-1: weight 1
  EXPECT_EQ(r.weights[0], 1.0f);
}

TEST(MoeRouting, TiesGoToTheLowerIndex) {
  const float tied[4] = {1.0f, 3.0f, 3.0f, 0.0f};
  TokenRoute r;
  route_token(tied, 4, {1, true, 0.0}, r);
  EXPECT_EQ(r.experts, (std::vector<int64_t>{1}));
  const float flat[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  route_token(flat, 4, {2, true, 0.0}, r);
  EXPECT_EQ(r.experts, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(r.weights, (std::vector<float>{0.5f, 0.5f}));
}

TEST(MoeRouting, FallbackBelowTheThresholdUsesEveryExpert) {
  TokenRoute r;
  route_token(kLogits, 4, {2, true, 0.7}, r);  // confidence 0.75 >= 0.7: top-2
  EXPECT_FALSE(r.fallback);
  EXPECT_EQ(r.experts.size(), 2u);
  route_token(kLogits, 4, {2, true, 0.8}, r);  // 0.75 < 0.8: all experts, the full softmax
  EXPECT_TRUE(r.fallback);
  EXPECT_EQ(r.experts, (std::vector<int64_t>{0, 1, 2, 3}));
  const std::vector<float> p = {0.125f, 0.25f, 0.5f, 0.125f};
  for (size_t e = 0; e < 4; ++e) EXPECT_NEAR(r.weights[e], p[e], 1e-7);
  route_token(kLogits, 4, {1, true, 0.7}, r);  // top-1 mass 0.5 < 0.7
  EXPECT_TRUE(r.fallback);
  route_token(kLogits, 4, {1, true, 0.0}, r);  // threshold 0: never
  EXPECT_FALSE(r.fallback);
}

TEST(MoeRouting, RefusesBadTopK) {
  TokenRoute r;
  EXPECT_THROW(route_token(kLogits, 4, {5, true, 0.0}, r), std::invalid_argument);
  EXPECT_THROW(route_token(kLogits, 4, {0, true, 0.0}, r), std::invalid_argument);
}

}  // namespace
}  // namespace qf
