#include "core/quantize_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"

namespace qf {
namespace {

std::vector<float> random_matrix(int64_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = d(gen);
  return x;
}

TEST(QuantLayout, ShapesAndIndices) {
  QuantLayout t = QuantLayout::make(3, 8, Granularity::kTensor);
  EXPECT_EQ(t.num_params(), 1);
  EXPECT_EQ(t.param_shape(), (std::vector<int64_t>{1}));
  QuantLayout c = QuantLayout::make(3, 8, Granularity::kChannel);
  EXPECT_EQ(c.num_params(), 3);
  EXPECT_EQ(c.param_index(2, 7), 2);
  QuantLayout g = QuantLayout::make(3, 8, Granularity::kGroup, 4);
  EXPECT_EQ(g.num_params(), 6);
  EXPECT_EQ(g.param_shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(g.param_index(1, 5), 3);
  EXPECT_THROW(QuantLayout::make(3, 8, Granularity::kGroup, 3), Error);
  EXPECT_THROW(QuantLayout::make(3, 8, Granularity::kGroup, 0), Error);
}

TEST(QuantizeMatrix, PerChannelMatchesScalarRules) {
  const int64_t rows = 5, k = 13;
  auto x = random_matrix(rows * k, 1);
  const QuantLayout l = QuantLayout::make(rows, k, Granularity::kChannel);
  QuantizedMatrix q = quantize_matrix(x.data(), l, 8, true);
  const QuantRange r = quant_range(8, true);
  for (int64_t i = 0; i < rows; ++i) {
    float amax = 0;
    for (int64_t j = 0; j < k; ++j) amax = std::fmax(amax, std::fabs(x[i * k + j]));
    const QuantParams p = symmetric_params(amax, r);
    EXPECT_EQ(q.scales[i], p.scale);
    bool hit_max = false;
    for (int64_t j = 0; j < k; ++j) {
      EXPECT_EQ(q.codes[i * k + j], quantize(x[i * k + j], p, r));
      hit_max |= std::abs(q.codes[i * k + j]) == 127;
    }
    EXPECT_TRUE(hit_max) << "row absmax must map to +-127";
  }
}

TEST(QuantizeMatrix, PerGroupAndPerTensorAndAsymmetric) {
  const int64_t rows = 3, k = 12;
  auto x = random_matrix(rows * k, 2);
  const QuantLayout g = QuantLayout::make(rows, k, Granularity::kGroup, 4);
  QuantizedMatrix q = quantize_matrix(x.data(), g, 4, true);
  ASSERT_EQ(q.scales.size(), 9u);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t gg = 0; gg < 3; ++gg) {
      float amax = 0;
      for (int64_t j = 0; j < 4; ++j) amax = std::fmax(amax, std::fabs(x[i * k + gg * 4 + j]));
      EXPECT_EQ(q.scales[i * 3 + gg], amax / 7.0f);
    }
  for (int32_t c : q.codes) EXPECT_LE(std::abs(c), 7);

  QuantizedMatrix t = quantize_matrix(x.data(), QuantLayout::make(rows, k, Granularity::kTensor), 8, false);
  ASSERT_EQ(t.scales.size(), 1u);
  std::vector<float> back(x.size());
  dequantize_with_params(t.codes.data(), t.layout, t.scales.data(), t.zero_points.data(), back.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back[i], x[i], t.scales[0] * 0.5f + 1e-6f);
}

TEST(QuantizeMatrix, GivenScalesAreUsedAndChecked) {
  std::vector<float> x = {0.1f, 0.2f, 0.3f, -0.4f};
  const QuantLayout l = QuantLayout::make(2, 2, Granularity::kChannel);
  QuantizedMatrix q = quantize_matrix(x.data(), l, 8, true, {0.1f, 0.1f});
  EXPECT_EQ(q.codes, (std::vector<int32_t>{1, 2, 3, -4}));
  EXPECT_THROW(quantize_matrix(x.data(), l, 8, true, {0.1f}), Error);
  EXPECT_THROW(quantize_matrix(x.data(), l, 8, true, {0.1f, -1.0f}), Error);
  EXPECT_THROW(quantize_matrix(x.data(), l, 8, true, {0.1f, NAN}), Error);
}

TEST(PerToken, RowScalesAbsmaxOver127) {
  std::vector<float> x = {1.0f, -2.54f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.25f, -0.125f};
  std::vector<int8_t> q(9);
  std::vector<float> s(3);
  quantize_per_token_s8(x.data(), 3, 3, q.data(), s.data());
  EXPECT_EQ(s[0], 2.54f / 127.0f);
  EXPECT_EQ(q[1], -127);
  EXPECT_EQ(s[1], 1.0f);  // all-zero row
  EXPECT_EQ(q[3], 0);
  EXPECT_EQ(q[6], 127);
  EXPECT_EQ(q[7], 64);   // 63.5 -> 64 (half to even)
  EXPECT_EQ(q[8], -32);  // -31.75 -> -32
}

}  // namespace
}  // namespace qf
