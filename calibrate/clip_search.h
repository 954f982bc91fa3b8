// Clipping-range search on a histogram: the math behind the percentile, MSE and KL observers,
// std-only so it can be tested on hand-made histograms with known answers.
//
// A Histogram counts values in `bins` equal bins over [lo, hi]. All searches return a clip range
// [clip_lo, clip_hi] inside [lo, hi]; quantizing with core's scale rules over that range instead of
// the full one trades clipping error on the outliers for rounding error on everything else.
//   percentile  clip at the p-th percentile (linear interpolation within the bin that holds it)
//   mse         the range r * [lo, hi] (r on a grid in (0, 1]) minimising the expected squared
//               fake-quantization error, each bin's count placed at its centre
//   kl          TensorRT's entropy calibration (Migacz, "8-bit inference with TensorRT", 2017):
//               the threshold whose clipped-and-requantized distribution Q is closest in
//               KL(P || Q) to the clipped reference distribution P
#pragma once

#include <cstdint>
#include <vector>

#include "core/quant.h"

namespace qf::calibrate {

struct Histogram {
  double lo = 0, hi = 0;
  std::vector<double> counts;  // bins of width (hi - lo) / counts.size()
  double bin_width() const { return counts.empty() ? 0.0 : (hi - lo) / static_cast<double>(counts.size()); }
  double total() const;
  // Adds x (values outside [lo, hi] go to the end bins).
  void add(const float* x, int64_t n);
  static Histogram make(double lo, double hi, int64_t bins);
};

struct ClipRange {
  double lo = 0, hi = 0;
};

// The p-th percentile (p in [0, 100]) of the histogram's values, linear within a bin.
double histogram_percentile(const Histogram& h, double p);

// Squared fake-quantization error of the histogram (counts at bin centres) under the scale and
// zero point that core's rules derive from `clip` (symmetric: absmax = max(|lo|, |hi|)).
double histogram_quant_error(const Histogram& h, ClipRange clip, QuantRange range, bool symmetric);

// The clip range r * [h.lo, h.hi] over r in {1, 1 - 1/steps, ..} down to `min_ratio`, with the
// least histogram_quant_error (ties keep the wider range).
ClipRange mse_clip(const Histogram& h, QuantRange range, bool symmetric, int steps = 100, double min_ratio = 0.05);

// TensorRT's KL threshold on a histogram of |x| over [0, absmax] (h.lo must be 0): the upper edge
// of bin i (i from `levels` to the number of bins) that minimises KL(P_i || Q_i), where P_i is
// the first i bins with the tail folded into bin i-1, and Q_i is P_i merged into `levels`
// buckets and spread back uniformly over each bucket's non-empty bins. `levels`: quantization
// levels on one side (qmax + 1 for symmetric codes: 128 for int8, 8 for int4).
double kl_threshold(const Histogram& abs_hist, int levels);

// KL(p || q) of two unnormalised histograms (each normalised first); bins where p is 0 add
// nothing; a bin where p > 0 and q == 0 is smoothed with a tiny q (as TensorRT does).
double kl_divergence(const std::vector<double>& p, const std::vector<double>& q);

}  // namespace qf::calibrate
