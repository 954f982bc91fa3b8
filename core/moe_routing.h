// The router rule of the moe_experts op (FORMAT.md, "Mixture of experts"), once, std-only: the
// runtime routes with it; the exporter's contract and the training model implement the same rule
// independently in LibTorch, and tests hold all three to it on hand-made logits.
//
// For one token with router logits l[0..E):
//   p = softmax(l), computed in double (max-subtracted);
//   S = the top_k experts by logit, ties broken towards the lower index (softmax is monotone,
//       so these are the top_k by probability);
//   confidence = sum of p over S (the top-k probability mass, in double);
//   fallback:  fallback_threshold > 0 and confidence < fallback_threshold: S = every expert and
//              w_e = float32(p_e) (the token uses all experts, weighted by the full softmax);
//   otherwise: w_e = float32(p_e / confidence) when normalize (Mixtral), else float32(p_e).
// S is returned in increasing expert order: the op sums the experts' outputs in that order.
#pragma once

#include <cstdint>
#include <vector>

namespace qf {

struct MoeRouting {
  int64_t top_k = 2;
  bool normalize = true;
  double fallback_threshold = 0.0;  // 0: never fall back
};

struct TokenRoute {
  std::vector<int64_t> experts;  // increasing
  std::vector<float> weights;    // one per entry of `experts`
  double confidence = 0.0;       // top-k probability mass
  bool fallback = false;
};

struct Op;
// The routing of a moe_experts op, from its attributes top_k, normalize, fallback_threshold.
MoeRouting moe_routing_of(const Op& op);

// Routes one token; `logits` has `num_experts` finite values (1 <= top_k <= num_experts).
void route_token(const float* logits, int64_t num_experts, const MoeRouting& r, TokenRoute& out);

}  // namespace qf
