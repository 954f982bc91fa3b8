#include "core/kv_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

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
  };
  for (const EdgeCase& c : cases) {
    SCOPED_TRACE(c.what);
    const int64_t n = static_cast<int64_t>(c.x.size());
    std::vector<uint8_t> codes(static_cast<size_t>(kv_code_bytes(n, c.s.bits)));
    std::vector<uint16_t> scales(1), offsets(1);
    kv_quantize_row(c.x.data(), n, n, c.s, codes.data(), scales.data(), offsets.data());
    EXPECT_EQ(scales[0], c.scale_fp16);
    std::vector<float> y(c.x.size());
    kv_dequantize_row(codes.data(), scales.data(), offsets.data(), 0, n, n, c.s, y.data());
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

TEST(KvQuant, RandomRoundTripWithinHalfAStep) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int bits : {4, 8})
    for (bool sym : {true, false})
      for (int64_t group : {32, 64}) {
        const KvCacheScheme s = scheme(bits, group, sym);
        const int64_t c = 128;
        std::vector<float> x(c);
        for (float& v : x) v = normal(rng);
        x[5] = 40.0f;  // an outlier in the first group
        std::vector<uint8_t> codes(static_cast<size_t>(kv_code_bytes(c, bits)));
        std::vector<uint16_t> scales(c / group), offsets(c / group);
        kv_quantize_row(x.data(), c, group, s, codes.data(), scales.data(), offsets.data());
        std::vector<float> y(c);
        kv_dequantize_row(codes.data(), scales.data(), offsets.data(), 0, c, group, s, y.data());
        EXPECT_EQ(y, fake(x, s, group));
        for (int64_t i = 0; i < c; ++i) {
          const float step = fp16_to_fp32(scales[i / group]);
          // Asymmetric: the fp16 offset and scale may leave the extremes up to one step away (clamped).
          EXPECT_LE(std::fabs(y[i] - x[i]), sym ? 0.5f * step * 1.0001f : 1.01f * step)
              << "bits " << bits << " sym " << sym << " group " << group << " i " << i;
        }
        // A slice [c0, c0 + n) dequantizes to the same values as the whole row.
        std::vector<float> part(static_cast<size_t>(group));
        kv_dequantize_row(codes.data(), scales.data(), offsets.data(), group, group, group, s, part.data());
        for (int64_t i = 0; i < group; ++i) EXPECT_EQ(part[i], y[group + i]);
      }
}

TEST(KvQuant, BytesPerToken) {
  // head dim 32, one head: int4 + one fp16 scale per 32 values = 18 bytes = 0.28125 x fp16's 64.
  EXPECT_EQ(kv_row_bytes(32, 32, scheme(4, 32, true)), 18);
  EXPECT_EQ(kv_row_bytes(32, 32, scheme(4, 32, false)), 20);  // + fp16 offset: 0.3125 x
  EXPECT_EQ(kv_row_bytes(128, 64, scheme(8, 64, true)), 132);
  EXPECT_EQ(kv_code_bytes(7, 4), 4);
}

TEST(KvQuant, SchemeErrors) {
  EXPECT_EQ(kv_scheme_error(scheme(4, 32, true), 64), "");
  EXPECT_NE(kv_scheme_error(scheme(3, 32, true), 64).find("bits must be 4 or 8"), std::string::npos);
  EXPECT_NE(kv_scheme_error(scheme(4, 48, true), 64).find("does not divide"), std::string::npos);
  EXPECT_NE(kv_scheme_error(scheme(4, 32, true, 0.0f), 64).find("clip"), std::string::npos);
  EXPECT_NE(kv_scheme_error(scheme(4, 32, false, 0.9f), 64).find("symmetric schemes only"), std::string::npos);
  EXPECT_EQ(kv_group(scheme(4, 0, true), 96), 96);
}

}  // namespace
}  // namespace qf
