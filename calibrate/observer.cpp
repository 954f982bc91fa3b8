#include "calibrate/observer.h"

#include <cmath>

#include "train/distributed.h"

namespace qf::calibrate {

ObserverKind parse_observer_kind(const std::string& name) {
  if (name == "minmax") return ObserverKind::kMinMax;
  if (name == "moving_average_minmax") return ObserverKind::kMovingAverageMinMax;
  throw std::invalid_argument("unknown observer '" + name + "' (expected minmax or moving_average_minmax)");
}

RangeObserverImpl::RangeObserverImpl(ObserverKind kind, double averaging_constant)
    : kind_(kind), averaging_constant_(averaging_constant) {
  lo_ = register_buffer("min", torch::zeros({}));
  hi_ = register_buffer("max", torch::zeros({}));
  initialized_ = register_buffer("initialized", torch::zeros({}, torch::kBool));
}

void RangeObserverImpl::reset() {
  lo_.zero_();
  hi_.zero_();
  initialized_.fill_(false);
}

void RangeObserverImpl::observe(const torch::Tensor& x, bool calibrating) {
  torch::NoGradGuard no_grad;
  auto [lo, hi] = torch::aminmax(x.detach());
  // Data parallelism (no-op otherwise): each rank sees its shard of the batch; the batch's range is
  // the range over all ranks, so every rank keeps the statistics one process would.
  train::all_reduce_min_max(lo, hi);
  if (!has_range()) {
    lo_.copy_(lo);
    hi_.copy_(hi);
    initialized_.fill_(true);
  } else if (kind_ == ObserverKind::kMinMax || calibrating) {
    lo_.copy_(torch::minimum(lo_, lo));
    hi_.copy_(torch::maximum(hi_, hi));
  } else {
    lo_.add_((lo - lo_) * averaging_constant_);
    hi_.add_((hi - hi_) * averaging_constant_);
  }
}

QuantParams RangeObserverImpl::params(QuantRange range, bool symmetric) const {
  const float lo = min(), hi = max();
  if (symmetric) return symmetric_params(std::fmax(std::fabs(lo), std::fabs(hi)), range);
  return asymmetric_params(lo, hi, range);
}

}  // namespace qf::calibrate
