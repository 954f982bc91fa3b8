#include "calibrate/clip_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace qf::calibrate {

Histogram Histogram::make(double lo, double hi, int64_t bins) {
  if (bins <= 0) throw std::invalid_argument("histogram needs at least one bin");
  Histogram h;
  h.lo = lo;
  h.hi = hi > lo ? hi : lo + 1e-12;  // an empty range still gets a (tiny) width
  h.counts.assign(static_cast<size_t>(bins), 0.0);
  return h;
}

double Histogram::total() const {
  double t = 0;
  for (double c : counts) t += c;
  return t;
}

void Histogram::add(const float* x, int64_t n) {
  const double w = bin_width();
  const int64_t last = static_cast<int64_t>(counts.size()) - 1;
  for (int64_t i = 0; i < n; ++i) {
    int64_t b = static_cast<int64_t>(std::floor((static_cast<double>(x[i]) - lo) / w));
    counts[static_cast<size_t>(std::clamp<int64_t>(b, 0, last))] += 1.0;
  }
}

double histogram_percentile(const Histogram& h, double p) {
  if (p < 0 || p > 100) throw std::invalid_argument("percentile must be in [0, 100]");
  const double total = h.total();
  if (total <= 0) return h.lo;
  const double target = total * p / 100.0;
  double cum = 0;
  const double w = h.bin_width();
  for (size_t i = 0; i < h.counts.size(); ++i) {
    const double c = h.counts[i];
    if (c > 0 && cum + c >= target) return h.lo + w * (static_cast<double>(i) + (target - cum) / c);
    cum += c;
  }
  return h.hi;
}

double histogram_quant_error(const Histogram& h, ClipRange clip, QuantRange range, bool symmetric) {
  const QuantParams q = symmetric
                            ? symmetric_params(static_cast<float>(std::max(std::fabs(clip.lo), std::fabs(clip.hi))), range)
                            : asymmetric_params(static_cast<float>(clip.lo), static_cast<float>(clip.hi), range);
  const double w = h.bin_width();
  double err = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    if (h.counts[i] == 0) continue;
    const float x = static_cast<float>(h.lo + w * (static_cast<double>(i) + 0.5));
    const double d = static_cast<double>(fake_quantize(x, q, range)) - static_cast<double>(x);
    err += h.counts[i] * d * d;
  }
  return err;
}

ClipRange mse_clip(const Histogram& h, QuantRange range, bool symmetric, int steps, double min_ratio) {
  ClipRange best{h.lo, h.hi};
  double best_err = std::numeric_limits<double>::infinity();
  for (int s = 0; s <= steps; ++s) {
    const double r = 1.0 - static_cast<double>(s) / steps;
    if (r < min_ratio) break;
    const ClipRange c{h.lo * r, h.hi * r};
    const double e = histogram_quant_error(h, c, range, symmetric);
    if (e < best_err) best_err = e, best = c;
  }
  return best;
}

double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0, sq = 0;
  for (double v : p) sp += v;
  for (double v : q) sq += v;
  if (sp <= 0 || sq <= 0) return 0;
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    const double pi = p[i] / sp;
    const double qi = std::max(q[i] / sq, 1e-12);
    kl += pi * std::log(pi / qi);
  }
  return kl;
}

double kl_threshold(const Histogram& abs_hist, int levels) {
  if (abs_hist.lo != 0) throw std::invalid_argument("kl_threshold needs a histogram of |x| starting at 0");
  if (levels < 1) throw std::invalid_argument("kl_threshold needs at least one quantization level");
  const auto& hist = abs_hist.counts;
  const int64_t nbins = static_cast<int64_t>(hist.size());
  const double w = abs_hist.bin_width();
  if (nbins <= levels) return abs_hist.hi;  // nothing to search: every threshold keeps all levels
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = nbins;
  std::vector<double> p, q;
  for (int64_t i = levels; i <= nbins; ++i) {
    // P: the first i bins, the clipped tail added to the last one (clipping maps it there).
    p.assign(hist.begin(), hist.begin() + i);
    double tail = 0;
    for (int64_t j = i; j < nbins; ++j) tail += hist[static_cast<size_t>(j)];
    p[static_cast<size_t>(i - 1)] += tail;
    // Q: the unclipped first i bins merged into `levels` buckets, each bucket's mass spread over
    // its non-empty bins (an empty bin of P stays empty in Q: the quantizer cannot create mass).
    q.assign(static_cast<size_t>(i), 0.0);
    for (int b = 0; b < levels; ++b) {
      const int64_t start = b * i / levels, stop = (b + 1) * i / levels;
      double mass = 0;
      int64_t nonempty = 0;
      for (int64_t j = start; j < stop; ++j) {
        mass += hist[static_cast<size_t>(j)];
        nonempty += hist[static_cast<size_t>(j)] > 0;
      }
      if (nonempty == 0) continue;
      for (int64_t j = start; j < stop; ++j)
        if (hist[static_cast<size_t>(j)] > 0) q[static_cast<size_t>(j)] = mass / static_cast<double>(nonempty);
    }
    const double kl = kl_divergence(p, q);
    if (kl < best_kl) best_kl = kl, best_i = i;
  }
  return w * static_cast<double>(best_i);
}

}  // namespace qf::calibrate
