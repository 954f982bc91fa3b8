// Mixed precision under a size budget: each layer picks one of its candidate formats (int4 per
// group, int8, float, ...), each with a size in bits and an estimated loss increase (the layer's
// sensitivity, qforge sensitivity); the choice minimises the summed loss increase subject to the
// summed size staying within the budget. A multiple-choice knapsack, solved exactly by dynamic
// programming over layers on the Pareto frontier of (size, loss) partial solutions: a partial
// choice is dropped only when another is no larger and no worse, so the optimum always survives,
// and sizes are integers (bits), so "within budget" is exact — no rounding of costs.
// Std-only: tested against brute force.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qf::calibrate {

struct PrecisionOption {
  std::string format;  // e.g. "w4g32", "w8", "float"
  int64_t bits = 0;    // storage of the layer's weights (codes and scales) in this format
  double loss = 0;     // estimated loss increase when the layer is in this format
};

struct PrecisionChoice {
  bool feasible = false;
  std::vector<int> option;  // per layer, the index of its chosen option
  int64_t bits = 0;
  double loss = 0;
};

// layers[l]: layer l's options (at least one). Infeasible (feasible = false) when even the smallest
// choice exceeds `budget_bits`.
PrecisionChoice choose_precision(const std::vector<std::vector<PrecisionOption>>& layers, int64_t budget_bits);

}  // namespace qf::calibrate
