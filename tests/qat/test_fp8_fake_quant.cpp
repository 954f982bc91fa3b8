// FP8 E4M3 on the training side: the tensor-op fake quantizer equals core's scalar arithmetic bit
// for bit (the exporter writes core's codes), its gradient is the clipped straight-through one,
// the fake-quant modules compute FP8 for weights and inputs, and recipes with `format: fp8_e4m3`
// parse or fail naming file, line and key.
#include <gtest/gtest.h>

#include <cstring>

#include "core/fp8_quantize.h"
#include "quantization_recipe_error.h"
#include "qat/fake_quantize.h"
#include "qat/fp8_fake_quant.h"
#include "qat/quantization_modifier.h"
#include "train/recipe.h"

namespace qf::qat {
namespace {

// Every E4M3 value, every midpoint between neighbours and its two float neighbours, saturation
// and random values over the whole range.
std::vector<float> interesting_values() {
  std::vector<float> v;
  for (int b = 0; b < 256; ++b)
    if (!e4m3_is_nan(static_cast<uint8_t>(b))) v.push_back(e4m3_to_fp32(static_cast<uint8_t>(b)));
  for (int b = 0; b < 0x7E; ++b) {
    const float m = (e4m3_to_fp32(static_cast<uint8_t>(b)) + e4m3_to_fp32(static_cast<uint8_t>(b + 1))) / 2;
    for (float x : {m, std::nextafter(m, 0.0f), std::nextafter(m, 1e9f)}) {
      v.push_back(x);
      v.push_back(-x);
    }
  }
  for (float x : {448.5f, 464.0f, 465.0f, 1e6f, 1e-30f, 1e-40f}) {
    v.push_back(x);
    v.push_back(-x);
  }
  torch::manual_seed(3);
  const torch::Tensor r = torch::randn({20000}) * torch::exp2(torch::randint(-14, 10, {20000}).to(torch::kFloat));
  for (int64_t i = 0; i < r.numel(); ++i) v.push_back(r[i].item<float>());
  return v;
}

TEST(E4M3FakeQuant, TensorRoundingEqualsCoreBitForBit) {
  const std::vector<float> v = interesting_values();
  const torch::Tensor t = torch::tensor(v);
  const torch::Tensor r = e4m3_round(t).contiguous();
  for (size_t i = 0; i < v.size(); ++i) {
    const float want = e4m3_to_fp32(fp32_to_e4m3(v[i]));
    const float got = r[static_cast<int64_t>(i)].item<float>();
    ASSERT_EQ(std::memcmp(&want, &got, 4), 0) << "x = " << v[i] << " want " << want << " got " << got;
  }
}

TEST(E4M3FakeQuant, ScaledFakeQuantEqualsCoreAndGradientIsClippedStraightThrough) {
  torch::manual_seed(4);
  const torch::Tensor w = torch::randn({6, 40});
  const torch::Tensor s = e4m3_scale(w.abs().amax(-1, true));
  const torch::Tensor y = e4m3_fake_quantize(w, s);
  const QuantLayout layout = QuantLayout::make(6, 40, Granularity::kChannel);
  std::vector<float> scales(6), back(240);
  std::vector<uint8_t> codes(240);
  const torch::Tensor wc = w.contiguous();
  quantize_e4m3_matrix(wc.data_ptr<float>(), layout, nullptr, scales.data(), codes.data());
  dequantize_e4m3_matrix(codes.data(), layout, scales.data(), back.data());
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(s[i][0].item<float>(), scales[static_cast<size_t>(i)]);
  const torch::Tensor yc = y.contiguous();
  EXPECT_EQ(std::memcmp(yc.data_ptr<float>(), back.data(), 240 * 4), 0);
  // Gradient: 1 inside +-448 s, 0 where the value saturated.
  const torch::Tensor x = torch::tensor({1.0f, -2.0f, 500.0f, -900.0f, 448.0f}).requires_grad_(true);
  e4m3_fake_quantize(x, torch::ones({})).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({1.0f, 1.0f, 0.0f, 0.0f, 1.0f})));
}

TEST(E4M3FakeQuant, ModulesQuantizeWeightsAndInputsToFp8) {
  torch::manual_seed(5);
  const torch::Tensor w = torch::randn({8, 16});
  WeightQuantConfig wc;
  wc.scheme.bits = 8;
  wc.scheme.e4m3 = true;
  for (Granularity g : {Granularity::kTensor, Granularity::kChannel}) {
    wc.scheme.granularity = g;
    WeightFakeQuant q(wc, w);
    const torch::Tensor s = q->scales(w);
    EXPECT_EQ(s.numel(), g == Granularity::kTensor ? 1 : 8);
    const torch::Tensor y = q->forward(w);
    const torch::Tensor sb = g == Granularity::kTensor ? s.view({1, 1}) : s.view({8, 1});
    EXPECT_TRUE(torch::equal(y, e4m3_round(w / sb) * sb));
    // The scale rule: the largest magnitude lands on +-448 exactly.
    EXPECT_EQ(e4m3_round(w / sb).abs().max().item<float>(), 448.0f);
  }
  wc.scheme.granularity = Granularity::kGroup;
  wc.scheme.group_size = 8;
  EXPECT_THROW(WeightFakeQuant(wc, w), std::invalid_argument);
  // Inputs: dynamic per token, and static with the observed range.
  ActQuantConfig ac;
  ac.e4m3 = true;
  ac.symmetric = true;
  ac.mode = ActMode::kDynamicPerToken;
  ActFakeQuant dyn(ac);
  const torch::Tensor x = torch::randn({4, 16}) * 3;
  const torch::Tensor sx = (x.abs().amax(-1, true) / 448.0f);
  EXPECT_TRUE(torch::equal(dyn->forward(x), e4m3_round(x / sx) * sx));
  EXPECT_TRUE(dyn->act_scheme().e4m3);
  ac.mode = ActMode::kStatic;
  ac.observer = calibrate::ObserverKind::kMinMax;
  ActFakeQuant st(ac);
  st->set_phase(QuantPhase::kCalibrate);
  st->forward(x);
  st->set_phase(QuantPhase::kFrozen);
  const float scale = st->static_params().scale;
  EXPECT_EQ(scale, x.abs().max().item<float>() / 448.0f);
  EXPECT_TRUE(torch::equal(st->forward(x), e4m3_round(x / scale) * scale));
  const ActScheme a = st->act_scheme();
  EXPECT_TRUE(a.e4m3);
  EXPECT_EQ(a.scale, scale);
  EXPECT_EQ(a.zero_point, 0);
}

using test::recipe_error;

TEST(E4M3Recipe, ErrorsNameFileLineAndKey) {
  struct Case {
    const char* yaml;
    const char* where;
    const char* why;
  };
  const Case cases[] = {
      {"      weights: {format: fp8_e4m3, bits: 8}\n", "bad.yaml:7: key 'bits'", "implied by format: fp8_e4m3"},
      {"      weights: {format: fp8_e4m3, granularity: group}\n", "bad.yaml:7: key 'granularity'", "tensor, channel"},
      {"      weights: {format: fp8_e4m3, method: lsq}\n", "bad.yaml:7: key 'method'", "minmax"},
      {"      weights: {format: fp8}\n", "bad.yaml:7: key 'format'", "fp8_e4m3"},
      // FP8 weights take FP8 (or float) inputs, integer weights integer inputs.
      {"      weights: {format: fp8_e4m3}\n      inputs: {mode: static}\n", "bad.yaml:8: key 'inputs'",
       "fp8_e4m3 inputs or float inputs"},
      {"      weights: {bits: 4}\n      inputs: {mode: static, format: fp8_e4m3}\n", "bad.yaml:8: key 'inputs'",
       "need fp8_e4m3 weights"},
      {"      weights: {format: fp8_e4m3}\n      inputs: {format: fp8_e4m3, mode: static, bits: 4}\n",
       "bad.yaml:8: key 'bits'", "implied by format: fp8_e4m3"},
      {"      weights: {format: fp8_e4m3}\n      inputs: {format: fp8_e4m3, mode: static, observer: mse}\n",
       "bad.yaml:8: key 'observer'", "moving_average_minmax"},
      {"      kinds: [conv2d]\n      weights: {format: fp8_e4m3}\n"
       "      inputs: {format: fp8_e4m3, mode: dynamic_per_token}\n",
       "bad.yaml:9: key 'inputs'", "for conv2d layers"},
      {"      weights: {format: fp8_e4m3}\n      ptq: {method: mse}\n", "bad.yaml:7: key 'weights'", "integer grids"},
      // An override to int4 must bring integer inputs along.
      {"      weights: {format: fp8_e4m3}\n      inputs: {format: fp8_e4m3, mode: static}\n      overrides:\n"
       "        - {pattern: fc0, weights: {format: none, bits: 4}}\n",
       "bad.yaml:10: key 'weights' in 'modifiers[0].quantization.overrides[0]'", "need fp8_e4m3 weights"},
  };
  for (const Case& c : cases) {
    const std::string e = recipe_error(c.yaml);
    EXPECT_NE(e.find(c.where), std::string::npos) << c.yaml << "\n-> " << e;
    EXPECT_NE(e.find(c.why), std::string::npos) << c.yaml << "\n-> " << e;
  }
}

TEST(E4M3Recipe, MixedFp8AndInt4Parse) {
  for (const char* yaml : {
           "      weights: {format: fp8_e4m3}\n",
           "      weights: {format: fp8_e4m3, granularity: tensor}\n      inputs: {format: fp8_e4m3, mode: static}\n",
           "      kinds: [linear]\n      weights: {format: fp8_e4m3}\n"
           "      inputs: {format: fp8_e4m3, mode: dynamic_per_token}\n",
           "      kinds: [embedding]\n      weights: {format: fp8_e4m3}\n",
           // int4 W4A8 by default, FP8 W8A8 on two layers by pattern.
           "      weights: {bits: 4, granularity: group, group_size: 16}\n      inputs: {mode: static}\n"
           "      overrides:\n"
           "        - {pattern: 'fc*', weights: {format: fp8_e4m3}, inputs: {format: fp8_e4m3}}\n"
           "        - {pattern: fc2, weights: {format: none, bits: 8}, inputs: {format: int}}\n"}) {
    EXPECT_EQ(recipe_error(yaml), "(no error)") << yaml;
  }
}

}  // namespace
}  // namespace qf::qat
