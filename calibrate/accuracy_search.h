// Compression that stops at an accuracy limit (`qforge sensitivity --max-drop`): the candidate
// configurations are the Pareto frontier of the sensitivity table (for each size, the mix with the
// least estimated loss, calibrate/precision_budget.h), ordered from most to least compressed; the
// search measures candidates — calibrated, exported and evaluated through the runtime by the
// caller — and returns the most compressed one whose *measured* drop stays within the limit.
//
// Why a binary search over the frontier: the estimated loss falls monotonically as the size grows
// along the frontier, so the measured drop does too, to within evaluation noise; with that
// assumption log2(N) + 1 measurements find the boundary instead of N. Where the measurements are
// not monotone, the answer is still a candidate that was measured within the limit (never an
// extrapolation) — possibly not the smallest such one; every trial is returned so the table shows
// what was tried. Std-only: tested with synthetic measurements.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "calibrate/precision_budget.h"

namespace qf::calibrate {

// Every configuration that no other beats on both size and estimated loss, by size ascending
// (estimated loss then strictly descending). At most `max_points` (0: all), thinned evenly when
// more, the smallest and the largest always kept.
std::vector<PrecisionChoice> precision_frontier(const std::vector<std::vector<PrecisionOption>>& layers,
                                                size_t max_points = 0);

struct SearchTrial {
  size_t candidate = 0;  // index into the candidates (0 = most compressed)
  double drop = 0;       // measured drop (points, or % perplexity): what `measure` returned
  bool within = false;   // drop <= max_drop
};

struct SearchOutcome {
  int chosen = -1;  // the most compressed candidate measured within the limit; -1: none was
  std::vector<SearchTrial> trials;  // in the order measured
};

// candidates 0..count-1 from most to least compressed. The least compressed is measured first: if
// even it exceeds `max_drop`, nothing qualifies (chosen = -1) and the search stops there.
SearchOutcome search_accuracy_limit(size_t count, double max_drop, const std::function<double(size_t)>& measure);

}  // namespace qf::calibrate
