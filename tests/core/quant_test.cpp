#include "core/quant.h"
#include "core/quant_scheme.h"

#include <gtest/gtest.h>

#include <set>

namespace qf {
namespace {

TEST(QuantRange, RestrictedSymmetricAndFullUnsigned) {
  EXPECT_EQ(quant_range(8, true).qmin, -127);
  EXPECT_EQ(quant_range(8, true).qmax, 127);
  EXPECT_EQ(quant_range(4, true).qmin, -7);
  EXPECT_EQ(quant_range(4, true).qmax, 7);
  EXPECT_EQ(quant_range(8, false).qmin, 0);
  EXPECT_EQ(quant_range(8, false).qmax, 255);
  EXPECT_EQ(quant_range(4, false).qmax, 15);
  EXPECT_THROW(quant_range(1, true), Error);
  EXPECT_THROW(quant_range(9, false), Error);
}

TEST(Rounding, HalfToEven) {
  EXPECT_EQ(round_half_even(0.5f), 0.0f);
  EXPECT_EQ(round_half_even(1.5f), 2.0f);
  EXPECT_EQ(round_half_even(2.5f), 2.0f);
  EXPECT_EQ(round_half_even(-0.5f), -0.0f);
  EXPECT_EQ(round_half_even(-1.5f), -2.0f);
  EXPECT_EQ(round_half_even(-2.5f), -2.0f);
  EXPECT_EQ(round_half_even(2.4999998f), 2.0f);
}

TEST(Quantize, TiesGoToEvenAndClamp) {
  const QuantRange r = quant_range(8, true);
  const QuantParams p{0.5f, 0};
  EXPECT_EQ(quantize(0.25f, p, r), 0);   // 0.5 -> 0
  EXPECT_EQ(quantize(0.75f, p, r), 2);   // 1.5 -> 2
  EXPECT_EQ(quantize(1.25f, p, r), 2);   // 2.5 -> 2
  EXPECT_EQ(quantize(-1.25f, p, r), -2);
  EXPECT_EQ(quantize(1000.0f, p, r), 127);
  EXPECT_EQ(quantize(-1000.0f, p, r), -127);  // never -128
  const QuantRange u = quant_range(8, false);
  EXPECT_EQ(quantize(-1000.0f, QuantParams{0.1f, 10}, u), 0);
  EXPECT_EQ(quantize(1000.0f, QuantParams{0.1f, 10}, u), 255);
  EXPECT_EQ(quantize(0.0f, QuantParams{0.1f, 10}, u), 10);
}

TEST(ScaleRules, Symmetric) {
  const QuantRange r = quant_range(8, true);
  EXPECT_FLOAT_EQ(symmetric_params(2.54f, r).scale, 2.54f / 127.0f);
  EXPECT_EQ(symmetric_params(2.54f, r).zero_point, 0);
  EXPECT_EQ(symmetric_params(0.0f, r).scale, 1.0f);  // all-zero tensor
  EXPECT_EQ(symmetric_params(1e-30f, r).scale, kMinScale);
  // The largest value maps to qmax exactly.
  const QuantParams p = symmetric_params(3.0f, r);
  EXPECT_EQ(quantize(3.0f, p, r), 127);
  EXPECT_EQ(quantize(-3.0f, p, r), -127);
}

TEST(ScaleRules, FullInt4Range) {
  const QuantRange r = full_quant_range(4);
  EXPECT_EQ(r.qmin, -8);
  EXPECT_EQ(r.qmax, 7);
  EXPECT_EQ(full_quant_range(2).qmin, -2);
  EXPECT_EQ(full_quant_range(2).qmax, 1);
  EXPECT_THROW(full_quant_range(8), Error);  // int8 keeps -128 out (VNNI / maddubs pair sums)
  // The restricted divisor is qmax itself, so restricted scales are unchanged bit for bit.
  EXPECT_EQ(symmetric_divisor(quant_range(8, true)), 127.0f);
  EXPECT_EQ(symmetric_divisor(quant_range(4, true)), 7.0f);
  EXPECT_EQ(symmetric_divisor(r), 7.5f);
  // GPTQ's symmetric int4: s = max|w| / 7.5, the negative extreme on -8, the positive one
  // halfway past 7 (7.5 rounds to even 8, then clamps to 7), 16 distinct levels in all.
  const QuantParams p = symmetric_params(3.0f, r);
  EXPECT_EQ(p.scale, 3.0f / 7.5f);
  EXPECT_EQ(quantize(-3.0f, p, r), -8);
  EXPECT_EQ(quantize(3.0f, p, r), 7);
  std::set<int32_t> levels;
  for (int i = -300; i <= 300; ++i) levels.insert(quantize(static_cast<float>(i) / 100.0f, p, r));
  EXPECT_EQ(levels.size(), 16u);
  WeightScheme ws;
  ws.bits = 4;
  EXPECT_EQ(weight_quant_range(ws).qmin, -7);
  ws.full_range = true;
  EXPECT_EQ(weight_quant_range(ws).qmin, -8);
}

TEST(ScaleRules, AsymmetricContainsZero) {
  const QuantRange r = quant_range(8, false);
  QuantParams p = asymmetric_params(1.0f, 3.0f, r);  // widened to [0, 3]
  EXPECT_FLOAT_EQ(p.scale, 3.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(quantize(0.0f, p, r), 0);
  p = asymmetric_params(-1.0f, 1.0f, r);
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 255.0f);
  // float32: -1 / (2/255) = -127.49999..., so z = 0 - round(-127.49999) = 127.
  EXPECT_EQ(p.zero_point, 127);
  EXPECT_EQ(p.zero_point, -static_cast<int32_t>(round_half_even(-1.0f / p.scale)));
  EXPECT_EQ(dequantize(quantize(0.0f, p, r), p), 0.0f);  // zero exactly representable
  p = asymmetric_params(-2.0f, -1.0f, r);  // widened to [-2, 0]
  EXPECT_EQ(p.zero_point, 255);
  EXPECT_EQ(asymmetric_params(0.0f, 0.0f, r).scale, 1.0f);
}

TEST(FakeQuantize, IsDequantOfQuant) {
  const QuantRange r = quant_range(4, true);
  const QuantParams p{0.1f, 0};
  EXPECT_FLOAT_EQ(fake_quantize(0.33f, p, r), 3 * 0.1f);
  EXPECT_FLOAT_EQ(fake_quantize(5.0f, p, r), 7 * 0.1f);
}

}  // namespace
}  // namespace qf
