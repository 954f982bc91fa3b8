#include "runtime/routing_divergence.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "core/error.h"

namespace qf {
namespace {

// Whether logits that may each move by up to `drift` could flip the golden decision.
bool near_tie(const float* logits, int64_t experts, const MoeRouting& r, const TokenRoute& route, double drift) {
  if (r.top_k < experts) {
    std::vector<float> sorted(logits, logits + experts);
    std::nth_element(sorted.begin(), sorted.begin() + r.top_k, sorted.end(), std::greater<float>());
    const float next = sorted[static_cast<size_t>(r.top_k)];
    const float kth = *std::min_element(sorted.begin(), sorted.begin() + r.top_k);
    if (static_cast<double>(kth) - static_cast<double>(next) <= 2 * drift) return true;
  }
  // Logits moved by <= drift change every probability by a factor within e^(+-2 drift).
  return r.fallback_threshold > 0 &&
         std::fabs(route.confidence - r.fallback_threshold) <= route.confidence * std::expm1(2 * drift);
}

// Sets (first op) or checks (later ops) d's token layout from router logits [..., E].
void use_layout(const Tensor& logits, RoutingDivergence& d) {
  if (logits.shape.empty()) throw Error("validate: router logits without a shape");
  const int64_t experts = logits.shape.back();
  const int64_t seqs = logits.shape.size() >= 3 ? logits.shape[0] : logits.numel() / std::max<int64_t>(experts, 1);
  const int64_t pos = logits.shape.size() >= 3 ? logits.numel() / std::max<int64_t>(experts * seqs, 1) : 1;
  if (d.first_rerouted.empty()) {
    d.sequences = seqs;
    d.positions = pos;
    d.first_rerouted.assign(static_cast<size_t>(seqs), pos);
  } else if (d.sequences != seqs || d.positions != pos) {
    throw Error("validate: moe_experts ops route different token layouts");
  }
}

}  // namespace

void compare_routing(const Tensor& golden, const Tensor& got, const MoeRouting& routing, RoutingDivergence& d) {
  if (golden.shape != got.shape) throw Error("validate: router logits of different shapes");
  use_layout(golden, d);
  const int64_t experts = golden.shape.back(), seqs = d.sequences, pos = d.positions;
  std::vector<TokenRoute> want(static_cast<size_t>(seqs * pos)), have(want.size());
  std::vector<char> differs(want.size(), 0);
  double drift = 0;  // over the compared tokens that routed alike
  for (int64_t s = 0; s < seqs; ++s)
    for (int64_t t = 0; t < d.first_rerouted[static_cast<size_t>(s)]; ++t) {
      const size_t i = static_cast<size_t>(s * pos + t);
      const float* g = golden.f32.data() + static_cast<int64_t>(i) * experts;
      const float* o = got.f32.data() + static_cast<int64_t>(i) * experts;
      route_token(g, experts, routing, want[i]);
      route_token(o, experts, routing, have[i]);
      ++d.tokens_checked;
      differs[i] = want[i].experts != have[i].experts || want[i].fallback != have[i].fallback;
      if (!differs[i])
        for (int64_t e = 0; e < experts; ++e) drift = std::fmax(drift, std::fabs(static_cast<double>(o[e]) - g[e]));
    }
  d.max_logit_drift = std::fmax(d.max_logit_drift, drift);
  for (int64_t s = 0; s < seqs; ++s) {
    const int64_t first = d.first_rerouted[static_cast<size_t>(s)];
    for (int64_t t = 0; t < first; ++t) {
      const size_t i = static_cast<size_t>(s * pos + t);
      if (!differs[i]) continue;
      // 2 x drift: the safety factor (header).
      if (near_tie(golden.f32.data() + static_cast<int64_t>(i) * experts, experts, routing, want[i], 2 * drift)) {
        ++d.rerouted;
        d.first_rerouted[static_cast<size_t>(s)] = std::min(d.first_rerouted[static_cast<size_t>(s)], t);
      } else {
        ++d.unexplained;
      }
    }
  }
}

void mark_near_ties(const Tensor& got, const MoeRouting& routing, double drift, RoutingDivergence& d) {
  use_layout(got, d);
  const int64_t experts = got.shape.back();
  TokenRoute route;
  for (int64_t s = 0; s < d.sequences; ++s) {
    const int64_t first = d.first_rerouted[static_cast<size_t>(s)];
    for (int64_t t = 0; t < first; ++t) {
      const float* o = got.f32.data() + (s * d.positions + t) * experts;
      route_token(o, experts, routing, route);
      ++d.tokens_checked;
      if (near_tie(o, experts, routing, route, 2 * drift)) {
        ++d.rerouted;
        d.first_rerouted[static_cast<size_t>(s)] = t;
        break;
      }
    }
  }
}

std::vector<bool> rerouted_rows(const RoutingDivergence& d, const std::vector<int64_t>& output_shape) {
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < output_shape.size(); ++i) rows *= output_shape[i];
  std::vector<bool> exempt(static_cast<size_t>(std::max<int64_t>(rows, 0)), false);
  if (d.first_rerouted.empty() || rows != d.sequences * d.positions) return exempt;
  if (d.positions > 1 && (output_shape.size() < 3 || output_shape[0] != d.sequences)) return exempt;
  for (int64_t s = 0; s < d.sequences; ++s)
    for (int64_t t = d.first_rerouted[static_cast<size_t>(s)]; t < d.positions; ++t)
      exempt[static_cast<size_t>(s * d.positions + t)] = true;
  return exempt;
}

}  // namespace qf
