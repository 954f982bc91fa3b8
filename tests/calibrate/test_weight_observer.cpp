// Weight observers: known answers per group.
#include <gtest/gtest.h>

#include "calibrate/weight_observer.h"

namespace qf::calibrate {
namespace {

// |w| = 1..100 in a group: numpy's linear percentile 99 is 1 + 0.99 * 99 = 99.01.
TEST(WeightObserver, PercentileMatchesNumpysLinearDefinition) {
  const torch::Tensor w = (torch::arange(1, 101, torch::kFloat32) * torch::where(torch::arange(100) % 2 == 0, 1, -1))
                              .reshape({1, 1, 100});
  WeightObserverOptions o;
  o.kind = WeightObserverKind::kPercentile;
  o.percentile = 99.0;
  const QuantRange r = quant_range(8, true);
  EXPECT_NEAR(observe_weight_scales(w, r, o).item<float>(), 99.01f / 127.0f, 1e-6);
  o.kind = WeightObserverKind::kMinMax;
  EXPECT_FLOAT_EQ(observe_weight_scales(w, r, o).item<float>(), 100.0f / 127.0f);
}

// Heavy-tailed rows (Student-t-like: Gaussian / |Gaussian|^0.7 scaled): at int4 the MSE scale
// clips below max|w| on every row, with less squared error than min-max; on a row of evenly
// spaced values exactly on the min-max grid it does not clip at all.
TEST(WeightObserver, MseClipsHeavyTailsBelowTheMaxAndNotAGridRow) {
  torch::manual_seed(0);
  const torch::Tensor z = torch::randn({8, 1, 512});
  const torch::Tensor heavy = z / torch::randn({8, 1, 512}).abs().pow(0.7).clamp_min(0.05);
  const QuantRange r = quant_range(4, true);
  WeightObserverOptions mse;
  mse.kind = WeightObserverKind::kMse;
  const torch::Tensor s_mse = observe_weight_scales(heavy, r, mse);
  const torch::Tensor s_max = observe_weight_scales(heavy, r, WeightObserverOptions{});
  EXPECT_TRUE((s_mse < s_max).all().item<bool>());
  EXPECT_TRUE((group_quant_error(heavy, s_mse, r) < group_quant_error(heavy, s_max, r)).all().item<bool>());

  const torch::Tensor grid = (torch::arange(-7, 8, torch::kFloat32) * 0.25f).reshape({1, 1, 15});
  EXPECT_FLOAT_EQ(observe_weight_scales(grid, r, mse).item<float>(), 0.25f);
}

TEST(WeightObserver, KlClipsAHeavyTailedChannel) {
  torch::manual_seed(1);
  torch::Tensor w = torch::randn({2, 1, 4096});
  w.index_put_({0, 0, 7}, 60.0f);  // one far outlier in row 0
  WeightObserverOptions kl;
  kl.kind = WeightObserverKind::kKl;
  const QuantRange r = quant_range(8, true);
  const torch::Tensor s = observe_weight_scales(w, r, kl);
  EXPECT_LT(s[0].item<float>(), 30.0f / 127.0f);
  EXPECT_GT(s[0].item<float>(), 1.0f / 127.0f);
}

TEST(WeightObserver, NamesRoundTripAndUnknownIsAnError) {
  for (const char* n : {"minmax", "mse", "percentile", "kl"})
    EXPECT_STREQ(weight_observer_name(parse_weight_observer(n)), n);
  EXPECT_THROW(parse_weight_observer("entropy"), std::invalid_argument);
}

}  // namespace
}  // namespace qf::calibrate
