// Sparsity schedules: the target sparsity at each optimizer step.
//   cubic     Zhu & Gupta 2017, "To prune, or not to prune": from `initial` at start_step to
//             `final` at end_step, s(t) = final + (initial - final) * (1 - (t - t0) / (t1 - t0))^3,
//             evaluated only every `update_every` steps (the masks change at those steps).
//   one_shot  `final` from start_step on (prune once, then fine-tune with the mask fixed).
//   constant  `final` from the first step.
// Std only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace qf::sparsify {

struct SparsitySchedule {
  std::string type = "cubic";  // cubic | one_shot | constant
  double initial = 0.0, final = 0.5;
  int64_t start_step = 0, end_step = 0;
  int64_t update_every = 1;

  // Target sparsity in [0, 1] at `step`; negative before start_step (no mask yet).
  double at(int64_t step) const {
    if (type == "constant") return final;
    if (step < start_step) return -1.0;
    if (type == "one_shot" || step >= end_step) return final;
    const int64_t every = std::max<int64_t>(1, update_every);
    const int64_t t = start_step + (step - start_step) / every * every;  // last update point
    const double progress = static_cast<double>(t - start_step) / static_cast<double>(end_step - start_step);
    return final + (initial - final) * std::pow(1.0 - progress, 3.0);
  }
  // True when masks must be recomputed at `step`.
  bool updates_at(int64_t step) const {
    if (type == "constant") return step == 0;
    if (step < start_step) return false;
    if (type == "one_shot") return step == start_step;
    if (step > end_step) return false;
    return (step - start_step) % std::max<int64_t>(1, update_every) == 0 || step == end_step;
  }
};

}  // namespace qf::sparsify
