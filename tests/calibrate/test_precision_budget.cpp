// The budgeted precision choice is the brute-force optimum and never exceeds its budget.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "calibrate/precision_budget.h"

namespace qf::calibrate {
namespace {

PrecisionChoice brute_force(const std::vector<std::vector<PrecisionOption>>& layers, int64_t budget) {
  PrecisionChoice best;
  best.loss = std::numeric_limits<double>::infinity();
  std::vector<int> pick(layers.size(), 0);
  while (true) {
    int64_t bits = 0;
    double loss = 0;
    for (size_t l = 0; l < layers.size(); ++l) bits += layers[l][pick[l]].bits, loss += layers[l][pick[l]].loss;
    if (bits <= budget && loss < best.loss) best = {true, pick, bits, loss};
    size_t l = 0;
    while (l < layers.size() && ++pick[l] == static_cast<int>(layers[l].size())) pick[l++] = 0;
    if (l == layers.size()) break;
  }
  if (!best.feasible) best.loss = 0;
  return best;
}

TEST(PrecisionBudget, MatchesBruteForceAndRespectsTheBudgetExactly) {
  std::mt19937 rng(4);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 7);
    std::vector<std::vector<PrecisionOption>> layers(n);
    int64_t min_bits = 0, max_bits = 0;
    for (auto& l : layers) {
      const int64_t numel = 1 + rng() % 1000;
      const double sens = std::uniform_real_distribution<double>(0, 1)(rng);
      l = {{"w4", 4 * numel + 32, sens * 3}, {"w8", 8 * numel + 32, sens * 0.2}, {"float", 32 * numel, 0.0}};
      min_bits += l[0].bits;
      max_bits += l[2].bits;
    }
    const int64_t budget = min_bits + static_cast<int64_t>(rng() % static_cast<uint64_t>(max_bits - min_bits + 1));
    const PrecisionChoice dp = choose_precision(layers, budget), bf = brute_force(layers, budget);
    ASSERT_TRUE(dp.feasible);
    EXPECT_LE(dp.bits, budget);
    EXPECT_NEAR(dp.loss, bf.loss, 1e-12) << "trial " << trial;
    int64_t bits = 0;
    for (int l = 0; l < n; ++l) bits += layers[l][dp.option[l]].bits;
    EXPECT_EQ(bits, dp.bits);
  }
}

TEST(PrecisionBudget, BudgetIsInclusiveAndOneBitLessIsInfeasible) {
  const std::vector<std::vector<PrecisionOption>> layers = {{{"w4", 100, 1.0}, {"float", 800, 0.0}},
                                                            {{"w4", 50, 2.0}, {"float", 400, 0.0}}};
  const PrecisionChoice exact = choose_precision(layers, 150);
  ASSERT_TRUE(exact.feasible);
  EXPECT_EQ(exact.bits, 150);
  EXPECT_FALSE(choose_precision(layers, 149).feasible);
  // 450 bits: the second (more sensitive) layer goes float, the first stays int4.
  const PrecisionChoice mid = choose_precision(layers, 500);
  EXPECT_EQ(mid.option, (std::vector<int>{0, 1}));
  EXPECT_EQ(mid.bits, 500);
}

}  // namespace
}  // namespace qf::calibrate
