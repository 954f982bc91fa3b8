// The training side's mixture of experts (train/moe.h): the router on hand-made logits (the same
// cases as core/moe_routing.h's test, so training and runtime route alike), the load-balancing
// loss on a known assignment (hand-computed value), the gpt's experts named for recipes, the
// auxiliary loss only while training, and the fallback router.
#include <gtest/gtest.h>

#include <cmath>

#include "core/moe_routing.h"
#include "train/layer_pattern.h"
#include "train/models.h"
#include "train/moe.h"

namespace qf::train {
namespace {

torch::Tensor logits_of(const std::vector<std::vector<double>>& probs) {
  std::vector<float> v;
  for (const auto& row : probs)
    for (double p : row) v.push_back(static_cast<float>(std::log(p)));
  return torch::tensor(v).reshape({static_cast<int64_t>(probs.size()), -1});
}

TEST(MoeTrain, RouterMatchesTheCoreRuleOnHandMadeLogits) {
  // p = (1/8, 2/8, 4/8, 1/8): top-2 {1, 2}, confidence 0.75, renormalized (1/3, 2/3).
  const torch::Tensor l = logits_of({{0.125, 0.25, 0.5, 0.125}});
  MoeRoute r = moe_route(l, 2, true, 0.7);
  EXPECT_FALSE(r.fallback[0].item<bool>());
  EXPECT_NEAR(r.confidence[0].item<double>(), 0.75, 1e-6);
  EXPECT_TRUE(torch::equal(r.use[0], torch::tensor({false, true, true, false})));
  EXPECT_NEAR(r.weights[0][1].item<double>(), 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(r.weights[0][2].item<double>(), 2.0 / 3.0, 1e-6);
  EXPECT_EQ(r.weights[0][0].item<double>(), 0.0);
  r = moe_route(l, 2, true, 0.8);  // below the threshold: every expert, the full softmax
  EXPECT_TRUE(r.fallback[0].item<bool>());
  EXPECT_TRUE(r.use.all().item<bool>());
  EXPECT_NEAR(r.weights[0][2].item<double>(), 0.5, 1e-6);
  // Against core's rule on random logits (the runtime's router), also ties.
  torch::manual_seed(3);
  torch::Tensor many = torch::randn({64, 8});
  many[0] = torch::full({8}, 0.25);
  for (double thr : {0.0, 0.5, 0.7}) {
    const MoeRoute t = moe_route(many, 2, true, thr);
    for (int64_t i = 0; i < many.size(0); ++i) {
      TokenRoute c;
      const torch::Tensor row = many[i].contiguous();
      route_token(row.data_ptr<float>(), 8, {2, true, thr}, c);
      EXPECT_EQ(c.fallback, t.fallback[i].item<bool>()) << i;
      for (size_t j = 0; j < c.experts.size(); ++j) {
        EXPECT_TRUE(t.use[i][c.experts[j]].item<bool>()) << i;
        EXPECT_NEAR(t.weights[i][c.experts[j]].item<double>(), c.weights[j], 1e-6) << i;
      }
      EXPECT_EQ(t.use[i].sum().item<int64_t>(), static_cast<int64_t>(c.experts.size())) << i;
    }
  }
}

// Four tokens, four experts. Top-1 choices 0, 0, 1, 3: f = (2, 1, 0, 1) / 4; mean probabilities
// P = (0.4, 0.25, 0.1, 0.25); L = 4 * (0.5*0.4 + 0.25*0.25 + 0 + 0.25*0.25) = 1.3.
// Top-2 (ties to the lower index): {0,1} {0,1} {0,1} {0,3}: f = (4, 3, 0, 1) / 8, L = 1.3 too.
TEST(MoeTrain, LoadBalancingLossOnAKnownAssignment) {
  const torch::Tensor l = logits_of({{0.7, 0.1, 0.1, 0.1}, {0.7, 0.1, 0.1, 0.1}, {0.1, 0.7, 0.1, 0.1}, {0.1, 0.1, 0.1, 0.7}});
  EXPECT_NEAR(load_balancing_loss(moe_route(l, 1, false, 0), 1).item<double>(), 1.3, 1e-6);
  const MoeRoute r2 = moe_route(l, 2, true, 0);
  EXPECT_TRUE(torch::equal(r2.topk.sum(0), torch::tensor({4, 3, 0, 1}, torch::kLong)));
  EXPECT_NEAR(load_balancing_loss(r2, 2).item<double>(), 1.3, 1e-6);
  // Uniform probabilities give 1 whatever the choice; everything on one expert with certainty gives E.
  EXPECT_NEAR(load_balancing_loss(moe_route(torch::zeros({8, 4}), 1, false, 0), 1).item<double>(), 0.25 * 4 * 1.0, 1e-6);
  const torch::Tensor one = torch::tensor({30.0f, 0.0f, 0.0f, 0.0f}).repeat({5, 1});
  EXPECT_NEAR(load_balancing_loss(moe_route(one, 1, false, 0), 1).item<double>(), 4.0, 1e-6);
}

ModelSpec moe_spec(const std::string& router) {
  ModelSpec s;
  s.family = "gpt";
  s.layers = 2;
  s.heads = 2;
  s.dim = 16;
  s.context = 12;
  s.moe.enabled = true;
  s.moe.experts = 4;
  s.moe.top_k = 2;
  s.moe.router = router;
  s.moe.router_hidden = 16;
  s.moe.expert_hidden = 32;
  s.moe.normalize = 1;
  s.moe.fallback_threshold = router == "mlp" ? 0.7 : 0.0;
  return s;
}

TEST(MoeTrain, GptExpertsAreLayersNamedForRecipes) {
  auto model = make_model(moe_spec("mlp"), InputShape{});
  std::vector<std::string> experts, router;
  for (auto& l : model->layers()) {
    if (glob_match("*.experts.*", l->layer_name())) experts.push_back(l->layer_name());
    if (glob_match("*.router*", l->layer_name())) router.push_back(l->layer_name());
  }
  EXPECT_EQ(experts.size(), 2u * 4u * 2u);
  EXPECT_EQ(experts.front(), "blocks.0.mlp.experts.0.fc1");
  EXPECT_EQ(router, (std::vector<std::string>{"blocks.0.mlp.router.fc1", "blocks.0.mlp.router.fc2",
                                              "blocks.1.mlp.router.fc1", "blocks.1.mlp.router.fc2"}));
  const Graph g = model->describe();
  int moe_ops = 0;
  for (const Op& op : g.ops)
    if (op.kind == "moe_experts") {
      ++moe_ops;
      EXPECT_EQ(op.inputs.size(), 2u);
      EXPECT_EQ(op.int_attr("experts", 0), 4);
      EXPECT_DOUBLE_EQ(op.float_attr("fallback_threshold", 0), 0.7);
    }
  EXPECT_EQ(moe_ops, 2);
}

TEST(MoeTrain, AuxiliaryLossOnlyWhileTraining) {
  torch::manual_seed(0);
  auto model = make_model(moe_spec("softmax"), InputShape{});
  const torch::Tensor ids = torch::randint(0, 256, {2, 12});
  model->train();
  EXPECT_EQ(model->forward(ids).sizes(), (std::vector<int64_t>{2, 12, 256}));
  const torch::Tensor aux = model->auxiliary_loss();
  ASSERT_TRUE(aux.defined());
  // Two layers, each weighted 0.01 * L with 1 <= L <= E.
  EXPECT_GE(aux.item<double>(), 2 * 0.01 * 1.0 - 1e-6);
  EXPECT_LE(aux.item<double>(), 2 * 0.01 * 4.0 + 1e-6);
  aux.backward();  // reaches the router
  bool router_grad = false;
  for (auto& l : model->layers())
    if (l->layer_name() == "blocks.0.mlp.router") router_grad = l->raw_weight().grad().defined();
  EXPECT_TRUE(router_grad);
  model->eval();
  model->forward(ids);
  EXPECT_FALSE(model->auxiliary_loss().defined());
}

// With every token falling back, the layer is the dense softmax mixture of all experts.
TEST(MoeTrain, FallbackMixesEveryExpert) {
  torch::manual_seed(1);
  MoeOptions o;
  o.dim = 8;
  o.experts = 3;
  o.top_k = 1;
  o.expert_hidden = 6;
  o.fallback_threshold = 1.0;  // top-1 mass < 1 always
  o.router_name = "r";
  o.experts_name = "x";
  MoeFeedForward moe(o);
  torch::NoGradGuard ng;
  const torch::Tensor x = torch::randn({5, 8});
  const torch::Tensor y = moe->forward(x);
  EXPECT_EQ(moe->last_fallbacks(), 5);
  const torch::Tensor p = torch::softmax(moe->router_logits(x), -1);
  torch::Tensor want = torch::zeros_like(x);
  for (int64_t e = 0; e < 3; ++e) {
    auto& ex = moe->experts()[static_cast<size_t>(e)];
    want = want + p.select(1, e).unsqueeze(1) * ex[1]->forward(torch::gelu(ex[0]->forward(x), "tanh"));
  }
  EXPECT_TRUE(torch::allclose(y, want, 1e-5, 1e-6));
}

}  // namespace
}  // namespace qf::train
