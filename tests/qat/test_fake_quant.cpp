#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/quant.h"
#include "qat/fake_quant_fn.h"
#include "qat/fake_quantize.h"
#include "qat/quantization_modifier.h"

namespace qf::qat {
namespace {

// core's scalar fake_quantize applied element by element, the oracle.
torch::Tensor core_fake_quantize(const torch::Tensor& x, const torch::Tensor& scale, QuantRange r,
                                 const torch::Tensor& zp = {}) {
  const torch::Tensor xc = x.contiguous(), sc = scale.expand_as(x).contiguous();
  const torch::Tensor zc = zp.defined() ? zp.expand_as(x).contiguous() : torch::zeros_like(x);
  torch::Tensor out = torch::empty_like(xc);
  for (int64_t i = 0; i < xc.numel(); ++i) {
    QuantParams p{sc.data_ptr<float>()[i], static_cast<int32_t>(zc.data_ptr<float>()[i])};
    out.data_ptr<float>()[i] = fake_quantize(xc.data_ptr<float>()[i], p, r);
  }
  return out;
}

// Bit for bit, for every granularity, bit width and heavy-tailed random weights.
TEST(FakeQuant, WeightForwardEqualsCoreBitForBit) {
  torch::manual_seed(1);
  for (int bits : {2, 4, 8}) {
    for (auto g : {Granularity::kTensor, Granularity::kChannel, Granularity::kGroup}) {
      const torch::Tensor w = torch::randn({6, 4, 3, 4}) * torch::rand({6, 1, 1, 1}) * 3;  // K = 48
      WeightQuantConfig c;
      c.scheme.bits = bits;
      c.scheme.granularity = g;
      c.scheme.group_size = 16;
      WeightFakeQuant fq(c, w);
      const torch::Tensor y = fq->forward(w);
      // Scales per the granularity, broadcast back onto [O, K] and checked against core.
      const torch::Tensor s = fq->scales(w);
      torch::Tensor s_full;
      if (g == Granularity::kTensor) {
        s_full = s.expand({6, 48});
      } else if (g == Granularity::kChannel) {
        s_full = s.reshape({6, 1}).expand({6, 48});
      } else {
        s_full = s.reshape({6, 3, 1}).expand({6, 3, 16}).reshape({6, 48});
      }
      // The scale itself follows core's rule: absmax / qmax.
      const QuantRange r = quant_range(bits, true);
      const float absmax0 = w.reshape({6, 48})[0].narrow(0, 0, g == Granularity::kGroup ? 16 : 48).abs().max().item<float>();
      if (g != Granularity::kTensor) {
        EXPECT_EQ(s_full[0][0].item<float>(), symmetric_params(absmax0, r).scale);
      }
      const torch::Tensor expected = core_fake_quantize(w.reshape({6, 48}), s_full.contiguous(), r);
      EXPECT_TRUE(torch::equal(y.reshape({6, 48}), expected)) << "bits " << bits << " granularity " << granularity_name(g);
    }
  }
}

// `range: full`: int4 codes [-8, 7] with s = max|w| / 7.5, bit for bit core's rule, through the
// recipe key; the key is refused where the full range is not defined.
TEST(FakeQuant, FullInt4RangeFromTheRecipe) {
  const auto cfg = parse_quantization_modifier(RecipeNode::parse(
      "weights: {bits: 4, granularity: group, group_size: 16, range: full}\nkinds: [linear]\n", "m.yaml"));
  ASSERT_TRUE(cfg.qat.defaults.weights.has_value());
  EXPECT_TRUE(cfg.qat.defaults.weights->scheme.full_range);
  torch::manual_seed(3);
  const torch::Tensor w = torch::randn({6, 48});
  WeightFakeQuant fq(*cfg.qat.defaults.weights, w);
  const torch::Tensor s = fq->scales(w).reshape({6, 3, 1}).expand({6, 3, 16}).reshape({6, 48}).contiguous();
  const QuantRange r = full_quant_range(4);
  const float absmax0 = w[0].narrow(0, 0, 16).abs().max().item<float>();
  EXPECT_EQ(s[0][0].item<float>(), absmax0 / 7.5f);
  const torch::Tensor y = fq->forward(w);
  EXPECT_TRUE(torch::equal(y, core_fake_quantize(w, s, r)));
  // 16 levels are used: some weight lands on -8 (the groups' negative extremes).
  EXPECT_EQ(torch::round(y / s).min().item<float>(), -8.0f);
  // Overrides inherit the range where it applies: an int4 override stays full, an int8 one (which
  // the full range does not cover) restricted, and an explicit key wins.
  const auto mixed = parse_quantization_modifier(RecipeNode::parse(
      "weights: {bits: 4, granularity: group, group_size: 16, range: full}\nkinds: [linear]\noverrides:\n"
      "  - {pattern: a, weights: {bits: 3}}\n  - {pattern: b, weights: {bits: 8}}\n"
      "  - {pattern: c, weights: {range: restricted}}\n",
      "m.yaml"));
  ASSERT_EQ(mixed.qat.overrides.size(), 3u);
  EXPECT_TRUE(mixed.qat.overrides[0].scheme.weights->scheme.full_range);
  EXPECT_FALSE(mixed.qat.overrides[1].scheme.weights->scheme.full_range);
  EXPECT_FALSE(mixed.qat.overrides[2].scheme.weights->scheme.full_range);
  for (const char* bad : {"weights: {bits: 8, range: full}\nkinds: [linear]\n",
                          "weights: {format: q4_0, range: full}\nkinds: [linear]\n",
                          "weights: {format: fp8_e4m3, range: full}\nkinds: [linear]\n",
                          "weights: {bits: 4, range: wide}\nkinds: [linear]\n"})
    EXPECT_THROW(parse_quantization_modifier(RecipeNode::parse(bad, "m.yaml")), std::exception) << bad;
}

TEST(FakeQuant, ActivationForwardEqualsCoreBitForBit) {
  torch::manual_seed(2);
  // Static asymmetric, from a calibrated observer.
  ActQuantConfig c;
  c.mode = ActMode::kStatic;
  ActFakeQuant fq(c);
  fq->set_phase(QuantPhase::kCalibrate);
  const torch::Tensor calib = torch::randn({64, 10}) * 2 + 0.5;
  fq->forward(calib);
  fq->set_phase(QuantPhase::kFrozen);
  const torch::Tensor x = torch::randn({32, 10}) * 3;  // some values beyond the range: clamped
  const QuantParams p = fq->static_params();
  const QuantParams expected_p = asymmetric_params(calib.min().item<float>(), calib.max().item<float>(), quant_range(8, false));
  EXPECT_EQ(p.scale, expected_p.scale);
  EXPECT_EQ(p.zero_point, expected_p.zero_point);
  EXPECT_TRUE(torch::equal(fq->forward(x), core_fake_quantize(x, torch::full({1}, p.scale), quant_range(8, false),
                                                                torch::full({1}, static_cast<float>(p.zero_point)))));
  // Dynamic per-token: one symmetric scale per row.
  ActQuantConfig d;
  d.mode = ActMode::kDynamicPerToken;
  d.symmetric = true;
  ActFakeQuant dyn(d);
  const torch::Tensor t = torch::randn({2, 5, 16});
  const torch::Tensor row_scale = t.abs().amax(-1, true) / 127.0f;
  EXPECT_TRUE(torch::equal(dyn->forward(t), core_fake_quantize(t, row_scale, quant_range(8, true))));
}

// An oracle that shares nothing with core/quant.h or the op: double arithmetic and an explicit
// half-to-even rule. Only x / s is taken as a float division, as the contract (core/quant.h) says.
double independent_fake_quant(float x, float s, int z, int qmin, int qmax) {
  const double v = static_cast<double>(x / s);
  const double f = std::floor(v), frac = v - f;
  double r = frac > 0.5 ? f + 1 : f;
  if (frac == 0.5) r = std::fmod(f, 2.0) == 0 ? f : f + 1;  // ties to the even neighbour
  const double q = std::min<double>(qmax, std::max<double>(qmin, r + z));
  return (q - z) * static_cast<double>(s);
}

// Several scales (powers of two, where x = (k + 0.5) * s are exact ties, and others), zero
// points, bit widths and both code ranges, on ties, values beyond the clamp range and random ones.
TEST(FakeQuant, MatchesAnIndependentOracleOverScalesZeroPointsBitsAndTies) {
  torch::manual_seed(4);
  int ties = 0, cases = 0;
  for (int bits : {2, 3, 4, 8}) {
    for (bool symmetric : {true, false}) {
      const int qmax = symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1, qmin = symmetric ? -qmax : 0;
      const std::vector<int> zps = symmetric ? std::vector<int>{0} : std::vector<int>{0, 1, (qmax + 1) / 2, qmax};
      for (float s : {1.0f, 0.25f, 0.0078125f, 4.0f, 0.1f, 0.037f, 3.0f}) {
        for (int z : zps) {
          std::vector<float> xs;
          for (int k = qmin - z - 3; k <= qmax - z + 3; ++k) xs.push_back((static_cast<float>(k) + 0.5f) * s);
          const torch::Tensor r = torch::randn({64}) * s * static_cast<float>(qmax);
          for (int64_t i = 0; i < r.numel(); ++i) xs.push_back(r[i].item<float>());
          const torch::Tensor x = torch::tensor(xs);
          const torch::Tensor y = fake_quantize(x, torch::full({}, s), torch::full({}, static_cast<float>(z)), qmin, qmax);
          for (size_t i = 0; i < xs.size(); ++i) {
            const double v = static_cast<double>(xs[i] / s);
            ties += v - std::floor(v) == 0.5;
            ++cases;
            ASSERT_EQ(y[static_cast<int64_t>(i)].item<float>(), static_cast<float>(independent_fake_quant(xs[i], s, z, qmin, qmax)))
                << "x " << xs[i] << " scale " << s << " zero point " << z << " bits " << bits
                << (symmetric ? " symmetric" : " asymmetric");
          }
        }
      }
    }
  }
  EXPECT_GT(ties, cases / 4);  // the ties really were exercised
  // And the rule itself, spelled out: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2.
  const torch::Tensor t = fake_quantize(torch::tensor({0.5f, 1.5f, 2.5f, -0.5f, -1.5f}), torch::ones({}), torch::zeros({}), -7, 7);
  EXPECT_TRUE(torch::equal(t, torch::tensor({0.f, 2.f, 2.f, -0.f, -2.f})));
}

TEST(FakeQuant, SteGradientIsMaskedOutsideTheClampRange) {
  const torch::Tensor x = torch::tensor({-10.f, -7.4f, 0.3f, 6.9f, 7.6f, 20.f}).requires_grad_();
  fake_quantize(x, torch::ones({}), torch::zeros({}), -7, 7).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.f, 1.f, 1.f, 1.f, 0.f, 0.f})));
}

// LSQ's scale gradient is the derivative of the forward with round() treated as identity: check
// it against central finite differences of that surrogate, which is smooth in s.
TEST(FakeQuant, LsqScaleGradientMatchesFiniteDifferences) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({200}, torch::kDouble).to(torch::kFloat) * 2;
  const torch::Tensor g = torch::randn({200});
  const double s0 = 0.11;
  torch::Tensor s = torch::full({}, s0, torch::kFloat).requires_grad_();
  (fake_quantize(x, s, torch::zeros({}), -7, 7) * g).sum().backward();
  const double analytic = s.grad().item<double>();
  // Surrogate: round(x/s) held at its value at s0 (STE), clamp applied.
  const torch::Tensor xd = x.to(torch::kDouble), gd = g.to(torch::kDouble);
  const torch::Tensor r = torch::round(xd / s0);
  auto surrogate = [&](double sv) {
    const torch::Tensor inside = (r >= -7) & (r <= 7);
    const torch::Tensor q = torch::where(inside, r + (xd / sv - xd / s0), r.clamp(-7, 7));
    return (q * sv * gd).sum().item<double>();
  };
  const double h = 1e-6;
  const double numeric = (surrogate(s0 + h) - surrogate(s0 - h)) / (2 * h);
  EXPECT_NEAR(analytic, numeric, 1e-3 * std::max(1.0, std::abs(numeric)));
  EXPECT_NE(analytic, 0.0);
}

// scale_gradient: the min-max scale s = max|w| / qmax passes gradient. Under the straight-through
// rounding, d(sum c * fq(w))/dw is c everywhere (the detached scale) plus, at each group's largest
// |w|, sign(w_m) / qmax * sum_i c_i (q_i - w_i / s): the derivative through the scale.
TEST(FakeQuant, ScaleGradientReachesEachGroupsLargestWeight) {
  torch::manual_seed(3);
  const int64_t rows = 3, k = 16, g = 8;
  const torch::Tensor w0 = torch::randn({rows, k});
  const torch::Tensor c = torch::randn({rows, k});
  auto grad = [&](bool scale_gradient) {
    WeightQuantConfig cfg;
    cfg.scheme.bits = 4;
    cfg.scheme.granularity = Granularity::kGroup;
    cfg.scheme.group_size = g;
    cfg.scale_gradient = scale_gradient;
    WeightFakeQuant fq(cfg, w0);
    const torch::Tensor w = w0.clone().requires_grad_(true);
    (fq->forward(w) * c).sum().backward();
    return w.grad().clone();
  };
  const torch::Tensor detached = grad(false), through = grad(true);
  EXPECT_TRUE(torch::equal(detached, c)) << "every weight is inside the clamp range: plain STE";
  const torch::Tensor groups = w0.reshape({rows, k / g, g});
  const torch::Tensor absmax = groups.abs().amax(-1, true);
  const torch::Tensor s = absmax / 7.0;
  const torch::Tensor xs = groups / s;
  const torch::Tensor inner = (c.reshape({rows, k / g, g}) * (torch::round(xs) - xs)).sum(-1, true);
  const torch::Tensor is_max = groups.abs() == absmax;
  const torch::Tensor expected =
      c.reshape({rows, k / g, g}) + torch::where(is_max, torch::sign(groups) * inner / 7.0, torch::zeros_like(groups));
  EXPECT_TRUE(torch::allclose(through, expected.reshape({rows, k}), 1e-5, 1e-6))
      << "max |through - expected| = " << (through - expected.reshape({rows, k})).abs().max().item<double>();
  EXPECT_EQ(is_max.sum().item<int64_t>(), rows * k / g) << "one largest weight per group (no ties)";
  EXPECT_FALSE(torch::equal(through, detached));
  // The forward is the same function.
  WeightQuantConfig a, b;
  a.scheme.bits = b.scheme.bits = 4;
  a.scheme.granularity = b.scheme.granularity = Granularity::kGroup;
  a.scheme.group_size = b.scheme.group_size = g;
  b.scale_gradient = true;
  EXPECT_TRUE(torch::equal(WeightFakeQuant(a, w0)->forward(w0), WeightFakeQuant(b, w0)->forward(w0)));
}

// Quant-Noise: in training mode a group is either exactly fake-quantized or exactly float; about
// the set share of them is quantized; evaluation mode and p = 1 quantize every group.
TEST(FakeQuant, QuantNoiseQuantizesWholeGroupsWithTheSetProbability) {
  torch::manual_seed(5);
  const int64_t rows = 64, k = 256, g = 64;
  const torch::Tensor w = torch::randn({rows, k});
  WeightQuantConfig cfg;
  cfg.scheme.bits = 4;
  cfg.scheme.granularity = Granularity::kGroup;
  cfg.scheme.group_size = g;
  WeightFakeQuant fq(cfg, w);
  const torch::Tensor full = fq->forward(w).reshape({rows, k / g, g});
  const torch::Tensor wg = w.reshape({rows, k / g, g});
  ASSERT_TRUE((full != wg).any(-1).all().item<bool>()) << "every group changes when quantized";
  fq->set_quant_fraction(0.25);
  fq->train();
  const torch::Tensor y = fq->forward(w).reshape({rows, k / g, g});
  const torch::Tensor quantized = (y == full).all(-1), kept = (y == wg).all(-1);
  EXPECT_TRUE((quantized ^ kept).all().item<bool>()) << "each group is all quantized or all float";
  const double share = quantized.to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(share, 0.25, 0.06) << "256 groups at p = 0.25";
  EXPECT_FALSE(torch::equal(fq->forward(w), fq->forward(w))) << "drawn afresh at every forward";
  fq->eval();
  EXPECT_TRUE(torch::equal(fq->forward(w).reshape({rows, k / g, g}), full)) << "evaluation quantizes every group";
  fq->train();
  fq->set_quant_fraction(1.0);
  EXPECT_TRUE(torch::equal(fq->forward(w).reshape({rows, k / g, g}), full));
  // codes(): the integers the forward multiplies by the scales.
  EXPECT_TRUE(torch::equal(fq->codes(w) * fq->element_scales(w), full.reshape({rows, k})));
  EXPECT_LE(fq->codes(w).abs().max().item<double>(), 7.0);
}

TEST(QuantNoise, FractionRisesLinearlyToOneAtFullEpoch) {
  QuantNoiseConfig c;
  c.fraction = 0.25;
  EXPECT_DOUBLE_EQ(quant_noise_fraction(c, 100, 100, 200), 0.25);
  EXPECT_DOUBLE_EQ(quant_noise_fraction(c, 150, 100, 200), 0.625);
  EXPECT_DOUBLE_EQ(quant_noise_fraction(c, 199, 100, 200), 0.25 + 0.75 * 0.99);
  EXPECT_DOUBLE_EQ(quant_noise_fraction(c, 200, 100, 200), 1.0);
  EXPECT_DOUBLE_EQ(quant_noise_fraction(c, 5000, 100, 200), 1.0);
}

// Nagel et al.'s oscillation tracking on hand-made code sequences (momentum 0.5): weight 0 flips
// 0, 1, 0, 1, ... (an oscillation from the second flip on), weight 1 climbs 0, 1, 2, 3 (never
// reverses), weight 2 stays. Frequencies: 0, 0.5, 0.75, 0.875, ...; the codes' EMA of weight 0:
// 0, 0.5, 0.25, 0.625, ...
TEST(OscillationTracker, FreezesAFlippingWeightAtItsRoundedCodeAverage) {
  auto run = [](double threshold, int steps) {
    OscillationTracker t({threshold, 0.5});
    for (int i = 0; i < steps; ++i) t.update(torch::tensor({static_cast<float>(i % 2), static_cast<float>(i), 3.0f}));
    return t;
  };
  {
    const OscillationTracker t = run(0.3, 3);  // frequency 0.5 at the third update (i = 2)
    EXPECT_TRUE(torch::equal(t.frozen(), torch::tensor({true, false, false})));
    EXPECT_FLOAT_EQ(t.frozen_codes()[0].item<float>(), 0.0f);  // round(0.25)
    EXPECT_FLOAT_EQ(t.frequency()[0].item<float>(), 0.5f);
    EXPECT_EQ(t.frozen_count(), 1);
  }
  {
    const OscillationTracker t = run(0.6, 3);
    EXPECT_EQ(t.frozen_count(), 0) << "0.5 is not above 0.6";
    const OscillationTracker u = run(0.6, 4);  // 0.75 at i = 3, codes' EMA 0.625
    EXPECT_TRUE(torch::equal(u.frozen(), torch::tensor({true, false, false})));
    EXPECT_FLOAT_EQ(u.frozen_codes()[0].item<float>(), 1.0f);
  }
  {
    // Once frozen, frozen for good at the code it froze at, whatever the codes do next.
    OscillationTracker t({0.6, 0.5});
    for (float c : {0.0f, 1.0f, 0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f}) t.update(torch::tensor({c}));
    EXPECT_TRUE(t.frozen()[0].item<bool>());
    EXPECT_FLOAT_EQ(t.frozen_codes()[0].item<float>(), 1.0f);
    EXPECT_LT(t.frequency()[0].item<float>(), 0.6f) << "no oscillations since: the frequency decayed";
  }
  EXPECT_FALSE(OscillationTracker({0.02, 0.01}).started());
}

TEST(FakeQuant, GroupSizeThatDoesNotDivideKIsAnError) {
  WeightQuantConfig c;
  c.scheme.granularity = Granularity::kGroup;
  c.scheme.group_size = 32;
  EXPECT_THROW(WeightFakeQuant(c, torch::randn({4, 48})), std::invalid_argument);
}

}  // namespace
}  // namespace qf::qat
