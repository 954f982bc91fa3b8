// Training's KV cache fake quantization (train/kv_fake_quant.h) against core/kv_quant.h's rule,
// bit for bit, on random data and edge cases; straight-through gradients; the gpt model's
// attention with a scheme set (and its graph's attributes).
#include <gtest/gtest.h>

#include <cstring>

#include "core/kv_cache_attrs.h"
#include "core/kv_quant.h"
#include "train/kv_fake_quant.h"
#include "train/models.h"

namespace qf::train {
namespace {

KvCacheScheme scheme(int bits, int64_t group, bool symmetric, float clip = 1.0f) {
  KvCacheScheme s;
  s.bits = bits;
  s.group_size = group;
  s.symmetric = symmetric;
  s.clip = clip;
  return s;
}

KvCacheScheme zp_scheme(int bits, int64_t group) {
  KvCacheScheme s = scheme(bits, group, false);
  s.int_zero_point = true;
  return s;
}

TEST(KvFakeQuant, EqualsTheCoreRuleBitForBit) {
  torch::manual_seed(3);
  const int64_t rows = 40, heads = 2, d = 64, c = heads * d;
  torch::Tensor x = torch::randn({2, rows / 2, c}) * 3;
  // Edge rows: all zeros, one huge value, values below fp16's range, exact ties (absmax 7 -> s 1).
  x[0][0].zero_();
  x[0][1][5] = 1e6f;
  x[0][2].mul_(1e-10);
  x[0][3] = torch::arange(c, torch::kFloat).remainder(15).sub(7).add(0.5).clamp(-7, 7);
  for (const KvCacheScheme& s : {scheme(4, 32, true), scheme(4, 64, false), scheme(4, 0, true), scheme(8, 32, true),
                                 scheme(8, 64, false), scheme(4, 32, true, 0.85f), zp_scheme(4, 32), zp_scheme(4, 0),
                                 zp_scheme(8, 64)}) {
    SCOPED_TRACE("bits " + std::to_string(s.bits) + " group " + std::to_string(s.group_size) + " sym " +
                 std::to_string(s.symmetric) + " clip " + std::to_string(s.clip));
    const torch::Tensor y = kv_fake_quantize(x, s, d).contiguous();
    const torch::Tensor xc = x.contiguous();
    std::vector<float> want(static_cast<size_t>(c));
    for (int64_t r = 0; r < rows; ++r) {
      kv_fake_quantize_row(xc.data_ptr<float>() + r * c, c, kv_group(s, d), s, want.data());
      const float* got = y.data_ptr<float>() + r * c;
      for (int64_t e = 0; e < c; ++e)
        ASSERT_EQ(got[e], want[e]) << "row " << r << " value " << e << " x " << xc.data_ptr<float>()[r * c + e];
    }
  }
}

TEST(KvFakeQuant, GradientIsStraightThrough) {
  torch::Tensor x = torch::randn({3, 64}, torch::requires_grad());
  kv_fake_quantize(x, scheme(4, 32, true), 32).mul(torch::arange(64, torch::kFloat)).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::arange(64, torch::kFloat).expand({3, 64})));
  torch::Tensor xz = (torch::randn({3, 64}) + 2).requires_grad_();
  kv_fake_quantize(xz, zp_scheme(4, 32), 32).mul(torch::arange(64, torch::kFloat)).sum().backward();
  EXPECT_TRUE(torch::equal(xz.grad(), torch::arange(64, torch::kFloat).expand({3, 64})));
}

TEST(KvFakeQuant, GptAttentionUsesTheSchemeAndDescribesIt) {
  ModelSpec s;
  s.family = "gpt";
  s.layers = 1;
  s.heads = 2;
  s.dim = 64;
  s.context = 16;
  torch::manual_seed(1);
  auto gpt = make_model(s, InputShape{});
  gpt->eval();
  ASSERT_TRUE(gpt->has_kv_cache());
  EXPECT_EQ(gpt->kv_head_dim(), 32);
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::randint(0, 256, {2, 16});
  const torch::Tensor plain = gpt->forward(ids);
  gpt->set_kv_cache_scheme(scheme(4, 0, true));
  const torch::Tensor quant = gpt->forward(ids);
  EXPECT_FALSE(torch::equal(plain, quant));  // the cache's rounding changes the logits...
  EXPECT_LT((plain - quant).abs().max().item<float>(), 1.0f);  // ...a little
  bool found = false;
  for (const Op& op : gpt->describe().ops)
    if (op.kind == "causal_attention") {
      found = true;
      const auto k = read_kv_cache_attrs(op);
      ASSERT_TRUE(k.has_value());
      EXPECT_EQ(k->bits, 4);
      EXPECT_EQ(k->group_size, 32);  // "whole head" resolved
      EXPECT_TRUE(k->symmetric);
    }
  EXPECT_TRUE(found);
  gpt->set_kv_cache_scheme(std::nullopt);
  EXPECT_TRUE(torch::equal(plain, gpt->forward(ids)));
}

}  // namespace
}  // namespace qf::train
