// The statistics behind the accuracy-regression gate: summaries of per-seed values (mean,
// sample standard deviation, t-based confidence interval) and the two one-sided tests `qforge
// check` uses when a baseline holds a distribution (recipes/baselines/README.md, "The rule"):
//
//   one candidate value y against baseline seeds x_1..x_n (n >= 2): a one-sided prediction
//     bound. y is worse when it lies beyond  mean(x) - t_{1-alpha, n-1} * s(x) * sqrt(1 + 1/n).
//     If y is another draw from the baseline's normal distribution, (y - mean)/(s sqrt(1+1/n))
//     follows Student's t with n-1 degrees of freedom, so the false-alarm rate is exactly alpha.
//   several candidate values y_1..y_m (m >= 2): Welch's one-sided t-test of mean(y) < mean(x),
//     rejected at p < alpha (Welch-Satterthwaite degrees of freedom; its false-alarm rate is
//     alpha up to the approximation, checked by simulation in tests/gate).
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
  double statistic = 0;  // t (Welch) or the standardized distance (prediction rule)
  double df = 0;
  double p_value = 1;    // one-sided: P(a value this low | no change)
  double bound = 0;      // prediction rule: the lowest value that still passes; Welch: unused (0)
};

// One candidate against baseline samples (n >= 2). With s(x) = 0 the bound is mean(x).
TestResult prediction_rule(const std::vector<double>& baseline, double candidate, double alpha);
// Several candidates (m >= 2) against baseline samples (n >= 2).
TestResult welch_rule(const std::vector<double>& baseline, const std::vector<double>& candidates, double alpha);

}  // namespace qf::gate
