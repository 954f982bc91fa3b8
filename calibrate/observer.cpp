#include "calibrate/observer.h"

#include <cmath>

#include "train/distributed.h"
#include "calibrate/clip_search.h"

namespace qf::calibrate {

ObserverKind parse_observer_kind(const std::string& name) {
  if (name == "minmax") return ObserverKind::kMinMax;
  if (name == "moving_average_minmax") return ObserverKind::kMovingAverageMinMax;
  if (name == "percentile") return ObserverKind::kPercentile;
  if (name == "mse") return ObserverKind::kMse;
  if (name == "kl") return ObserverKind::kKl;
  throw std::invalid_argument("unknown observer '" + name +
                              "' (expected minmax, moving_average_minmax, percentile, mse or kl)");
}

const char* observer_kind_name(ObserverKind k) {
  switch (k) {
    case ObserverKind::kMinMax: return "minmax";
    case ObserverKind::kMovingAverageMinMax: return "moving_average_minmax";
    case ObserverKind::kPercentile: return "percentile";
    case ObserverKind::kMse: return "mse";
    case ObserverKind::kKl: return "kl";
  }
  return "?";
}

bool uses_histogram(ObserverKind k) {
  return k == ObserverKind::kPercentile || k == ObserverKind::kMse || k == ObserverKind::kKl;
}

RangeObserverImpl::RangeObserverImpl(ObserverKind kind, double averaging_constant, double percentile, int64_t bins)
    : kind_(kind), averaging_constant_(averaging_constant), percentile_(percentile), bins_(bins) {
  lo_ = register_buffer("min", torch::zeros({}));
  hi_ = register_buffer("max", torch::zeros({}));
  initialized_ = register_buffer("initialized", torch::zeros({}, torch::kBool));
}

RangeObserverImpl::~RangeObserverImpl() = default;

void RangeObserverImpl::reset() {
  lo_.zero_();
  hi_.zero_();
  initialized_.fill_(false);
  hist_.reset();
  abs_hist_.reset();
}

void RangeObserverImpl::observe(const torch::Tensor& x, bool calibrating) {
  torch::NoGradGuard no_grad;
  if (hist_) {  // histogram pass
    const torch::Tensor v = x.detach().to(torch::kCPU, torch::kFloat32).contiguous().reshape({-1});
    hist_->add(v.data_ptr<float>(), v.numel());
    const torch::Tensor a = v.abs().contiguous();
    abs_hist_->add(a.data_ptr<float>(), a.numel());
    return;
  }
  // A histogram kind's range is fixed once calibrated: only calibration passes change it.
  if (uses_histogram(kind_) && has_range() && !calibrating) return;
  auto [lo, hi] = torch::aminmax(x.detach());
  // Data parallelism (no-op otherwise): each rank sees its shard of the batch; the batch's range is
  // the range over all ranks, so every rank keeps the statistics one process would.
  train::all_reduce_min_max(lo, hi);
  if (!has_range()) {
    lo_.copy_(lo);
    hi_.copy_(hi);
    initialized_.fill_(true);
  } else if (kind_ != ObserverKind::kMovingAverageMinMax || calibrating) {
    lo_.copy_(torch::minimum(lo_, lo));
    hi_.copy_(torch::maximum(hi_, hi));
  } else {
    lo_.add_((lo - lo_) * averaging_constant_);
    hi_.add_((hi - hi_) * averaging_constant_);
  }
}

void RangeObserverImpl::begin_histogram_pass() {
  if (!uses_histogram(kind_) || !has_range()) return;
  const double lo = min(), hi = max();
  hist_ = std::make_unique<Histogram>(Histogram::make(lo, hi, bins_));
  abs_hist_ = std::make_unique<Histogram>(Histogram::make(0.0, std::fmax(std::fabs(lo), std::fabs(hi)), bins_));
}

void RangeObserverImpl::finish_calibration(QuantRange range, bool symmetric) {
  if (!hist_) return;
  // Data parallelism (no-op otherwise): each rank binned its shard over the same edges (the first
  // pass's range was all-reduced), so the sum of the counts is the histogram one process builds.
  train::all_reduce_sum(hist_->counts);
  train::all_reduce_sum(abs_hist_->counts);
  ClipRange clip{hist_->lo, hist_->hi};
  switch (kind_) {
    case ObserverKind::kPercentile:
      if (symmetric) {
        const double a = histogram_percentile(*abs_hist_, percentile_);
        clip = {-a, a};
      } else {
        clip = {std::fmin(0.0, histogram_percentile(*hist_, 100.0 - percentile_)),
                std::fmax(0.0, histogram_percentile(*hist_, percentile_))};
      }
      break;
    case ObserverKind::kMse:
      clip = symmetric ? mse_clip(*abs_hist_, range, true) : mse_clip(*hist_, range, false);
      if (symmetric) clip.lo = -clip.hi;
      break;
    case ObserverKind::kKl: {
      // Symmetric codes have qmax + 1 levels on each side; unsigned codes spend all of theirs on
      // one side when the data are non-negative (after ReLU), else half on each.
      const bool one_sided = !symmetric && hist_->lo >= 0;
      const int levels = symmetric ? range.qmax + 1 : (range.qmax - range.qmin + 1) / (one_sided ? 1 : 2);
      const double t = kl_threshold(*abs_hist_, levels);
      clip = {std::fmax(hist_->lo, -t), std::fmin(hist_->hi, t)};
      break;
    }
    default: break;
  }
  hist_.reset();
  abs_hist_.reset();
  lo_.fill_(clip.lo);
  hi_.fill_(clip.hi);
}

QuantParams RangeObserverImpl::params(QuantRange range, bool symmetric) const {
  const float lo = min(), hi = max();
  if (symmetric) return symmetric_params(std::fmax(std::fabs(lo), std::fabs(hi)), range);
  return asymmetric_params(lo, hi, range);
}

}  // namespace qf::calibrate
