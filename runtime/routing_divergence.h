// Tokens that a mixture-of-experts model legitimately routes differently from its golden outputs.
//
// moe_experts routes each token by comparing router logits (top-k) and a probability mass against a
// threshold (confidence fallback). The runtime computes those logits in another float order than
// the exporter, so they drift by some small delta; a token whose decision lies within that drift of
// a tie may pick other experts. Its output then differs by far more than rounding, and so, in a
// decoder, does every later position of its sequence (attention reads it). That is the contract
// working, not a bug: validate (runtime/validate.h) exempts those rows from its end-to-end max-diff
// rule, reports how many, and fails on any routing difference that no near tie explains.
#pragma once

#include <cstdint>
#include <vector>

#include "core/moe_routing.h"
#include "core/tensor.h"

namespace qf {

// Accumulated over the moe_experts ops of one golden case, in graph order.
struct RoutingDivergence {
  int64_t sequences = 0, positions = 0;  // the logits' leading dims ([B, T, E]; [N, E] is N x 1)
  // Per sequence, the first position whose routing differed at a near tie (`positions` if none):
  // that position and every later one may legitimately differ downstream.
  std::vector<int64_t> first_rerouted;
  int64_t tokens_checked = 0;  // decisions compared (tokens before their sequence's first reroute)
  int64_t rerouted = 0;        // decisions that differed at a near tie
  int64_t unexplained = 0;     // decisions that differed although no near tie explains it
  double max_logit_drift = 0;  // the largest drift seen over tokens that routed alike
};

// Compares one moe_experts op's routing: `golden` and `got` are its router logits [..., E] from the
// golden trace and from the runtime's own run. Tokens at or after their sequence's first reroute are
// skipped (their inputs already differ). The drift is measured on the tokens that routed alike
// (max |got - golden|): a differing token's own drift cannot be the yardstick, since any flip moves
// its logits by at least half its margin. A differing decision is a near tie when the golden top-k
// margin (k-th minus (k+1)-th largest logit) is <= 4 drift (a flip needs 2 drift; a factor 2 of
// safety for a token that drifted more than the rest), or the golden confidence is within
// confidence * (e^(4 drift) - 1) of the fallback threshold. Throws qf::Error on mismatched shapes
// or a sequence layout that differs from `d`'s.
void compare_routing(const Tensor& golden, const Tensor& got, const MoeRouting& routing, RoutingDivergence& d);

// For a golden case without a trace: no golden logits to compare with, so every token whose own
// decision (from the runtime's logits `got`) lies within `drift` x 2 (the same safety factor) of a
// tie counts as possibly rerouted (`rerouted`), with the exemptions that follow. `drift` comes from
// the traced cases of the same checkpoint (same model, same kernels).
void mark_near_ties(const Tensor& got, const MoeRouting& routing, double drift, RoutingDivergence& d);

// Whether row r of an output [sequences, positions, ...] (rows = all dims but the last) is exempt:
// at or after its sequence's first reroute. False for outputs of another layout.
std::vector<bool> rerouted_rows(const RoutingDivergence& d, const std::vector<int64_t>& output_shape);

}  // namespace qf
