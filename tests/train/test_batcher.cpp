// Deterministic batching: permutations, batches and language-model windows are pure functions of
// (seed, epoch[, step]).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <stdexcept>
#include <vector>

#include "train/batcher.h"

namespace {

bool is_permutation_of_iota(std::vector<int64_t> p) {
  std::sort(p.begin(), p.end());
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

TEST(EpochPermutation, SameSeedAndEpochSameOrder) {
  const auto a = qf::epoch_permutation(1000, 42, 3);
  const auto b = qf::epoch_permutation(1000, 42, 3);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(is_permutation_of_iota(a));
  // A "resumed" run computing epoch 3 directly, after other calls, matches too.
  qf::epoch_permutation(1000, 42, 0);
  qf::epoch_permutation(1000, 7, 3);
  EXPECT_EQ(qf::epoch_permutation(1000, 42, 3), a);
}

TEST(EpochPermutation, DifferentEpochOrSeedDifferentOrder) {
  const auto a = qf::epoch_permutation(1000, 42, 3);
  EXPECT_NE(a, qf::epoch_permutation(1000, 42, 4));
  EXPECT_NE(a, qf::epoch_permutation(1000, 43, 3));
  // Not the identity (a shuffle actually happened).
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_NE(a, iota);
}

TEST(EpochPermutation, EdgeSizes) {
  EXPECT_TRUE(qf::epoch_permutation(0, 1, 0).empty());
  EXPECT_EQ(qf::epoch_permutation(1, 1, 0), (std::vector<int64_t>{0}));
  EXPECT_TRUE(is_permutation_of_iota(qf::epoch_permutation(2, 1, 0)));
  EXPECT_THROW(qf::epoch_permutation(-1, 1, 0), std::invalid_argument);
}

TEST(EpochPermutation, RoughlyUniformFirstElement) {
  // Over many epochs, position 0 takes each of 4 values about equally often (a biased shuffle,
  // e.g. the classic "swap with any index" bug, fails this).
  std::vector<int> count(4, 0);
  for (int e = 0; e < 4000; ++e) ++count[static_cast<size_t>(qf::epoch_permutation(4, 9, e)[0])];
  for (int c : count) EXPECT_NEAR(c, 1000, 120);
}

TEST(Batches, SizesWithAndWithoutLastPartial) {
  std::vector<int64_t> order(10);
  std::iota(order.begin(), order.end(), 0);
  const auto keep = qf::make_batches(order, 4);
  ASSERT_EQ(keep.size(), 3u);
  EXPECT_EQ(keep[0], (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(keep[1], (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(keep[2], (std::vector<int64_t>{8, 9}));
  const auto drop = qf::make_batches(order, 4, /*drop_last=*/true);
  ASSERT_EQ(drop.size(), 2u);
  EXPECT_EQ(drop[1].size(), 4u);
  EXPECT_EQ(qf::num_batches(10, 4), 3);
  EXPECT_EQ(qf::num_batches(10, 4, true), 2);
  EXPECT_EQ(qf::num_batches(8, 4), 2);
  EXPECT_EQ(qf::num_batches(8, 4, true), 2);
  EXPECT_EQ(qf::num_batches(0, 4), 0);
  EXPECT_EQ(qf::batch_at(order, 4, 2), (std::vector<int64_t>{8, 9}));
  EXPECT_THROW(qf::batch_at(order, 4, 3), std::out_of_range);
  EXPECT_THROW(qf::num_batches(10, 0), std::invalid_argument);
}

TEST(Subset, FixedSortedAndDistinct) {
  const auto s = qf::subset_indices(1000, 100, 5);
  ASSERT_EQ(s.size(), 100u);
  EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
  EXPECT_EQ(std::set<int64_t>(s.begin(), s.end()).size(), 100u);
  EXPECT_EQ(s, qf::subset_indices(1000, 100, 5));
  EXPECT_NE(s, qf::subset_indices(1000, 100, 6));
  EXPECT_LT(s.back() - s.front(), 1000);
  EXPECT_GT(s.back(), 500);  // spread over the data, not the first 100
  EXPECT_EQ(qf::subset_indices(5, 0, 1), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(qf::subset_indices(5, 9, 1), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(LmWindows, DeterministicPerStepAndInRange) {
  const int64_t len = 5000, ctx = 128;
  const auto a = qf::lm_window_starts(len, ctx, 64, 1, 2, 300);
  ASSERT_EQ(a.size(), 64u);
  EXPECT_EQ(a, qf::lm_window_starts(len, ctx, 64, 1, 2, 300));
  EXPECT_NE(a, qf::lm_window_starts(len, ctx, 64, 1, 2, 301));
  EXPECT_NE(a, qf::lm_window_starts(len, ctx, 64, 1, 3, 300));
  EXPECT_NE(a, qf::lm_window_starts(len, ctx, 64, 2, 2, 300));
  for (int64_t s : a) {
    EXPECT_GE(s, 0);
    EXPECT_LE(s + ctx + 1, len);  // the whole window (inputs + shifted targets) fits
  }
  // A stream of exactly one window has a single possible start.
  for (int64_t s : qf::lm_window_starts(ctx + 1, ctx, 8, 0, 0, 0)) EXPECT_EQ(s, 0);
  EXPECT_THROW(qf::lm_window_starts(ctx, ctx, 8, 0, 0, 0), std::invalid_argument);
}

TEST(LmWindows, LastStartIsReachable) {
  std::set<int64_t> seen;
  for (int step = 0; step < 200; ++step)
    for (int64_t s : qf::lm_window_starts(13, 10, 4, 0, 0, step)) seen.insert(s);
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2}));
}

TEST(LmEval, ConsecutiveWindows) {
  EXPECT_EQ(qf::lm_eval_starts(10, 3), (std::vector<int64_t>{0, 3, 6}));  // 6 + 4 = 10 fits
  EXPECT_EQ(qf::lm_eval_starts(9, 3), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(qf::lm_eval_starts(10, 3, 2), (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(qf::lm_eval_starts(3, 3).empty());
}

}  // namespace
