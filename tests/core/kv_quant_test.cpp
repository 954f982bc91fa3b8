#include "core/kv_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"

namespace qf {
namespace {

KvCacheScheme scheme(int bits, int64_t group, bool symmetric, float clip = 1.0f) {
  KvCacheScheme s;
  s.bits = bits;
  s.group_size = group;
  s.symmetric = symmetric;
  s.clip = clip;
  return s;
}

// Asymmetric with an integer zero point (feature kv_cache_zero_point).
KvCacheScheme zp_scheme(int bits, int64_t group) {
  KvCacheScheme s = scheme(bits, group, false);
  s.int_zero_point = true;
  return s;
}

std::vector<float> fake(const std::vector<float>& x, const KvCacheScheme& s, int64_t group) {
  std::vector<float> y(x.size());
  kv_fake_quantize_row(x.data(), static_cast<int64_t>(x.size()), group, s, y.data());
  return y;
}

// One group of values, its scheme, and the exact values it must come back as.
struct EdgeCase {
  const char* what;
  KvCacheScheme s;
  std::vector<float> x;
  std::vector<float> expected;
  uint16_t scale_fp16;
};

TEST(KvQuant, EdgeCases) {
  const float tiny = 5.9604644775390625e-08f;  // 2^-24, the smallest fp16 scale
  const std::vector<EdgeCase> cases = {
      {"all-zero group (symmetric): scale 1, exact zeros", scheme(4, 4, true), {0, 0, 0, 0}, {0, 0, 0, 0}, 0x3C00},
      {"all-zero group (asymmetric): scale 1, offset 0", scheme(4, 4, false), {0, 0, 0, 0}, {0, 0, 0, 0}, 0x3C00},
      // absmax 7 -> s = 1 exactly; x / s lands on .5: ties go to even.
      {"ties to even", scheme(4, 6, true), {7, 0.5f, 1.5f, 2.5f, -2.5f, -0.5f}, {7, 0, 2, 2, -2, -0.0f}, 0x3C00},
      // One huge value: s = fp16(1000 / 7) = 142.875; the small values vanish, the big one keeps
      // its code 7 (7 * 142.875 = 1000.125).
      {"one huge value", scheme(4, 4, true), {1000, 0.01f, -3, 60}, {1000.125f, 0, 0, 0}, fp32_to_fp16(142.875f)},
      // s32 = 1e6 / 7 overflows fp16: the scale saturates at 65504 and the codes clamp to 7.
      {"scale overflow saturates", scheme(4, 2, true), {1e6f, -1e6f}, {7 * 65504.0f, -7 * 65504.0f}, 0x7BFF},
      // s32 = 1e-9 / 7 rounds to fp16 0: the scale becomes 2^-24, the values round to 0.
      {"scale underflow", scheme(4, 2, true), {1e-9f, -1e-9f}, {0, 0}, fp32_to_fp16(tiny)},
      // clip 0.5: s = 7 * 0.5 / 7 = 0.5, 7 / 0.5 = 14 clamps to 7 -> 3.5.
      {"clipping ratio", scheme(4, 2, true, 0.5f), {7, 1}, {3.5f, 1}, fp32_to_fp16(0.5f)},
      // 8 bits, absmax 127 -> s = 1.
      {"int8 symmetric", scheme(8, 4, true), {127, -127, 3.5f, 0.4f}, {127, -127, 4, 0}, 0x3C00},
      // Asymmetric: m = 1, s = (16 - 1) / 15 = 1, codes 0..15.
      {"asymmetric offset", scheme(4, 4, false), {1, 16, 8.5f, 2.2f}, {1, 16, 9, 2}, 0x3C00},
      // Integer zero point: range [-5, 10] -> s = 15 / 15 = 1, z = 5; codes x + 5.
      {"int zero point", zp_scheme(4, 4), {-5, 10, 2.5f, -0.4f}, {-5, 10, 2, -0.0f}, 0x3C00},
      // All positive: the range widens to hold 0 -> [0, 30], s = 2, z = 0 (x' = q * 2).
      {"int zero point, all positive", zp_scheme(4, 4), {10, 30, 21, 11}, {10, 30, 20, 12}, fp32_to_fp16(2.0f)},
      // All negative: [-30, 0], s = 2, z = 15.
      {"int zero point, all negative", zp_scheme(4, 4), {-10, -30, -21, -1}, {-10, -30, -20, -0.0f},
       fp32_to_fp16(2.0f)},
      {"int zero point, all zero: scale 1, z 0", zp_scheme(4, 4), {0, 0, 0, 0}, {0, 0, 0, 0}, 0x3C00},
      // Range 1e-9: the scale underflows to 2^-24 (not 1, which would lose every value).
      {"int zero point, scale underflow", zp_scheme(4, 2), {1e-9f, -1e-9f}, {0, 0}, fp32_to_fp16(tiny)},
      // 8 bits: [-55, 200] -> s = 1, z = 55.
      {"int8 zero point", zp_scheme(8, 4), {-55, 200, 0.4f, 3.5f}, {-55, 200, 0, 4}, 0x3C00},
  };
  for (const EdgeCase& c : cases) {
    SCOPED_TRACE(c.what);
    const int64_t n = static_cast<int64_t>(c.x.size());
    std::vector<uint8_t> codes(static_cast<size_t>(kv_row_code_bytes(n, n, c.s)));
    std::vector<uint16_t> scales(1), offsets(1);
    kv_quantize_row(c.x.data(), n, n, c.s, codes.data(), scales.data(), offsets.data());
    EXPECT_EQ(scales[0], c.scale_fp16);
    std::vector<float> y(c.x.size());
    kv_dequantize_row(codes.data(), scales.data(), offsets.data(), 0, n, n, c.s, y.data(),
                      codes.data() + kv_code_bytes(n, c.s.bits));
    for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], c.expected[i]) << "value " << i;
  }
}

TEST(KvQuant, NibbleOrderAndSignedCodes) {
  // absmax 7 -> s = 1: codes are the values. Value 2j in the low nibble of byte j.
  const std::vector<float> x = {1, -2, 7, -7, 0, 3};
  std::vector<uint8_t> codes(3);
  uint16_t scale = 0;
  kv_quantize_row(x.data(), 6, 6, scheme(4, 6, true), codes.data(), &scale, nullptr);
  EXPECT_EQ(codes[0], 0xE1);  // -2 -> 0xE high, 1 low
  EXPECT_EQ(codes[1], 0x97);  // -7 -> 0x9 high, 7 low
  EXPECT_EQ(codes[2], 0x30);
}

TEST(KvQuant, ZeroPointsFollowTheCodes) {
  // Two groups of 3 (odd: the codes' padding nibble stays 0), zero points after the codes'
  // ceil(6 / 2) = 3 bytes: group 0's [-5, 10] -> z 5 in the low nibble, group 1's [0, 15] -> z 0.
  const std::vector<float> x = {-5, 10, 0, 15, 1, 2};
  const KvCacheScheme s = zp_scheme(4, 3);
  ASSERT_EQ(kv_row_code_bytes(6, 3, s), 4);
  std::vector<uint8_t> codes(4, 0xAA);
  uint16_t scales[2];
  kv_quantize_row(x.data(), 6, 3, s, codes.data(), scales, nullptr);
  EXPECT_EQ(codes[0], 0xF0);  // -5 + 5 = 0 low, 10 + 5 = 15 high
  EXPECT_EQ(codes[1], 0xF5);  // 0 + 5 = 5, 15 + 0
  EXPECT_EQ(codes[2], 0x21);
  EXPECT_EQ(codes[3], 0x05);  // z0 = 5, z1 = 0
  // A row read without its zero points is refused, not read as if they were 0.
  float y[6];
  EXPECT_THROW(kv_dequantize_row(codes.data(), scales, nullptr, 0, 6, 3, s, y), Error);
}

TEST(KvQuant, RandomRoundTripWithinHalfAStep) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int bits : {4, 8})
    for (int kind : {0, 1, 2})  // symmetric, fp16 offset, integer zero point
      for (int64_t group : {32, 64}) {
        const bool sym = kind == 0;
        const KvCacheScheme s = kind == 2 ? zp_scheme(bits, group) : scheme(bits, group, sym);
        const int64_t c = 128;
        std::vector<float> x(c);
        for (float& v : x) v = normal(rng) + (kind == 2 ? 3.0f : 0.0f);  // mostly positive: z near 0
        x[5] = 40.0f;  // an outlier in the first group
        std::vector<uint8_t> codes(static_cast<size_t>(kv_row_code_bytes(c, group, s)));
        std::vector<uint16_t> scales(c / group), offsets(c / group);
        kv_quantize_row(x.data(), c, group, s, codes.data(), scales.data(), offsets.data());
        const uint8_t* zeros = kind == 2 ? codes.data() + kv_code_bytes(c, bits) : nullptr;
        std::vector<float> y(c);
        kv_dequantize_row(codes.data(), scales.data(), offsets.data(), 0, c, group, s, y.data(), zeros);
        EXPECT_EQ(y, fake(x, s, group));
        for (int64_t i = 0; i < c; ++i) {
          const float step = fp16_to_fp32(scales[i / group]);
          // Asymmetric: the fp16 offset and scale may leave the extremes up to one step away
          // (clamped); the integer zero point rounds the range's position by up to half a step.
          EXPECT_LE(std::fabs(y[i] - x[i]), sym ? 0.5f * step * 1.0001f : 1.01f * step)
              << "bits " << bits << " kind " << kind << " group " << group << " i " << i;
        }
        // A slice [c0, c0 + n) dequantizes to the same values as the whole row.
        std::vector<float> part(static_cast<size_t>(group));
        kv_dequantize_row(codes.data(), scales.data(), offsets.data(), group, group, group, s, part.data(), zeros);
        for (int64_t i = 0; i < group; ++i) EXPECT_EQ(part[i], y[group + i]);
      }
}

TEST(KvQuant, BytesPerToken) {
  // head dim 32, one head: int4 + one fp16 scale per 32 values = 18 bytes = 0.28125 x fp16's 64.
  EXPECT_EQ(kv_row_bytes(32, 32, scheme(4, 32, true)), 18);
  EXPECT_EQ(kv_row_bytes(32, 32, scheme(4, 32, false)), 20);  // + fp16 offset: 0.3125 x
  EXPECT_EQ(kv_row_bytes(128, 64, scheme(8, 64, true)), 132);
  EXPECT_EQ(kv_code_bytes(7, 4), 4);
  // + an int4 zero point per group: 16 + 0.5 + 2 bytes per 32 values (4.625 bits) -> 0.289 x.
  // (Whole-byte rows: one head of 32 rounds the lone nibble up to a byte; C = 128 is exact.)
  EXPECT_EQ(kv_row_bytes(128, 32, zp_scheme(4, 32)), 64 + 2 + 8);
  EXPECT_EQ(kv_row_bytes(32, 32, zp_scheme(4, 32)), 16 + 1 + 2);
  EXPECT_EQ(kv_row_bytes(128, 64, zp_scheme(8, 64)), 128 + 2 + 4);
}

TEST(KvQuant, SchemeErrors) {
  EXPECT_EQ(kv_scheme_error(scheme(4, 32, true), 64), "");
  EXPECT_NE(kv_scheme_error(scheme(3, 32, true), 64).find("bits must be 4 or 8"), std::string::npos);
  EXPECT_NE(kv_scheme_error(scheme(4, 48, true), 64).find("does not divide"), std::string::npos);
  EXPECT_NE(kv_scheme_error(scheme(4, 32, true, 0.0f), 64).find("clip"), std::string::npos);
  EXPECT_NE(kv_scheme_error(scheme(4, 32, false, 0.9f), 64).find("symmetric schemes only"), std::string::npos);
  EXPECT_EQ(kv_group(scheme(4, 0, true), 96), 96);
  KvCacheScheme sym_zp = scheme(4, 32, true);
  sym_zp.int_zero_point = true;
  EXPECT_NE(kv_scheme_error(sym_zp, 64).find("integer zero point needs an asymmetric"), std::string::npos);
  EXPECT_EQ(kv_scheme_error(zp_scheme(4, 32), 64), "");
}

}  // namespace
}  // namespace qf
