#include "core/moe_routing.h"

#include "core/graph.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace qf {

void route_token(const float* logits, int64_t num_experts, const MoeRouting& r, TokenRoute& out) {
  if (num_experts < 1 || r.top_k < 1 || r.top_k > num_experts)
    throw std::invalid_argument("route_token: need 1 <= top_k <= experts");
  const size_t n = static_cast<size_t>(num_experts);
  std::vector<double> p(n);
  double mx = logits[0];
  for (size_t e = 1; e < n; ++e) mx = std::max(mx, static_cast<double>(logits[e]));
  double sum = 0;
  for (size_t e = 0; e < n; ++e) sum += p[e] = std::exp(static_cast<double>(logits[e]) - mx);
  for (double& v : p) v /= sum;
  // Top-k by logit, lower index first on ties (a stable order on (-logit, index)).
  std::vector<int64_t> order(n);
  for (size_t e = 0; e < n; ++e) order[e] = static_cast<int64_t>(e);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  order.resize(static_cast<size_t>(r.top_k));
  std::sort(order.begin(), order.end());
  double conf = 0;
  for (int64_t e : order) conf += p[static_cast<size_t>(e)];
  out.confidence = conf;
  out.fallback = r.fallback_threshold > 0 && conf < r.fallback_threshold;
  out.experts.clear();
  out.weights.clear();
  if (out.fallback) {
    for (size_t e = 0; e < n; ++e) {
      out.experts.push_back(static_cast<int64_t>(e));
      out.weights.push_back(static_cast<float>(p[e]));
    }
    return;
  }
  for (int64_t e : order) {
    out.experts.push_back(e);
    const double pe = p[static_cast<size_t>(e)];
    out.weights.push_back(static_cast<float>(r.normalize ? pe / conf : pe));
  }
}

MoeRouting moe_routing_of(const Op& op) {
  MoeRouting r;
  r.top_k = op.int_attr("top_k", 1);
  r.normalize = op.int_attr("normalize", 0) != 0;
  r.fallback_threshold = op.float_attr("fallback_threshold", 0.0);
  return r;
}

}  // namespace qf
