// core/fp8_e4m3 and core/fp8_quantize against tables generated here from the OCP definition of
// E4M3 (value = (1 + M/8) * 2^(E-7), subnormal M/8 * 2^-6, S.1111.111 NaN), in double with
// exact arithmetic -- never with the code under test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/fp8_e4m3.h"
#include "core/fp8_quantize.h"

namespace qf {
namespace {

// The OCP table: value of every pattern, NaN for the two NaN patterns.
double ocp_value(int b) {
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  const double mag = e == 0 ? (m / 8.0) * std::ldexp(1.0, -6) : (1.0 + m / 8.0) * std::ldexp(1.0, e - 7);
  return s ? -mag : mag;
}

// The 127 positive finite values in increasing order (code 0x00 .. 0x7E).
std::vector<double> positive_values() {
  std::vector<double> v;
  for (int b = 0; b <= 0x7E; ++b) v.push_back(ocp_value(b));
  return v;
}

// Brute-force oracle: the nearest value by exhaustive search, ties to the even code, saturating.
uint8_t nearest_code(float x) {
  if (std::isnan(x)) return std::signbit(x) ? 0xFF : 0x7F;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const double a = std::fabs(static_cast<double>(x));
  if (a >= 448.0) return sign | 0x7E;
  const std::vector<double> v = positive_values();
  int best = 0;
  for (int b = 1; b <= 0x7E; ++b) {
    const double d = std::fabs(a - v[b]), db = std::fabs(a - v[best]);
    if (d < db || (d == db && (b & 1) == 0)) best = b;
  }
  return static_cast<uint8_t>(sign | best);
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(E4M3, DecodesEveryPatternExactly) {
  int nans = 0;
  for (int b = 0; b < 256; ++b) {
    const double want = ocp_value(b);
    const float got = e4m3_to_fp32(static_cast<uint8_t>(b));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << b;
      EXPECT_TRUE(e4m3_is_nan(static_cast<uint8_t>(b))) << b;
      ++nans;
      continue;
    }
    EXPECT_EQ(static_cast<double>(got), want) << "pattern 0x" << std::hex << b;
    EXPECT_EQ(std::signbit(got), (b & 0x80) != 0) << b;  // -0 is 0x80
    EXPECT_EQ(e4m3_to_int_2p9(static_cast<uint8_t>(b)), static_cast<int32_t>(want * 512.0)) << b;
  }
  EXPECT_EQ(nans, 2);
  EXPECT_EQ(e4m3_to_fp32(0x7E), 448.0f);
  EXPECT_EQ(e4m3_to_fp32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3_to_fp32(0x08), std::ldexp(1.0f, -6));
}

TEST(E4M3, EncodingEveryFiniteValueReturnsItsPattern) {
  for (int b = 0; b < 256; ++b) {
    const double v = ocp_value(b);
    if (std::isnan(v)) continue;
    float f = static_cast<float>(v);
    if (b == 0x80) f = -0.0f;
    EXPECT_EQ(fp32_to_e4m3(f), b) << "value " << v;
  }
}

TEST(E4M3, NaNStaysNaNWithItsSign) {
  EXPECT_EQ(fp32_to_e4m3(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(fp32_to_e4m3(-std::numeric_limits<float>::quiet_NaN()), 0xFF);
  float snan;
  const uint32_t u = 0x7F800001u;  // signalling NaN, smallest payload
  std::memcpy(&snan, &u, 4);
  EXPECT_EQ(fp32_to_e4m3(snan), 0x7F);
}

TEST(E4M3, SaturatesAt448IncludingTheMidpoint464AndInfinity) {
  const float inf = std::numeric_limits<float>::infinity();
  for (float x : {448.0f, std::nextafter(448.0f, 0.0f), std::nextafter(448.0f, 1e9f), 449.0f, 463.0f,
                  std::nextafter(464.0f, 0.0f), 464.0f, std::nextafter(464.0f, 1e9f), 480.0f, 1e6f, 3.4e38f, inf}) {
    EXPECT_EQ(fp32_to_e4m3(x), 0x7E) << x;
    EXPECT_EQ(fp32_to_e4m3(-x), 0xFE) << -x;
  }
  // Just below 448: 432 is the midpoint of 416 (0x7D, odd) and 448 (0x7E, even) -> 448.
  EXPECT_EQ(fp32_to_e4m3(432.0f), 0x7E);
  EXPECT_EQ(fp32_to_e4m3(std::nextafter(432.0f, 0.0f)), 0x7D);
}

TEST(E4M3, TiesGoToTheEvenPatternBetweenEveryPairOfNeighbours) {
  const std::vector<double> v = positive_values();
  for (int b = 0; b < 0x7E; ++b) {
    const double mid = (v[b] + v[b + 1]) / 2;  // 5 significant bits: exact in float
    const float m = static_cast<float>(mid);
    ASSERT_EQ(static_cast<double>(m), mid);
    const int even = (b & 1) ? b + 1 : b;
    EXPECT_EQ(fp32_to_e4m3(m), even) << "tie " << mid;
    EXPECT_EQ(fp32_to_e4m3(-m), 0x80 | even) << "tie " << -mid;
    EXPECT_EQ(fp32_to_e4m3(std::nextafter(m, 0.0f)), b) << "just below " << mid;
    EXPECT_EQ(fp32_to_e4m3(std::nextafter(m, 1e9f)), b + 1) << "just above " << mid;
  }
}

TEST(E4M3, SubnormalsAndHalfTheSmallest) {
  const float s = std::ldexp(1.0f, -9);  // smallest subnormal
  EXPECT_EQ(fp32_to_e4m3(s), 0x01);
  EXPECT_EQ(fp32_to_e4m3(s / 2), 0x00);              // half of it: tie with 0, 0 is even
  EXPECT_EQ(fp32_to_e4m3(-s / 2), 0x80);             // keeps the sign of zero
  EXPECT_EQ(fp32_to_e4m3(std::nextafter(s / 2, 1.0f)), 0x01);
  EXPECT_EQ(fp32_to_e4m3(1.5f * s), 0x02);           // tie between 1 and 2 -> 2
  EXPECT_EQ(fp32_to_e4m3(2.5f * s), 0x02);           // tie between 2 and 3 -> 2
  EXPECT_EQ(fp32_to_e4m3(7.5f * s), 0x08);           // tie between 7 (odd) and the smallest normal
  EXPECT_EQ(fp32_to_e4m3(std::numeric_limits<float>::denorm_min()), 0x00);
  EXPECT_EQ(fp32_to_e4m3(-std::numeric_limits<float>::min()), 0x80);
}

TEST(E4M3, EncodingMatchesTheExhaustiveNearestSearch) {
  // Float32 bit patterns over the whole range (a stride prime to everything), plus dense random
  // values where E4M3 lives.
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 65537) {
    float x;
    const uint32_t b = static_cast<uint32_t>(u);
    std::memcpy(&x, &b, 4);
    const uint8_t want = nearest_code(x), got = fp32_to_e4m3(x);
    if (std::isnan(x)) EXPECT_TRUE(e4m3_is_nan(got)) << std::hex << b;
    else ASSERT_EQ(got, want) << "float bits 0x" << std::hex << b;
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ex(-14, 10);
  for (int i = 0; i < 200000; ++i) {
    const float x = std::ldexp(mant(rng), ex(rng));
    ASSERT_EQ(fp32_to_e4m3(x), nearest_code(x)) << x << " bits 0x" << std::hex << bits_of(x);
  }
}

TEST(E4M3Quantize, ScalesAreAmaxOver448AndTheRowMaximumMapsTo448) {
  const std::vector<float> w = {0.5f, -2.0f, 1.0f, 0.0f, 0.0f, 0.0f, 3.0f, 0.25f, -3.0f};
  const QuantLayout ch = QuantLayout::make(3, 3, Granularity::kChannel);
  std::vector<float> scales(3);
  std::vector<uint8_t> codes(9);
  quantize_e4m3_matrix(w.data(), ch, nullptr, scales.data(), codes.data());
  EXPECT_EQ(scales[0], 2.0f / 448.0f);
  EXPECT_EQ(scales[1], 1.0f);  // an all-zero row
  EXPECT_EQ(scales[2], 3.0f / 448.0f);
  EXPECT_EQ(codes[1], 0xFE);
  EXPECT_EQ(codes[3], 0x00);
  EXPECT_EQ(codes[6], 0x7E);
  EXPECT_EQ(codes[8], 0xFE);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(codes[i], fp32_to_e4m3(w[i] / scales[i / 3])) << i;
  std::vector<float> back(9);
  dequantize_e4m3_matrix(codes.data(), ch, scales.data(), back.data());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(back[i], e4m3_to_fp32(codes[i]) * scales[i / 3]) << i;
  // Per tensor: one scale.
  const QuantLayout t = QuantLayout::make(3, 3, Granularity::kTensor);
  quantize_e4m3_matrix(w.data(), t, nullptr, scales.data(), codes.data());
  EXPECT_EQ(scales[0], 3.0f / 448.0f);
  // Groups are not an FP8 granularity; bad given scales are refused.
  EXPECT_THROW(quantize_e4m3_matrix(w.data(), QuantLayout::make(3, 3, Granularity::kGroup, 3), nullptr,
                                    scales.data(), codes.data()),
               Error);
  const float bad = 0.0f;
  EXPECT_THROW(quantize_e4m3_matrix(w.data(), t, &bad, scales.data(), codes.data()), Error);
  EXPECT_EQ(e4m3_scale(0.0f), 1.0f);
  EXPECT_EQ(e4m3_scale(1e-20f), 1e-12f);
}

TEST(E4M3Quantize, PerRowScalesAndCodes) {
  const std::vector<float> x = {1.0f, -4.0f, 0.0f, 0.0f, 448.0f, 1.0f};
  std::vector<uint8_t> codes(6);
  std::vector<float> scales(3);
  quantize_e4m3_per_row(x.data(), 3, 2, codes.data(), scales.data());
  EXPECT_EQ(scales[0], 4.0f / 448.0f);
  EXPECT_EQ(scales[1], 1.0f);
  EXPECT_EQ(scales[2], 1.0f);
  EXPECT_EQ(codes[1], 0xFE);
  EXPECT_EQ(codes[4], 0x7E);
  EXPECT_EQ(codes[5], fp32_to_e4m3(1.0f));
}

TEST(E4M3Dot, IsTheExactSumRoundedOnce) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> code(0, 255);
  for (int64_t n : {1, 2, 7, 64, 1000, 4097}) {
    std::vector<uint8_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      do a[i] = static_cast<uint8_t>(code(rng)); while (e4m3_is_nan(a[i]));
      do b[i] = static_cast<uint8_t>(code(rng)); while (e4m3_is_nan(b[i]));
    }
    // Exact in double here: |products| are multiples of 2^-18 below 2^18, n small.
    double exact = 0;
    for (int64_t i = 0; i < n; ++i) exact += ocp_value(a[i]) * ocp_value(b[i]);
    EXPECT_EQ(e4m3_dot_exact(a.data(), b.data(), n), static_cast<float>(exact)) << n;
  }
  // A sum that float32 accumulation in k order gets wrong: 448*448 + 2^-18 - 448*448.
  const uint8_t a[3] = {0x7E, 0x01, 0xFE}, b[3] = {0x7E, 0x01, 0x7E};
  EXPECT_EQ(e4m3_dot_exact(a, b, 3), std::ldexp(1.0f, -18));
  const uint8_t an[2] = {0x01, 0x7F}, bn[2] = {0x01, 0x01};
  EXPECT_TRUE(std::isnan(e4m3_dot_exact(an, bn, 2)));
  const uint8_t z[2] = {0x80, 0x80}, o[2] = {0x38, 0x38};  // -0 * 1 + -0 * 1 -> +0 (integer zero)
  EXPECT_FALSE(std::signbit(e4m3_dot_exact(z, o, 2)));
}

}  // namespace
}  // namespace qf
