// GPTQ against round-to-nearest on correlated inputs, on core's grid, with masks, act order, and
// singular Hessians.
#include <gtest/gtest.h>

#include "calibrate/gptq.h"
#include "core/error.h"

namespace qf::calibrate {
namespace {

// Inputs with strongly correlated features: X = Z A, Z [n, r] Gaussian, A [r, K] mixing.
torch::Tensor correlated_inputs(int64_t n, int64_t k, int64_t rank, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn({n, rank}).matmul(torch::randn({rank, k})) + 0.05 * torch::randn({n, k});
}

double output_error(const torch::Tensor& w, const torch::Tensor& w_hat, const torch::Tensor& x) {
  return (x.matmul((w - w_hat).t())).pow(2).sum().item<double>();
}

// Every weight is code * scale of its group, with the code in range.
void expect_on_grid(const torch::Tensor& w_hat, const torch::Tensor& scales, const WeightScheme& s) {
  const torch::Tensor g = as_scale_groups(w_hat, s);
  const torch::Tensor sc = scales.reshape({g.size(0), g.size(1), 1});
  const torch::Tensor q = g / sc;
  const QuantRange r = quant_range(s.bits, true);
  EXPECT_TRUE(torch::allclose(q, torch::round(q), 0, 1e-3)) << "off the grid";
  EXPECT_LE(torch::round(q).abs().max().item<float>(), static_cast<float>(r.qmax));
}

struct Case {
  WeightScheme scheme;
  bool act_order;
};

class GptqVsRtn : public ::testing::TestWithParam<Case> {};

TEST_P(GptqVsRtn, LowersTheLayerReconstructionErrorAndStaysOnTheGrid) {
  const Case c = GetParam();
  const torch::Tensor x = correlated_inputs(512, 64, 12, 7);
  torch::manual_seed(3);
  const torch::Tensor w = torch::randn({32, 64});
  HessianAccumulator acc(64);
  acc.add(x.slice(0, 0, 300));
  acc.add(x.slice(0, 300));
  EXPECT_EQ(acc.rows(), 512);
  GptqOptions o;
  o.act_order = c.act_order;
  o.block_size = 16;  // several blocks: the lazy batch update is exercised
  const GptqResult g = gptq_quantize(w, acc.hessian(), c.scheme, WeightObserverOptions{}, o);
  const GptqResult rtn = rtn_quantize(w, c.scheme, WeightObserverOptions{});
  const double eg = output_error(w, g.weight, x), er = output_error(w, rtn.weight, x);
  EXPECT_LT(eg, er) << "GPTQ " << eg << " vs RTN " << er;
  expect_on_grid(g.weight, g.scales, c.scheme);
  // The error-updated weights (QAT's latent start with ptq.latent: updated) are the same model:
  // rounded with the same scales they give Ŵ exactly; and they are not Ŵ itself, nor W.
  const torch::Tensor ug = as_scale_groups(g.updated, c.scheme);
  const torch::Tensor sc = g.scales.reshape({ug.size(0), ug.size(1), 1});
  const QuantRange r = quant_range(c.scheme.bits, true);
  const torch::Tensor requant = (torch::clamp(torch::round(ug / sc), r.qmin, r.qmax) * sc).reshape(w.sizes());
  EXPECT_TRUE(torch::equal(requant, g.weight));
  EXPECT_GT((g.updated - g.weight).abs().max().item<float>(), 0.0f);
  EXPECT_GT((g.updated - w).abs().max().item<float>(), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Schemes, GptqVsRtn,
                         ::testing::Values(Case{{4, Granularity::kGroup, 16, true}, false},
                                           Case{{4, Granularity::kGroup, 16, true}, true},
                                           Case{{8, Granularity::kChannel, 0, true}, false},
                                           Case{{3, Granularity::kChannel, 0, true}, true},
                                           Case{{4, Granularity::kTensor, 0, true}, false}));

// The Hessian is 2/n Σ xᵀx: XᵀX = [[10, -1], [-1, 5]] and 2/n = 1.
TEST(Gptq, HessianIsTwiceTheMeanOuterProduct) {
  const torch::Tensor x = torch::tensor({{1.0f, 2.0f}, {3.0f, -1.0f}});
  HessianAccumulator acc(2);
  acc.add(x);
  const torch::Tensor expected = torch::tensor({{10.0, -1.0}, {-1.0, 5.0}}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(acc.hessian(), expected));
}

// With a 2:4 mask, pruned weights come out 0 and the kept ones compensate (less error than
// rounding the masked weight).
TEST(Gptq, ComposesWithATwoFourMask) {
  const torch::Tensor x = correlated_inputs(512, 64, 12, 11);
  torch::manual_seed(5);
  const torch::Tensor w = torch::randn({16, 64});
  // Keep the 2 largest of every 4.
  const torch::Tensor g = w.abs().reshape({16, 16, 4});
  const torch::Tensor idx = std::get<1>(g.topk(2, -1));
  const torch::Tensor mask = torch::zeros_like(g).scatter_(-1, idx, 1.0).reshape({16, 64}) > 0;
  HessianAccumulator acc(64);
  acc.add(x);
  const WeightScheme s{4, Granularity::kGroup, 16, true};
  const GptqResult gq = gptq_quantize(w, acc.hessian(), s, WeightObserverOptions{}, GptqOptions{}, mask);
  EXPECT_EQ((gq.weight.masked_select(~mask) != 0).sum().item<int64_t>(), 0);
  const GptqResult rtn = rtn_quantize(w, s, WeightObserverOptions{}, mask);
  // The target is the dense layer's output: GPTQ feeds the pruned weights' values forward as error,
  // so the kept weights make up for the pruning too (SparseGPT with a fixed mask).
  EXPECT_LT(output_error(w, gq.weight, x), output_error(w, rtn.weight, x));
  EXPECT_FALSE(gq.mask.defined());  // a fixed mask is not re-chosen
}

// One-shot 2:4 chosen during the sweep (SparseGPT): an exact 2:4 pattern on the grid, and a lower
// output error than GPTQ with the magnitude mask fixed up front, which is lower than RTN's.
TEST(Gptq, ChoosesATwoFourMaskDuringTheSweep) {
  for (uint64_t seed : {11, 12, 13}) {
    const torch::Tensor x = correlated_inputs(512, 64, 12, seed);
    torch::manual_seed(seed);
    const torch::Tensor w = torch::randn({16, 64});
    const torch::Tensor g = w.abs().reshape({16, 16, 4});
    const torch::Tensor magnitude =
        torch::zeros_like(g).scatter_(-1, std::get<1>(g.topk(2, -1)), 1.0).reshape({16, 64}) > 0;
    HessianAccumulator acc(64);
    acc.add(x);
    for (const WeightScheme& s : {WeightScheme{4, Granularity::kGroup, 16, true}, WeightScheme{4, Granularity::kChannel, 0, true}}) {
      GptqOptions sel;
      sel.select_n = 2;
      sel.select_m = 4;
      sel.block_size = 6;  // rounded up to whole groups of 4
      const GptqResult chosen = gptq_quantize(w, acc.hessian(), s, WeightObserverOptions{}, sel, magnitude);
      ASSERT_TRUE(chosen.mask.defined());
      // Exactly 2 kept of every 4, and every pruned weight exactly 0.
      EXPECT_TRUE(chosen.mask.reshape({16, 16, 4}).sum(-1).eq(2).all().item<bool>());
      EXPECT_EQ((chosen.weight.masked_select(chosen.mask == 0) != 0).sum().item<int64_t>(), 0);
      expect_on_grid(chosen.weight, chosen.scales, s);
      const GptqResult fixed = gptq_quantize(w, acc.hessian(), s, WeightObserverOptions{}, GptqOptions{}, magnitude);
      const GptqResult rtn = rtn_quantize(w, s, WeightObserverOptions{}, magnitude);
      const double e_sel = output_error(w, chosen.weight, x), e_fix = output_error(w, fixed.weight, x);
      EXPECT_LT(e_sel, e_fix) << "seed " << seed;
      EXPECT_LT(e_fix, output_error(w, rtn.weight, x)) << "seed " << seed;
    }
  }
  // act_order permutes the sweep: N:M groups would be scattered, so it is refused by name.
  GptqOptions bad;
  bad.select_n = 2;
  bad.select_m = 4;
  bad.act_order = true;
  HessianAccumulator acc(8);
  acc.add(torch::randn({64, 8}));
  try {
    gptq_quantize(torch::randn({4, 8}), acc.hessian(), WeightScheme{4, Granularity::kChannel, 0, true},
                  WeightObserverOptions{}, bad);
    ADD_FAILURE() << "act_order with N:M selection was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("act_order"), std::string::npos) << e.what();
  }
}

// Rank-4 inputs in 32 dimensions and a dead input: dampening makes H positive definite; without
// dampening the Cholesky fails with a message that says what to change.
TEST(Gptq, SingularHessianIsHandledByDampeningAndOtherwiseExplained) {
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({256, 4}).matmul(torch::randn({4, 32}));  // rank 4
  x.select(1, 5).zero_();
  torch::manual_seed(9);
  const torch::Tensor w = torch::randn({8, 32});
  HessianAccumulator acc(32);
  acc.add(x);
  const WeightScheme s{4, Granularity::kChannel, 0, true};
  const GptqResult g = gptq_quantize(w, acc.hessian(), s, WeightObserverOptions{}, GptqOptions{});
  EXPECT_GT(g.damp, 0.0);
  EXPECT_TRUE(torch::isfinite(g.weight).all().item<bool>());
  EXPECT_EQ(g.weight.select(1, 5).abs().sum().item<float>(), 0.0f);  // a dead input's weight is 0
  GptqOptions none;
  none.percdamp = 0;
  try {
    gptq_quantize(w, acc.hessian(), s, WeightObserverOptions{}, none);
    ADD_FAILURE() << "expected a Cholesky failure on a rank-4 Hessian without dampening";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("percdamp"), std::string::npos) << e.what();
  }
}

TEST(Gptq, RejectsAHessianOfTheWrongSize) {
  EXPECT_THROW(gptq_quantize(torch::randn({4, 8}), torch::eye(6, torch::kFloat64), {8, Granularity::kChannel, 0, true},
                             WeightObserverOptions{}, GptqOptions{}),
               Error);
}

}  // namespace
}  // namespace qf::calibrate
