#include "calibrate/precision_budget.h"

#include <algorithm>
#include <stdexcept>

namespace qf::calibrate {
namespace {

struct Partial {
  int64_t bits;
  double loss;
  int parent;  // index into the previous layer's frontier
  int option;  // this layer's option
};

}  // namespace

PrecisionChoice choose_precision(const std::vector<std::vector<PrecisionOption>>& layers, int64_t budget_bits) {
  std::vector<std::vector<Partial>> frontiers;
  std::vector<Partial> prev = {{0, 0.0, -1, -1}};
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].empty()) throw std::invalid_argument("layer " + std::to_string(l) + " has no precision options");
    std::vector<Partial> next;
    for (size_t p = 0; p < prev.size(); ++p)
      for (size_t o = 0; o < layers[l].size(); ++o) {
        const int64_t bits = prev[p].bits + layers[l][o].bits;
        if (bits > budget_bits) continue;  // sizes only grow: never within budget again
        next.push_back({bits, prev[p].loss + layers[l][o].loss, static_cast<int>(p), static_cast<int>(o)});
      }
    // Pareto frontier: by size ascending (then loss), keep each strictly better loss.
    std::sort(next.begin(), next.end(), [](const Partial& a, const Partial& b) {
      return a.bits != b.bits ? a.bits < b.bits : a.loss < b.loss;
    });
    std::vector<Partial> frontier;
    for (const Partial& c : next)
      if (frontier.empty() || c.loss < frontier.back().loss) frontier.push_back(c);
    frontiers.push_back(prev);
    prev = std::move(frontier);
    if (prev.empty()) return {};
  }
  PrecisionChoice out;
  if (prev.empty()) return out;
  // The least loss (the frontier's last entry); its size is within budget by construction.
  int idx = static_cast<int>(prev.size()) - 1;
  out.feasible = true;
  out.bits = prev[static_cast<size_t>(idx)].bits;
  out.loss = prev[static_cast<size_t>(idx)].loss;
  out.option.assign(layers.size(), -1);
  const std::vector<Partial>* cur = &prev;
  for (size_t l = layers.size(); l-- > 0;) {
    const Partial& p = (*cur)[static_cast<size_t>(idx)];
    out.option[l] = p.option;
    idx = p.parent;
    cur = &frontiers[l];
  }
  return out;
}

}  // namespace qf::calibrate
