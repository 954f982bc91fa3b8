#include "gate/compare.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "gate/metrics.h"
#include "gate/statistics.h"

namespace qf::gate {

bool CheckReport::passed() const { return failures() == 0; }
int CheckReport::failures() const {
  int n = 0;
  for (const MetricResult& r : results) n += r.passed ? 0 : 1;
  return n;
}

namespace {

std::string num(double v, int prec = 4) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", prec, v);
  return buf;
}

std::vector<double> oriented(const std::vector<double>& v, bool higher) {
  std::vector<double> o = v;
  if (!higher)
    for (double& x : o) x = -x;
  return o;
}

}  // namespace

CheckReport compare(const Baseline& b, const Measurements& measured, const std::string& target) {
  CheckReport rep;
  rep.target = target;
  rep.baseline_file = b.file;
  rep.recipe = b.recipe;
  rep.alpha = b.alpha;
  for (const MetricBaseline& mb : b.metrics) {
    const MetricInfo* info = find_metric(mb.name);
    const auto it = measured.find(mb.name);
    if (!info || it == measured.end() || it->second.empty())
      throw std::runtime_error(b.file + ":" + std::to_string(mb.line) + ": metric '" + mb.name +
                               "' is not measured for " + target +
                               (info && std::string(info->name) == "perplexity" ? " (not a language model?)" : "") +
                               (info && std::string(info->name) == "accuracy" ? " (not a classifier?)" : ""));
    MetricResult r;
    r.name = mb.name;
    r.unit = info->unit;
    r.higher_is_better = info->higher_is_better;
    r.values = it->second;
    r.candidate = summarize(r.values).mean;
    const double sign = r.higher_is_better ? 1 : -1;
    const bool stat = mb.seeds.size() >= 2;
    const Summary base = summarize(mb.seeds);
    r.reference = stat ? base.mean : *mb.value;
    const double margin = std::max(mb.tolerance, mb.tolerance_pct / 100.0 * std::fabs(r.reference));
    // How much worse the candidate is than the reference (> 0 = worse), in metric units.
    const double worsening = sign * (r.reference - r.candidate);
    const std::string better = r.higher_is_better ? "higher" : "lower";
    const std::string cand_text =
        r.values.size() == 1 ? num(r.candidate, 6) : "mean " + num(r.candidate, 6) + " of " + std::to_string(r.values.size()) + " seeds";
    if (!stat) {
      r.rule = "margin";
      r.limit = r.reference - sign * margin;
      r.baseline_text = num(r.reference, 6) + (margin > 0 ? " (" + std::string(r.higher_is_better ? "-" : "+") + num(margin, 3) + ")" : "");
      r.passed = !(worsening > margin) && std::isfinite(r.candidate);
      r.message = r.name + " " + cand_text + (r.passed ? " within " : " beyond ") + "the allowed " +
                  (r.higher_is_better ? "drop" : "rise") + " of " + num(margin, 3) + " from " + num(r.reference, 6) +
                  " (limit " + num(r.limit, 6) + ", " + better + " is better)";
    } else {
      r.baseline_text = num(base.mean, 6) + " ± " + num(base.std, 2) + " (" + std::to_string(base.n) + " seeds)";
      const std::vector<double> bx = oriented(mb.seeds, r.higher_is_better);
      r.rule = r.values.size() == 1 ? "prediction" : "t-test";
      const TestResult t = t_test_rule(bx, oriented(r.values, r.higher_is_better), b.alpha);
      r.limit = sign * t.bound;
      r.p_value = t.p_value;
      const bool beyond_margin = worsening > margin;
      r.passed = !(t.worse && beyond_margin) && std::isfinite(r.candidate);
      std::string why = r.rule == "prediction" ? "one-sided prediction bound "
                        : r.higher_is_better    ? "pooled one-sided t-test, lowest passing mean "
                                                : "pooled one-sided t-test, highest passing mean ";
      why += num(r.limit, 6) + ", t = " + num(t.statistic, 3) + ", df " + num(t.df, 3) + ", p = " + num(t.p_value, 3) +
             (t.worse ? " < " : " >= ") + "alpha " + num(b.alpha, 3);
      if (r.passed)
        r.message = r.name + " " + cand_text + ": no regression against " + r.baseline_text + " (" + why +
                    (t.worse && !beyond_margin ? "; worse, but within the tolerance " + num(margin, 3) : "") + ")";
      else
        r.message = r.name + " " + cand_text + " is worse than the baseline " + r.baseline_text + " beyond noise (" + why +
                    (margin > 0 ? ", and by more than the tolerance " + num(margin, 3) : "") + "; " + better + " is better)";
    }
    if (!std::isfinite(r.candidate)) r.message = r.name + " is not a finite number (" + num(r.candidate) + ")";
    rep.results.push_back(std::move(r));
  }
  return rep;
}

}  // namespace qf::gate
