#include "gate/statistics.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace qf::gate {

Summary summarize(const std::vector<double>& v, double confidence) {
  Summary s;
  s.n = v.size();
  s.confidence = confidence;
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(s.n);
  s.ci_low = s.ci_high = s.mean;
  if (s.n < 2) return s;
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(ss / static_cast<double>(s.n - 1));
  const double half = student_t_quantile(0.5 + confidence / 2, static_cast<double>(s.n - 1)) * s.std /
                      std::sqrt(static_cast<double>(s.n));
  s.ci_low = s.mean - half;
  s.ci_high = s.mean + half;
  return s;
}

namespace {

// Continued fraction of the incomplete beta function (modified Lentz), valid and quickly
// convergent for x < (a + 1) / (a + b + 2); the caller uses the symmetry I_x(a,b) = 1 - I_{1-x}(b,a)
// otherwise.
double beta_continued_fraction(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-15;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double f = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    // even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
    double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    f *= d * c;
    // odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    f *= delta;
    if (std::fabs(delta - 1) < eps) return f;
  }
  return f;  // not reached for the (a, b) the t distribution uses
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1))
    throw std::invalid_argument("incomplete_beta: need a, b > 0 and x in [0, 1]");
  if (x == 0 || x == 1) return x;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return std::exp(log_front) * beta_continued_fraction(a, b, x) / a;
  return 1 - std::exp(log_front) * beta_continued_fraction(b, a, 1 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (!(df > 0)) throw std::invalid_argument("student_t_cdf: df must be > 0, got " + std::to_string(df));
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  // P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2)
  const double tail = incomplete_beta(df / 2, 0.5, df / (df + t * t));
  return t >= 0 ? 1 - tail / 2 : tail / 2;
}

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) throw std::invalid_argument("student_t_quantile: p must be in (0, 1)");
  if (p == 0.5) return 0;
  // Bracket, then bisect: the CDF is monotone; 200 halvings reach double precision.
  double lo = -1, hi = 1;
  while (student_t_cdf(lo, df) > p) lo *= 2;
  while (student_t_cdf(hi, df) < p) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, std::fabs(lo)); ++i) {
    const double mid = (lo + hi) / 2;
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

namespace {
void check_alpha(double alpha) {
  if (!(alpha > 0 && alpha < 0.5)) throw std::invalid_argument("alpha must be in (0, 0.5), got " + std::to_string(alpha));
}
}  // namespace

TestResult t_test_rule(const std::vector<double>& baseline, const std::vector<double>& cand, double alpha) {
  check_alpha(alpha);
  if (baseline.size() < 2 || cand.empty())
    throw std::invalid_argument("the t-test rule needs >= 2 baseline values and >= 1 candidate value");
  const Summary x = summarize(baseline), y = summarize(cand);
  const double n = static_cast<double>(x.n), m = static_cast<double>(y.n);
  TestResult r;
  r.df = n + m - 2;
  const double sp = std::sqrt(((n - 1) * x.std * x.std + (m - 1) * y.std * y.std) / r.df);
  const double se = sp * std::sqrt(1 / n + 1 / m);
  if (se == 0) {
    r.bound = x.mean;
    r.worse = y.mean < x.mean;
    r.statistic = r.worse ? -std::numeric_limits<double>::infinity() : 0;
    r.p_value = r.worse ? 0 : 1;
    return r;
  }
  r.statistic = (y.mean - x.mean) / se;
  r.p_value = student_t_cdf(r.statistic, r.df);
  r.bound = x.mean - student_t_quantile(1 - alpha, r.df) * se;
  r.worse = y.mean < r.bound;
  return r;
}

TestResult prediction_rule(const std::vector<double>& baseline, double y, double alpha) {
  return t_test_rule(baseline, {y}, alpha);
}

TestResult welch_rule(const std::vector<double>& baseline, const std::vector<double>& cand, double alpha) {
  check_alpha(alpha);
  if (baseline.size() < 2 || cand.size() < 2)
    throw std::invalid_argument("Welch's test needs >= 2 baseline and >= 2 candidate values");
  const Summary x = summarize(baseline), y = summarize(cand);
  const double vx = x.std * x.std / static_cast<double>(x.n), vy = y.std * y.std / static_cast<double>(y.n);
  TestResult r;
  if (vx + vy == 0) {  // both constant: a plain comparison
    r.worse = y.mean < x.mean;
    r.p_value = r.worse ? 0 : 1;
    r.df = static_cast<double>(x.n + y.n - 2);
    return r;
  }
  r.statistic = (y.mean - x.mean) / std::sqrt(vx + vy);
  r.df = (vx + vy) * (vx + vy) /
         ((vx == 0 ? 0 : vx * vx / static_cast<double>(x.n - 1)) + (vy == 0 ? 0 : vy * vy / static_cast<double>(y.n - 1)));
  r.p_value = student_t_cdf(r.statistic, r.df);
  r.worse = r.p_value < alpha;
  return r;
}

}  // namespace qf::gate
