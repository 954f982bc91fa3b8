// `kv_cache: {rotate: hadamard, center: true}`: core/hadamard.h's rotation is orthogonal; folding
// it, or the K and V means, into the gpt's attention weights leaves the model's function unchanged;
// and each makes an int4 cache with one outlier channel far more accurate (the reason they exist).
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/hadamard.h"
#include "train/models.h"

namespace qf::train {
namespace {

torch::Tensor rotation(int64_t d, uint64_t seed) {
  return torch::tensor(randomized_hadamard(d, seed), torch::kDouble).view({d, d});
}

TEST(Hadamard, IsOrthogonalForEveryPowerOfTwoAndSeed) {
  for (int64_t d : {1, 2, 4, 32, 64, 128})
    for (uint64_t seed : {0ULL, 1ULL, 0x6b76726f74ULL}) {
      const torch::Tensor r = rotation(d, seed);
      EXPECT_LT((r.matmul(r.t()) - torch::eye(d, torch::kDouble)).abs().max().item<double>(), 1e-12)
          << "d " << d << " seed " << seed;
      EXPECT_TRUE(torch::allclose(r.abs(), torch::full({d, d}, 1.0 / std::sqrt(double(d)), torch::kDouble)));
    }
  // Seed 0 is the plain (symmetric) Sylvester matrix; another seed flips some columns.
  EXPECT_TRUE(torch::equal(rotation(32, 0), rotation(32, 0).t()));
  EXPECT_FALSE(torch::equal(rotation(32, 7), rotation(32, 0)));
  for (int64_t bad : {0, 3, 24, 96}) EXPECT_THROW(randomized_hadamard(bad, 1), qf::Error) << bad;
}

std::shared_ptr<ZooModel> small_gpt() {
  ModelSpec s;
  s.family = "gpt";
  s.layers = 2;
  s.heads = 2;
  s.dim = 64;
  s.context = 16;
  torch::manual_seed(5);
  auto gpt = make_model(s, InputShape{});
  gpt->eval();
  return gpt;
}

TEST(KvRotation, GptComputesTheSameFunction) {
  auto gpt = small_gpt();
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::randint(0, 256, {2, 16});
  const torch::Tensor before = gpt->forward(ids);
  gpt->rotate_attention_heads(rotation(32, 0x6b76726f74ULL));
  const torch::Tensor after = gpt->forward(ids);
  EXPECT_LT((before - after).abs().max().item<float>(), 1e-4f);
  EXPECT_FALSE(torch::equal(before, after));  // the weights did change (rounding shows it)
  EXPECT_THROW(gpt->rotate_attention_heads(rotation(16, 1)), std::invalid_argument);
}

// One channel of K and of V with a large constant offset, as trained attention layers have: it
// sets every token's int4 scale, so the other 31 channels of the head keep only a few levels.
// Rotated, the offset is spread over the head and the cache's error falls.
TEST(KvRotation, SpreadsAnOutlierChannelSoThatInt4KvLosesLess) {
  auto error_of_int4_cache = [](bool rotate, bool center = false) {
    auto gpt = small_gpt();
    torch::NoGradGuard no_grad;
    for (const auto& item : gpt->named_parameters())
      if (item.key().find("qkv.bias") != std::string::npos)
        for (int64_t part : {1, 2}) item.value()[part * 64 + 5] = 10.0f;  // K and V, head 0, channel 5
    if (rotate) gpt->rotate_attention_heads(rotation(32, 0x6b76726f74ULL));
    const torch::Tensor ids = torch::randint(0, 256, {4, 16}, torch::TensorOptions().dtype(torch::kLong));
    if (center) gpt->center_attention_kv({torch::randint(0, 256, {8, 16}, torch::TensorOptions().dtype(torch::kLong))});
    const torch::Tensor ref = gpt->forward(ids);
    KvCacheScheme s;  // int4, groups of 32 = one scale per head and token
    gpt->set_kv_cache_scheme(s);
    return (gpt->forward(ids) - ref).pow(2).mean().item<double>();
  };
  torch::manual_seed(11);
  const double plain = error_of_int4_cache(false);
  torch::manual_seed(11);
  const double rotated = error_of_int4_cache(true);
  EXPECT_GT(plain, 0.0);
  EXPECT_LT(rotated, 0.25 * plain) << "plain " << plain << " rotated " << rotated;
  // The offset is the same for every token: centering removes it outright.
  torch::manual_seed(11);
  const double centered = error_of_int4_cache(false, true);
  EXPECT_LT(centered, 0.25 * plain) << "plain " << plain << " centered " << centered;
}

TEST(KvCentering, GptComputesTheSameFunctionAndItsMeansBecomeZero) {
  auto gpt = small_gpt();
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::randint(0, 256, {2, 16});
  const torch::Tensor calib = torch::randint(0, 256, {8, 16});
  const torch::Tensor before = gpt->forward(ids);
  gpt->center_attention_kv({calib});
  const torch::Tensor after = gpt->forward(ids);
  EXPECT_LT((before - after).abs().max().item<float>(), 1e-4f);
  std::vector<torch::Tensor> biases;
  for (const auto& item : gpt->named_parameters())
    if (item.key().find("bias") != std::string::npos) biases.push_back(item.value().clone());
  // Measured again on the same inputs, the means are ~0: the biases barely move.
  gpt->center_attention_kv({calib});
  size_t i = 0;
  for (const auto& item : gpt->named_parameters())
    if (item.key().find("bias") != std::string::npos)
      EXPECT_LT((item.value() - biases[i++]).abs().max().item<float>(), 1e-5f) << item.key();
  EXPECT_THROW(gpt->center_attention_kv({}), std::invalid_argument);
}

TEST(KvRotation, ModelsWithoutFoldableAttentionRefuse) {
  ModelSpec s;
  s.family = "mlp";
  auto mlp = make_model(s, InputShape{});
  EXPECT_THROW(mlp->rotate_attention_heads(rotation(2, 1)), std::runtime_error);
  EXPECT_THROW(mlp->center_attention_kv({torch::zeros({1, 784})}), std::runtime_error);
}

}  // namespace
}  // namespace qf::train
