#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "distill/kd_loss.h"

namespace qf::distill {
namespace {

// KL(softmax(t/T) || softmax(s/T)) of one row, in plain double arithmetic.
double kl_row(const std::vector<double>& s, const std::vector<double>& t, double T) {
  auto softmax = [T](const std::vector<double>& x) {
    double z = 0;
    std::vector<double> p(x.size());
    for (size_t i = 0; i < x.size(); ++i) z += std::exp(x[i] / T);
    for (size_t i = 0; i < x.size(); ++i) p[i] = std::exp(x[i] / T) / z;
    return p;
  };
  const auto ps = softmax(s), pt = softmax(t);
  double kl = 0;
  for (size_t i = 0; i < s.size(); ++i) kl += pt[i] * std::log(pt[i] / ps[i]);
  return kl;
}

torch::Tensor tensor2d(const std::vector<std::vector<double>>& rows) {
  std::vector<double> flat;
  for (auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return torch::tensor(flat, torch::kDouble).reshape({static_cast<int64_t>(rows.size()), -1});
}

TEST(KdLoss, KlMatchesAHandComputedValue) {
  const std::vector<std::vector<double>> s = {{1.0, 2.0, 0.0}, {-1.0, 0.5, 3.0}};
  const std::vector<std::vector<double>> t = {{0.5, 0.5, 2.0}, {0.0, 0.0, 0.0}};
  const double T = 2.0;
  const double expected = (kl_row(s[0], t[0], T) + kl_row(s[1], t[1], T)) / 2.0;
  ASSERT_GT(expected, 0.05);  // the example is not trivially near zero
  const double got = kd_kl_divergence(tensor2d(s), tensor2d(t), T).item<double>();
  EXPECT_NEAR(got, expected, 1e-12);
  // The same in float32 logits (the training dtype).
  EXPECT_NEAR(kd_kl_divergence(tensor2d(s).to(torch::kFloat), tensor2d(t).to(torch::kFloat), T).item<double>(),
              expected, 1e-6);
  // One row by hand from the definition, as a check of the helper: s=[1,2,0], t=[.5,.5,2], T=2.
  const double zs = std::exp(0.5) + std::exp(1.0) + 1.0, zt = 2 * std::exp(0.25) + std::exp(1.0);
  const double ps[3] = {std::exp(0.5) / zs, std::exp(1.0) / zs, 1.0 / zs};
  const double pt[3] = {std::exp(0.25) / zt, std::exp(0.25) / zt, std::exp(1.0) / zt};
  double kl0 = 0;
  for (int i = 0; i < 3; ++i) kl0 += pt[i] * (std::log(pt[i]) - std::log(ps[i]));
  EXPECT_NEAR(kl_row(s[0], t[0], T), kl0, 1e-15);
}

TEST(KdLoss, SoftTermIsTheKlScaledByTSquaredAndAlphaMixes) {
  torch::manual_seed(1);
  const torch::Tensor s = torch::randn({8, 10}, torch::kDouble) * 3, t = torch::randn({8, 10}, torch::kDouble) * 3;
  const torch::Tensor y = torch::randint(0, 10, {8}, torch::kLong);
  for (double T : {1.0, 2.0, 5.0}) {
    const double kl = kd_kl_divergence(s, t, T).item<double>();
    const auto soft = kd_loss(s, t, y, T, /*alpha=*/0.0);
    EXPECT_NEAR(soft.total.item<double>(), T * T * kl, 1e-10) << "T=" << T;
    EXPECT_NEAR(soft.kd.item<double>(), T * T * kl, 1e-10);
    const double ce = torch::nn::functional::cross_entropy(s, y).item<double>();
    EXPECT_NEAR(kd_loss(s, t, y, T, 1.0).total.item<double>(), ce, 1e-12);
    EXPECT_NEAR(kd_loss(s, t, y, T, 0.3).total.item<double>(), 0.3 * ce + 0.7 * T * T * kl, 1e-10);
  }
}

TEST(KdLoss, ZeroLossAndGradientWhenStudentEqualsTeacher) {
  torch::manual_seed(2);
  const torch::Tensor t = torch::randn({6, 12}) * 4;
  const torch::Tensor s = t.clone().set_requires_grad(true);
  const auto p = kd_loss(s, t, torch::zeros({6}, torch::kLong), 3.0, /*alpha=*/0.0);
  EXPECT_NEAR(p.total.item<double>(), 0.0, 1e-6);
  p.total.backward();
  ASSERT_TRUE(s.grad().defined());
  EXPECT_LT(s.grad().abs().max().item<double>(), 1e-6);
  // ...while a different student gets a real gradient (the check above can fail).
  const torch::Tensor s2 = (t + torch::randn({6, 12})).set_requires_grad(true);
  kd_loss(s2, t, torch::zeros({6}, torch::kLong), 3.0, 0.0).total.backward();
  EXPECT_GT(s2.grad().abs().max().item<double>(), 1e-3);
}

TEST(KdLoss, TeacherLogitsGetNoGradient) {
  const torch::Tensor s = torch::randn({4, 5}).set_requires_grad(true);
  const torch::Tensor t = torch::randn({4, 5}).set_requires_grad(true);
  kd_loss(s, t, torch::zeros({4}, torch::kLong), 2.0, 0.5).total.backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_FALSE(t.grad().defined());
}

TEST(KdLoss, LanguageModelLogitsArePerToken) {
  torch::manual_seed(3);
  const int64_t B = 2, Tn = 3, V = 7;
  const torch::Tensor s = torch::randn({B, Tn, V}, torch::kDouble), t = torch::randn({B, Tn, V}, torch::kDouble);
  const torch::Tensor y = torch::randint(0, V, {B, Tn}, torch::kLong);
  const auto p = kd_loss(s, t, y, 2.0, 0.25);
  // Each token is one example: the mean of the per-token KLs, and CE over B*T tokens.
  double kl = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Tn; ++i)
      kl += kd_kl_divergence(s[b][i].unsqueeze(0), t[b][i].unsqueeze(0), 2.0).item<double>();
  kl /= static_cast<double>(B * Tn);
  EXPECT_NEAR(p.kd.item<double>(), 4.0 * kl, 1e-10);
  EXPECT_NEAR(p.ce.item<double>(),
              torch::nn::functional::cross_entropy(s.reshape({-1, V}), y.reshape({-1})).item<double>(), 1e-12);
  EXPECT_EQ(p.total.dim(), 0);
}

TEST(KdLoss, BadArgumentsAreErrors) {
  const torch::Tensor a = torch::randn({2, 3}), b = torch::randn({2, 4});
  const torch::Tensor y = torch::zeros({2}, torch::kLong);
  EXPECT_THROW(kd_loss(a, b, y, 2.0, 0.5), std::invalid_argument);
  EXPECT_THROW(kd_loss(a, a, y, 0.0, 0.5), std::invalid_argument);
  EXPECT_THROW(kd_loss(a, a, y, 2.0, 1.5), std::invalid_argument);
  EXPECT_THROW(kd_loss(a, a, torch::zeros({3}, torch::kLong), 2.0, 0.5), std::invalid_argument);
}

}  // namespace
}  // namespace qf::distill
