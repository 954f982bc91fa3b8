// The gate's statistics: the t distribution against published table values, summaries, and the
// two rules' false-alarm rates and power measured by simulation (the documented behaviour:
// recipes/baselines/README.md, "The rule").
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "gate/statistics.h"

using namespace qf::gate;

TEST(Statistics, StudentTMatchesTableValues) {
  // Two-sided critical values from any t table (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.95, 9), 1.833, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.99, 4), 3.747, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.995, 30), 2.750, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.05, 9), -1.833, 1e-3);
  // Cauchy (df 1) has a closed form: F(t) = 1/2 + atan(t)/pi.
  for (double t : {-7.0, -1.0, 0.3, 2.5}) EXPECT_NEAR(student_t_cdf(t, 1), 0.5 + std::atan(t) / M_PI, 1e-12);
  // Large df tends to the normal: Phi(1.96) = 0.9750021.
  EXPECT_NEAR(student_t_cdf(1.96, 1e7), 0.9750021, 1e-6);
  EXPECT_DOUBLE_EQ(student_t_cdf(0, 3.5), 0.5);
}

TEST(Statistics, IncompleteBetaClosedForms) {
  // I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a.
  EXPECT_NEAR(incomplete_beta(1, 3, 0.2), 1 - std::pow(0.8, 3), 1e-13);
  EXPECT_NEAR(incomplete_beta(2.5, 1, 0.7), std::pow(0.7, 2.5), 1e-13);
  EXPECT_THROW(incomplete_beta(0, 1, 0.5), std::invalid_argument);
}

TEST(Statistics, SummaryMeanStdAndInterval) {
  const Summary s = summarize({1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_NEAR(s.std, std::sqrt(2.5), 1e-12);
  const double half = 2.776445 * std::sqrt(2.5) / std::sqrt(5.0);
  EXPECT_NEAR(s.ci_low, 3 - half, 1e-5);
  EXPECT_NEAR(s.ci_high, 3 + half, 1e-5);
  const Summary one = summarize({7});
  EXPECT_EQ(one.std, 0);
  EXPECT_EQ(one.ci_low, 7);
}

TEST(Statistics, PredictionRuleBoundAndDegenerateSpread) {
  // The prediction bound is the pooled t-test with one candidate.
  const std::vector<double> base = {92.8, 92.9, 93.0, 92.9, 93.1};
  const TestResult r = prediction_rule(base, 92.0, 0.01);
  const Summary s = summarize(base);
  EXPECT_NEAR(r.bound, s.mean - student_t_quantile(0.99, 4) * s.std * std::sqrt(1.2), 1e-9);
  EXPECT_TRUE(r.worse);
  EXPECT_FALSE(prediction_rule(base, 92.9, 0.01).worse);
  // No spread: anything below the value is worse, the value itself is not.
  EXPECT_TRUE(prediction_rule({4, 4, 4}, 3.999, 0.05).worse);
  EXPECT_FALSE(prediction_rule({4, 4, 4}, 4, 0.05).worse);
  EXPECT_THROW(prediction_rule({1}, 1, 0.05), std::invalid_argument);
  EXPECT_THROW(prediction_rule({1, 2}, 1, 0.7), std::invalid_argument);
}

namespace {

// Fraction of `trials` in which the rule calls a candidate worse: baseline n draws and m candidate
// draws from N(0, 1), the candidate's mean shifted by `shift` standard deviations.
double rejection_rate(int n, int m, double shift, double alpha, int trials, unsigned seed, bool welch = false) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0, 1);
  int worse = 0;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> x(n), y(m);
    for (double& v : x) v = z(rng);
    for (double& v : y) v = z(rng) + shift;
    const TestResult r = welch ? welch_rule(x, y, alpha) : t_test_rule(x, y, alpha);
    worse += r.worse ? 1 : 0;
  }
  return static_cast<double>(worse) / trials;
}

}  // namespace

// An unchanged recipe: the false-alarm rate is alpha, within 4 binomial standard errors.
TEST(Statistics, PredictionRuleFalseAlarmRateIsAlpha) {
  const int trials = 40000;
  for (const auto& [n, alpha] : std::vector<std::pair<int, double>>{{3, 0.05}, {5, 0.05}, {5, 0.01}, {10, 0.1}}) {
    const double rate = rejection_rate(n, 1, 0.0, alpha, trials, 17 + n);
    const double se = std::sqrt(alpha * (1 - alpha) / trials);
    std::printf("prediction-rule false-alarm rate, n=%d alpha=%.2f: %.4f (+-4 SE = %.4f)\n", n, alpha, rate, 4 * se);
    EXPECT_NEAR(rate, alpha, 4 * se) << "n=" << n << " alpha=" << alpha;
  }
}

// Several candidate seeds: the pooled t-test is exact too (equal spreads are the null hypothesis).
TEST(Statistics, TTestFalseAlarmRateIsAlpha) {
  const int trials = 40000;
  for (const double alpha : {0.05, 0.01}) {
    for (const auto& [n, m] : std::vector<std::pair<int, int>>{{5, 3}, {5, 5}, {10, 3}}) {
      const double rate = rejection_rate(n, m, 0.0, alpha, trials, 101 + n * 7 + m);
      const double se = std::sqrt(alpha * (1 - alpha) / trials);
      std::printf("t-test false-alarm rate, n=%d m=%d alpha=%.2f: %.4f (+-4 SE = %.4f)\n", n, m, alpha, rate, 4 * se);
      EXPECT_NEAR(rate, alpha, 4 * se) << "n=" << n << " m=" << m;
    }
  }
}

// Why the rule is not Welch's test: its false-alarm rate is only approximately alpha, and with few
// candidate seeds against more baseline seeds it is liberal (measured about 1.5 alpha at
// n = 10, m = 3, alpha = 0.01). The test pins that it is off, so the reason stays true.
TEST(Statistics, WelchWouldBeLiberalWithFewCandidateSeeds) {
  const double alpha = 0.01;
  const int trials = 40000;
  const double rate = rejection_rate(10, 3, 0.0, alpha, trials, 171, /*welch=*/true);
  const double se = std::sqrt(alpha * (1 - alpha) / trials);
  std::printf("Welch false-alarm rate, n=10 m=3 alpha=0.01: %.4f\n", rate);
  EXPECT_GT(rate, alpha + 4 * se);
}

// A real regression (the mean moved by 3 standard deviations, or 5 for a single candidate against
// 5 seeds): the rules catch it most of the time, and a change for the better never fails.
TEST(Statistics, ShiftedDistributionFails) {
  EXPECT_GT(rejection_rate(5, 5, -3.0, 0.05, 4000, 5), 0.95);
  EXPECT_GT(rejection_rate(5, 1, -5.0, 0.05, 4000, 6), 0.8);
  EXPECT_LT(rejection_rate(5, 5, +1.0, 0.05, 4000, 7), 0.01);
  EXPECT_LT(rejection_rate(5, 1, +1.0, 0.05, 4000, 8), 0.01);
}
