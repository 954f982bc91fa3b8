// QAT against llama.cpp's Q4_0 / Q8_0: the LibTorch fake quantizer equals core's ggml block
// arithmetic (itself checked against ggml's reference in tests/core/ggml_blocks_test.cpp) bit for
// bit, passes gradients straight through, and a recipe selects it by name.
#include <gtest/gtest.h>

#include <cstring>

#include "../train/test_support.h"
#include "core/fp16.h"
#include "core/ggml_blocks.h"
#include "qat/fake_quantize.h"
#include "qat/ggml_fake_quant.h"
#include "qat/quantization_modifier.h"

namespace qf::qat {
namespace {

torch::Tensor core_reference(const torch::Tensor& w, GgmlFormat f) {
  const torch::Tensor x = w.contiguous();
  torch::Tensor out = torch::empty_like(x);
  fake_quantize_ggml(f, x.data_ptr<float>(), x.size(0), x.size(1), out.data_ptr<float>());
  return out;
}

bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  const torch::Tensor ac = a.contiguous(), bc = b.contiguous();
  for (int64_t i = 0; i < ac.numel(); ++i)
    if (std::memcmp(ac.data_ptr<float>() + i, bc.data_ptr<float>() + i, 4) != 0) {
      ADD_FAILURE() << "first difference at flat index " << i << ": " << ac.data_ptr<float>()[i] << " vs "
                    << bc.data_ptr<float>()[i];
      return false;
    }
  return true;
}

TEST(GgmlFakeQuant, EqualsCoreBitForBit) {
  torch::manual_seed(3);
  for (GgmlFormat f : {GgmlFormat::kQ4_0, GgmlFormat::kQ8_0}) {
    for (int trial = 0; trial < 20; ++trial) {
      torch::Tensor w = torch::randn({24, 128}) * torch::rand({24, 1}) * 0.1;
      if (trial % 3 == 1) w = torch::round(w * 64) / 64;  // ties and half-way codes
      if (trial % 3 == 2) {
        w.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 32)}, 0.0);  // zero blocks
        w.index_put_({0, 40}, 5.0);
        w.index_put_({1, 40}, -5.0);
        w.index_put_({1, 41}, 5.0);  // a magnitude tie
      }
      const torch::Tensor got = ggml_fake_quantize(w, f);
      ASSERT_TRUE(bitwise_equal(got, core_reference(w, f))) << ggml_format_name(f) << " trial " << trial;
    }
  }
}

TEST(GgmlFakeQuant, ScalesAreTheFp16RoundedBlockScales) {
  torch::manual_seed(4);
  const torch::Tensor w = torch::randn({4, 64});
  const torch::Tensor s = ggml_block_scales(w, GgmlFormat::kQ8_0);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{4, 2}));
  std::vector<BlockQ8_0> b(2);
  for (int r = 0; r < 4; ++r) {
    quantize_row_q8_0(w[r].contiguous().data_ptr<float>(), 64, b.data());
    for (int j = 0; j < 2; ++j) EXPECT_EQ(s[r][j].item<float>(), fp16_to_fp32(b[j].d));
  }
}

TEST(GgmlFakeQuant, StraightThroughGradient) {
  const torch::Tensor w = torch::randn({3, 64}).requires_grad_(true);
  const torch::Tensor g = torch::randn({3, 64});
  (ggml_fake_quantize(w, GgmlFormat::kQ4_0) * g).sum().backward();
  EXPECT_TRUE(torch::equal(w.grad(), g));
}

TEST(GgmlFakeQuant, RecipeSelectsItByName) {
  const auto cfg = parse_quantization_modifier(RecipeNode::parse("weights: {format: q4_0}\nkinds: [linear]\n", "m.yaml"));
  ASSERT_TRUE(cfg.qat.defaults.weights.has_value());
  const WeightScheme& s = cfg.qat.defaults.weights->scheme;
  EXPECT_EQ(s.ggml_format, GgmlFormat::kQ4_0);
  EXPECT_EQ(s.bits, 4);
  EXPECT_EQ(s.group_size, 32);
  const torch::Tensor w = torch::randn({8, 64});
  WeightFakeQuant fq(*cfg.qat.defaults.weights, w);
  EXPECT_TRUE(bitwise_equal(fq->forward(w), core_reference(w, GgmlFormat::kQ4_0)));
  // bits beside a format, LSQ and unknown formats are refused with the key named.
  for (const char* bad : {"weights: {format: q4_0, bits: 4}\nkinds: [linear]\n",
                          "weights: {format: q8_0, method: lsq}\nkinds: [linear]\n",
                          "weights: {format: q4_1}\nkinds: [linear]\n"})
    EXPECT_THROW(parse_quantization_modifier(RecipeNode::parse(bad, "m.yaml")), std::exception) << bad;
}

// A whole gpt prepared for Q4_0 QAT: every linear weight the forward uses is the Q4_0
// dequantization of the float weight, and the model trains (gradients reach the float weights).
TEST(GgmlFakeQuant, PreparesAModelAndTrains) {
  const auto cfg = parse_quantization_modifier(RecipeNode::parse("weights: {format: q4_0}\nkinds: [linear]\n", "m.yaml"));
  ModelSpec s;
  s.family = "gpt";
  s.layers = 1;
  s.heads = 2;
  s.dim = 32;
  s.context = 8;
  auto model = train::make_model(s, train::InputShape{});
  const auto prepared = prepare_qat(*model, cfg.qat);
  ASSERT_FALSE(prepared.empty());
  for (auto& layer : model->layers()) {
    auto hook = std::dynamic_pointer_cast<WeightFakeQuantImpl>(layer->hook(train::HookSlot::kWeightQuant));
    if (!hook) continue;
    const torch::Tensor w = layer->effective_weight().detach();
    EXPECT_TRUE(bitwise_equal(hook->forward(w), core_reference(w.reshape({w.size(0), -1}), GgmlFormat::kQ4_0).reshape(w.sizes())))
        << layer->layer_name();
  }
  const torch::Tensor y = model->forward(torch::randint(0, 256, {2, 8}));
  y.sum().backward();
  int with_grad = 0;
  for (const auto& p : model->parameters()) with_grad += p.grad().defined() && p.grad().abs().sum().item<float>() > 0;
  EXPECT_GT(with_grad, 0);
}

}  // namespace
}  // namespace qf::qat
