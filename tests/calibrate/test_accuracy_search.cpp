// The accuracy-limited search: its candidates are exactly the Pareto frontier of the sensitivity
// table (checked against brute force), and the search over measured drops returns the most
// compressed candidate within the limit, in log2(N) + 1 measurements when drops are monotone.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "calibrate/accuracy_search.h"

namespace qf::calibrate {
namespace {

std::vector<std::vector<PrecisionOption>> random_layers(std::mt19937& rng, int n) {
  std::vector<std::vector<PrecisionOption>> layers(n);
  for (auto& l : layers) {
    const int64_t numel = 1 + rng() % 500;
    const double sens = std::uniform_real_distribution<double>(0.01, 1)(rng);
    l = {{"w2", 2 * numel + 32, sens * 9}, {"w4", 4 * numel + 32, sens * 2}, {"w8", 8 * numel + 32, sens * 0.1},
         {"float", 32 * numel, 0.0}};
  }
  return layers;
}

// All (bits, loss) of every configuration; the frontier is those that nothing dominates.
std::vector<std::pair<int64_t, double>> brute_frontier(const std::vector<std::vector<PrecisionOption>>& layers) {
  std::vector<std::pair<int64_t, double>> all;
  std::vector<size_t> pick(layers.size(), 0);
  for (;;) {
    int64_t b = 0;
    double s = 0;
    for (size_t l = 0; l < layers.size(); ++l) b += layers[l][pick[l]].bits, s += layers[l][pick[l]].loss;
    all.push_back({b, s});
    size_t l = 0;
    while (l < layers.size() && ++pick[l] == layers[l].size()) pick[l++] = 0;
    if (l == layers.size()) break;
  }
  std::vector<std::pair<int64_t, double>> front;
  for (const auto& a : all) {
    bool dominated = false;
    for (const auto& o : all)
      if ((o.first <= a.first && o.second < a.second - 1e-12) || (o.first < a.first && o.second <= a.second + 1e-12))
        dominated = true;
    if (!dominated) front.push_back(a);
  }
  std::sort(front.begin(), front.end());
  front.erase(std::unique(front.begin(), front.end(),
                          [](const auto& x, const auto& y) { return x.first == y.first; }),
              front.end());
  return front;
}

TEST(AccuracySearch, FrontierIsTheBruteForceParetoSetBySizeAscending) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    const auto layers = random_layers(rng, 1 + static_cast<int>(rng() % 5));
    const auto front = precision_frontier(layers);
    const auto bf = brute_frontier(layers);
    ASSERT_EQ(front.size(), bf.size()) << "trial " << trial;
    for (size_t i = 0; i < front.size(); ++i) {
      EXPECT_EQ(front[i].bits, bf[i].first);
      EXPECT_NEAR(front[i].loss, bf[i].second, 1e-9);
      if (i) {
        EXPECT_LT(front[i].loss, front[i - 1].loss);  // more bits buy strictly less loss
      }
    }
    // The smallest is every layer at its smallest format; the largest has zero loss (all float).
    EXPECT_EQ(front.back().loss, 0.0);
  }
}

TEST(AccuracySearch, ThinnedFrontierKeepsBothEnds) {
  std::mt19937 rng(3);
  const auto layers = random_layers(rng, 5);
  const auto full = precision_frontier(layers);
  ASSERT_GT(full.size(), 8u);
  const auto thin = precision_frontier(layers, 8);
  ASSERT_LE(thin.size(), 8u);
  EXPECT_EQ(thin.front().bits, full.front().bits);
  EXPECT_EQ(thin.back().bits, full.back().bits);
}

TEST(AccuracySearch, FindsTheMostCompressedCandidateWithinTheLimitInLogTime) {
  for (size_t count : {1u, 2u, 3u, 7u, 16u, 33u, 100u}) {
    for (size_t boundary = 0; boundary <= count; ++boundary) {
      // Drops fall with size: candidates below `boundary` exceed the limit 0.3, the rest are within.
      auto drop = [&](size_t i) { return i < boundary ? 0.31 + 0.1 * static_cast<double>(boundary - i) : 0.3; };
      const SearchOutcome o = search_accuracy_limit(count, 0.3, drop);
      if (boundary == count) {
        EXPECT_EQ(o.chosen, -1);
        EXPECT_EQ(o.trials.size(), 1u) << "stops after the least compressed fails";
      } else {
        EXPECT_EQ(o.chosen, static_cast<int>(boundary)) << count << " " << boundary;
      }
      EXPECT_LE(o.trials.size(), 2 + static_cast<size_t>(std::ceil(std::log2(static_cast<double>(count)))));
      for (const auto& t : o.trials) EXPECT_EQ(t.within, t.drop <= 0.3);
    }
  }
}

TEST(AccuracySearch, NonMonotoneDropsStillGiveAMeasuredPassingCandidate) {
  // Within, except a noisy bump at 5: whatever the search picks was measured within the limit.
  auto drop = [](size_t i) { return i == 5 ? 0.9 : (i < 2 ? 1.0 : 0.1); };
  const SearchOutcome o = search_accuracy_limit(10, 0.5, drop);
  ASSERT_GE(o.chosen, 0);
  bool measured = false;
  for (const auto& t : o.trials) measured |= t.candidate == static_cast<size_t>(o.chosen) && t.within;
  EXPECT_TRUE(measured);
  // A measurement that failed (NaN: the checkpoint did not validate) is never within.
  const SearchOutcome nan = search_accuracy_limit(3, 0.5, [](size_t) { return std::nan(""); });
  EXPECT_EQ(nan.chosen, -1);
}

}  // namespace
}  // namespace qf::calibrate
