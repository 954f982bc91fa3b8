// The histogram clip searches against answers known by construction.
#include <gtest/gtest.h>

#include <cmath>

#include "calibrate/clip_search.h"

namespace qf::calibrate {
namespace {

// One value per bin, 0..999 in [0, 1000): the p-th percentile by CDF inversion is 10 * p.
TEST(ClipSearch, PercentileInvertsTheCumulativeCountLinearlyWithinABin) {
  Histogram h = Histogram::make(0, 1000, 1000);
  std::vector<float> v;
  for (int i = 0; i < 1000; ++i) v.push_back(static_cast<float>(i) + 0.5f);
  h.add(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_DOUBLE_EQ(histogram_percentile(h, 99.0), 990.0);
  EXPECT_DOUBLE_EQ(histogram_percentile(h, 50.0), 500.0);
  EXPECT_DOUBLE_EQ(histogram_percentile(h, 100.0), 1000.0);
  // Half a bin's count reached: half-way into that bin.
  Histogram two = Histogram::make(0, 2, 2);
  two.counts = {2, 2};
  EXPECT_DOUBLE_EQ(histogram_percentile(two, 75.0), 1.5);
  EXPECT_THROW(histogram_percentile(two, 101.0), std::invalid_argument);
}

TEST(ClipSearch, KlDivergenceOfKnownDistributions) {
  EXPECT_NEAR(kl_divergence({1, 1}, {1, 3}), 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-12);
  // p = (1/3, 2/3, 0), q = (2/13, 4/13, 7/13): both ratios are 13/6; the empty bin of p adds nothing.
  EXPECT_NEAR(kl_divergence({1, 2, 0}, {2, 4, 7}), std::log(13.0 / 6.0), 1e-12);
  EXPECT_NEAR(kl_divergence({3, 1}, {3, 1}), 0.0, 1e-15);
}

// Mass only in the first 128 of 2048 bins: at threshold 128 bins, 128 levels hold every bin
// exactly (KL 0), the first threshold that does; the search returns that bin edge.
TEST(ClipSearch, KlThresholdIsTheSupportWhenItFitsTheLevelsExactly) {
  Histogram h = Histogram::make(0, 2048, 2048);
  for (int i = 0; i < 128; ++i) h.counts[static_cast<size_t>(i)] = 1 + (i * 37) % 11;
  EXPECT_DOUBLE_EQ(kl_threshold(h, 128), 128.0);
}

// A uniform histogram loses nothing by merging equal bins: the full range (no clipping).
TEST(ClipSearch, KlThresholdKeepsTheFullRangeOfAUniformHistogram) {
  Histogram h = Histogram::make(0, 4, 2048);
  std::fill(h.counts.begin(), h.counts.end(), 5.0);
  EXPECT_DOUBLE_EQ(kl_threshold(h, 128), 4.0);
}

// A heavy tail (geometric decay) is clipped well inside the range, yet above the first levels.
TEST(ClipSearch, KlThresholdClipsAHeavyTail) {
  Histogram h = Histogram::make(0, 2048, 2048);
  for (int i = 0; i < 2048; ++i) h.counts[static_cast<size_t>(i)] = std::floor(1e6 * std::exp(-i / 60.0));
  const double t = kl_threshold(h, 128);
  EXPECT_LT(t, 1024.0);
  EXPECT_GT(t, 128.0);
}

// Gaussian-like bulk in [-1, 1] plus a single outlier at 40: int4 MSE clips far below the max.
TEST(ClipSearch, MseClipsAnOutlierAndBeatsTheFullRange) {
  Histogram h = Histogram::make(0, 40, 4000);
  std::vector<float> v;
  for (int i = 0; i < 10000; ++i) v.push_back(static_cast<float>(std::fabs(std::sin(i * 0.37))));
  v.push_back(40.0f);
  h.add(v.data(), static_cast<int64_t>(v.size()));
  const QuantRange r = quant_range(4, true);
  const ClipRange c = mse_clip(h, r, true);
  EXPECT_LT(c.hi, 20.0);
  EXPECT_LT(histogram_quant_error(h, c, r, true), histogram_quant_error(h, {0, 40}, r, true));
}

}  // namespace
}  // namespace qf::calibrate
