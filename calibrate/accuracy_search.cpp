#include "calibrate/accuracy_search.h"

#include <cmath>
#include <stdexcept>

namespace qf::calibrate {

std::vector<PrecisionChoice> precision_frontier(const std::vector<std::vector<PrecisionOption>>& layers,
                                                size_t max_points) {
  // Walk down from the unconstrained optimum: the least loss at every budget just below the last
  // size found. Each step's choice has the least loss among all strictly smaller configurations,
  // so together they are the frontier (plus dominated points where a smaller mix ties the loss,
  // removed below).
  int64_t budget = 0;
  for (const auto& l : layers) {
    if (l.empty()) throw std::invalid_argument("precision_frontier: a layer has no options");
    int64_t most = 0;
    for (const auto& o : l) most = std::max(most, o.bits);
    budget += most;
  }
  std::vector<PrecisionChoice> down;
  for (;;) {
    PrecisionChoice c = choose_precision(layers, budget);
    if (!c.feasible) break;
    budget = c.bits - 1;
    down.push_back(std::move(c));
  }
  std::vector<PrecisionChoice> front;  // ascending size, strictly descending loss
  for (size_t i = down.size(); i-- > 0;)
    if (front.empty() || down[i].loss < front.back().loss) front.push_back(std::move(down[i]));
  if (max_points == 0 || front.size() <= max_points) return front;
  if (max_points == 1) return {front.back()};
  std::vector<PrecisionChoice> thin;
  for (size_t k = 0; k < max_points; ++k) {
    const size_t i = static_cast<size_t>(std::llround(static_cast<double>(k) * static_cast<double>(front.size() - 1) /
                                                      static_cast<double>(max_points - 1)));
    if (thin.empty() || thin.back().bits != front[i].bits) thin.push_back(front[i]);
  }
  return thin;
}

SearchOutcome search_accuracy_limit(size_t count, double max_drop, const std::function<double(size_t)>& measure) {
  SearchOutcome out;
  if (count == 0) return out;
  auto probe = [&](size_t i) {
    const double d = measure(i);
    const bool ok = std::isfinite(d) && d <= max_drop;
    out.trials.push_back({i, d, ok});
    return ok;
  };
  size_t hi = count - 1;  // invariant after the first probe: hi was measured within the limit
  if (!probe(hi)) return out;
  size_t lo = 0;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (probe(mid)) hi = mid;
    else lo = mid + 1;
  }
  out.chosen = static_cast<int>(hi);
  return out;
}

}  // namespace qf::calibrate
