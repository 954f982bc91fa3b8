// The statistics behind the accuracy-regression gate: summaries of per-seed values (mean,
// sample standard deviation, t-based confidence interval) and the one-sided test `qforge check`
// uses when a baseline holds a distribution (recipes/baselines/README.md, "The rule").
//
// The question is "did the recipe get worse, or did only the seeds change?". Under the null
// hypothesis (an unchanged recipe) the candidate's values come from the same distribution as the
// baseline's seeds: same mean and same spread. So the test is Student's two-sample t-test with a
// pooled standard deviation, one-sided, which is exact at alpha for normal values under that null:
//
//   baseline x_1..x_n (n >= 2), candidate y_1..y_m (m >= 1)
//   s_p^2 = ((n-1) s_x^2 + (m-1) s_y^2) / (n + m - 2),   t = (mean(y) - mean(x)) / (s_p sqrt(1/n + 1/m))
//   worse when t < t_{alpha, n+m-2}   (p = F_t(t; n+m-2) < alpha)
//
// With one candidate value (m = 1) this is the one-sided prediction bound
//   y < mean(x) - t_{1-alpha, n-1} * s_x * sqrt(1 + 1/n).
// Welch's unequal-variance test is not used: it is only approximately at alpha and measurably
// liberal with few candidate seeds (tests/gate/test_statistics.cpp prints its rate).
//
// "Worse" is "smaller": callers negate metrics where lower is better. Std-only.
#pragma once

#include <cstddef>
#include <vector>

namespace qf::gate {

struct Summary {
  size_t n = 0;
  double mean = 0;
  double std = 0;               // sample standard deviation (n - 1); 0 when n < 2
  double ci_low = 0, ci_high = 0;  // two-sided t interval for the mean; = mean when n < 2
  double confidence = 0.95;
};

Summary summarize(const std::vector<double>& values, double confidence = 0.95);

// Student's t distribution with `df` > 0 degrees of freedom (df need not be an integer).
double student_t_cdf(double t, double df);
double student_t_quantile(double p, double df);  // p in (0, 1)

// Regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1].
double incomplete_beta(double a, double b, double x);

struct TestResult {
  bool worse = false;    // the rule says the candidate is worse than the baseline
  double statistic = 0;  // t
  double df = 0;
  double p_value = 1;    // one-sided: P(a value this low | no change)
  double bound = 0;      // the lowest candidate mean that still passes
};

// The pooled one-sided t-test of candidates (m >= 1) against baseline samples (n >= 2). With no
// spread at all (s_p = 0) the bound is mean(x): any lower mean is worse.
TestResult t_test_rule(const std::vector<double>& baseline, const std::vector<double>& candidates, double alpha);
// The m = 1 case: the prediction bound for a single run.
TestResult prediction_rule(const std::vector<double>& baseline, double candidate, double alpha);
// Welch's one-sided unequal-variance test (m >= 2), kept to document why it is not the rule.
TestResult welch_rule(const std::vector<double>& baseline, const std::vector<double>& candidates, double alpha);

}  // namespace qf::gate
