// A mixture-of-experts feed-forward layer (Switch Transformer / Mixtral style), shared by the
// zoo's gpt (`model: {moe: ...}`) and the Hugging Face Mixtral import. Per token, a router gives
// logits over E experts; core/moe_routing.h's rule picks the experts (top-k, or all of them below
// the confidence threshold) and their weights; the output is the weighted sum of the chosen
// experts' MLPs. Every expert projection is a qforge Linear named "<experts prefix>.<e>.<proj>"
// (gpt: "blocks.0.mlp.experts.3.fc1"; Mixtral: "model.layers.0.block_sparse_moe.experts.3.w1"),
// so recipes reach experts by name pattern (`*.experts.*`: int4 experts with an int8 or float
// router, per-expert scales and masks: every expert is its own layer). The router's linears are
// separate layers ("<prefix>.router" / ".router.fc1", ".router.fc2"; Mixtral "...gate").
//
// Load-balancing loss (Switch Transformer eq. 4, generalised to top-k as in GShard / Mixtral):
//   L_aux = E * sum_e f_e * P_e
//   f_e = (tokens whose top-k includes e) / (N * k)   -- fraction of the N*k assignments to e
//   P_e = mean over the N tokens of softmax(logits)_e  -- mean router probability of e
// Both sum to 1 over e; L_aux = 1 when routing is perfectly uniform, E when every token goes to
// one expert. (transformers' Mixtral computes k times this value.) f_e uses the top-k choice
// even for tokens that fall back to all experts: it measures the router's preference.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "train/layers.h"

namespace qf::train {

// The routing of N tokens, differentiable in the weights (core/moe_routing.h's rule).
struct MoeRoute {
  torch::Tensor probs;      // [N, E] float softmax of the logits
  torch::Tensor topk;       // [N, E] bool: the k experts of largest logit (ties: lower index)
  torch::Tensor fallback;   // [N] bool: top-k mass < threshold (threshold > 0)
  torch::Tensor use;        // [N, E] bool: experts that run for the token (topk, or all on fallback)
  torch::Tensor weights;    // [N, E] float, 0 where !use
  torch::Tensor confidence; // [N] top-k probability mass
};
MoeRoute moe_route(const torch::Tensor& logits, int64_t top_k, bool normalize, double fallback_threshold);

// E * sum_e f_e P_e (above), a scalar.
torch::Tensor load_balancing_loss(const MoeRoute& r, int64_t top_k);

struct MoeOptions {
  int64_t dim = 0, experts = 8, top_k = 2, expert_hidden = 0;
  bool normalize = true;
  double fallback_threshold = 0.0;
  double aux_loss_weight = 0.0;
  std::string activation = "gelu_tanh";  // gelu_tanh: fc2(gelu_tanh(fc1 x)); silu_gated: w2(silu(w1 x) * w3 x)
  std::string router = "softmax";        // softmax: one linear; mlp: Linear -> GELU (erf) -> Linear
  int64_t router_hidden = 0;
  bool router_bias = false, expert_bias = false;
  std::string router_name;               // softmax: the linear's name; mlp: prefix of .fc1 / .fc2
  std::string experts_name;              // the moe_experts op's name, prefix of the expert linears
};

class MoeFeedForwardImpl : public torch::nn::Module {
 public:
  explicit MoeFeedForwardImpl(MoeOptions o);
  // x [..., C] -> [..., C]. Keeps the last call's auxiliary loss (weighted) and routing counts.
  torch::Tensor forward(const torch::Tensor& x);

  const MoeOptions& options() const { return o_; }
  // The router's logits [N, E] for rows x2d [N, C].
  torch::Tensor router_logits(const torch::Tensor& x2d);
  // Router linears (softmax: 1; mlp: fc1, fc2) and experts' projections, in graph order.
  std::vector<Linear>& router_layers() { return router_; }
  std::vector<std::vector<Linear>>& experts() { return experts_; }

  torch::Tensor last_aux_loss() const { return aux_; }  // weighted; undefined when off / in eval
  int64_t last_tokens() const { return last_tokens_; }
  int64_t last_fallbacks() const { return last_fallbacks_; }

 private:
  torch::Tensor expert_forward(size_t e, const torch::Tensor& x);
  MoeOptions o_;
  std::vector<Linear> router_;
  std::vector<std::vector<Linear>> experts_;
  torch::Tensor aux_;
  int64_t last_tokens_ = 0, last_fallbacks_ = 0;
};
TORCH_MODULE(MoeFeedForward);

}  // namespace qf::train
