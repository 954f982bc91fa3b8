#include "train/moe.h"

#include <stdexcept>

#include "core/op_schema.h"

namespace qf::train {

MoeRoute moe_route(const torch::Tensor& logits, int64_t top_k, bool normalize, double fallback_threshold) {
  MoeRoute r;
  r.probs = torch::softmax(logits, -1);
  // Top-k by logit, ties to the lower index: a stable descending sort keeps index order on ties.
  const torch::Tensor top =
      std::get<1>(logits.detach().sort(/*stable=*/true, /*dim=*/-1, /*descending=*/true)).narrow(1, 0, top_k);
  r.topk = torch::zeros_like(logits, torch::kBool).scatter(1, top, true);
  const torch::Tensor zero = torch::zeros_like(r.probs);
  r.confidence = torch::where(r.topk, r.probs, zero).sum(-1);
  r.fallback = fallback_threshold > 0 ? (r.confidence < fallback_threshold).detach()
                                      : torch::zeros_like(r.confidence, torch::kBool);
  torch::Tensor w = torch::where(r.topk, normalize ? r.probs / r.confidence.unsqueeze(1) : r.probs, zero);
  r.weights = torch::where(r.fallback.unsqueeze(1), r.probs, w);
  r.use = r.topk | r.fallback.unsqueeze(1);
  return r;
}

torch::Tensor load_balancing_loss(const MoeRoute& r, int64_t top_k) {
  const int64_t n = r.probs.size(0), e = r.probs.size(1);
  const torch::Tensor f = r.topk.to(r.probs.scalar_type()).sum(0) / static_cast<double>(n * top_k);
  const torch::Tensor p = r.probs.mean(0);
  return static_cast<double>(e) * (f * p).sum();
}

MoeFeedForwardImpl::MoeFeedForwardImpl(MoeOptions o) : o_(std::move(o)) {
  if (o_.top_k < 1 || o_.top_k > o_.experts) throw std::invalid_argument("moe: need 1 <= top_k <= experts");
  const std::vector<std::string> proj = moe_projections(o_.activation);
  if (proj.empty()) throw std::invalid_argument("moe: activation must be gelu_tanh or silu_gated");
  if (o_.router == "softmax") {
    router_.push_back(register_module("router", Linear(o_.router_name, o_.dim, o_.experts, o_.router_bias)));
  } else if (o_.router == "mlp") {
    const int64_t h = o_.router_hidden > 0 ? o_.router_hidden : o_.dim;
    router_.push_back(register_module("router_fc1", Linear(o_.router_name + ".fc1", o_.dim, h, true)));
    router_.push_back(register_module("router_fc2", Linear(o_.router_name + ".fc2", h, o_.experts, true)));
  } else {
    throw std::invalid_argument("moe: router must be softmax or mlp");
  }
  for (int64_t e = 0; e < o_.experts; ++e) {
    std::vector<Linear> ex;
    const std::string p = o_.experts_name + "." + std::to_string(e) + ".";
    for (const std::string& name : proj) {
      const bool down = name == "fc2" || name == "w2";
      Linear l = down ? Linear(p + name, o_.expert_hidden, o_.dim, o_.expert_bias)
                      : Linear(p + name, o_.dim, o_.expert_hidden, o_.expert_bias);
      ex.push_back(register_module("expert" + std::to_string(e) + "_" + name, l));
    }
    experts_.push_back(std::move(ex));
  }
}

torch::Tensor MoeFeedForwardImpl::router_logits(const torch::Tensor& x2d) {
  if (router_.size() == 1) return router_[0]->forward(x2d);
  return router_[1]->forward(torch::gelu(router_[0]->forward(x2d)));
}

torch::Tensor MoeFeedForwardImpl::expert_forward(size_t e, const torch::Tensor& x) {
  std::vector<Linear>& ex = experts_[e];
  if (o_.activation == "silu_gated") return ex[2]->forward(torch::silu(ex[0]->forward(x)) * ex[1]->forward(x));
  return ex[1]->forward(torch::gelu(ex[0]->forward(x), "tanh"));
}

torch::Tensor MoeFeedForwardImpl::forward(const torch::Tensor& x) {
  const torch::Tensor x2 = x.reshape({-1, o_.dim});
  const MoeRoute r = moe_route(router_logits(x2), o_.top_k, o_.normalize, o_.fallback_threshold);
  aux_ = is_training() && o_.aux_loss_weight > 0 ? o_.aux_loss_weight * load_balancing_loss(r, o_.top_k)
                                                  : torch::Tensor();
  last_tokens_ = x2.size(0);
  last_fallbacks_ = r.fallback.sum().item<int64_t>();
  // Expert by expert over the tokens routed to it, summed in increasing expert order (the
  // runtime's and the contract's order).
  torch::Tensor out = torch::zeros_like(x2);
  const torch::Tensor w = r.weights.to(x2.scalar_type());
  for (int64_t e = 0; e < o_.experts; ++e) {
    const torch::Tensor rows = r.use.select(1, e).nonzero().reshape({-1});
    if (rows.numel() == 0) continue;
    const torch::Tensor y = expert_forward(static_cast<size_t>(e), x2.index_select(0, rows));
    out = out.index_add(0, rows, y * w.index_select(0, rows).select(1, e).unsqueeze(1));
  }
  return out.reshape(x.sizes());
}

}  // namespace qf::train
