// measure_agreement and describe_disagreement (core/agreement.h): the measures `qforge validate`
// and the exporter's contract check report, on hand-made outputs with known answers.
#include "core/agreement.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/tensor.h"

namespace qf {
namespace {

// 3 rows of 4 logits; max|reference| = 12.7, so one output unit is 0.1.
Tensor reference() {
  return Tensor::floats({3, 4}, {1.0f, 12.7f, 0.0f, -2.0f,    // argmax 1, clear
                                 5.0f, 5.05f, 0.0f, 0.0f,     // argmax 1 by 0.05 = half a unit
                                 -1.0f, 0.0f, 3.0f, 2.0f});   // argmax 2 by 1.0 = 10 units
}

TEST(Agreement, CountsArgmaxMatchesAndMeasuresTheLargestDifferenceInOutputUnits) {
  Tensor got = reference();
  got.f32[4] = 5.1f;  // row 1 flips to column 0: the near-tie
  got.f32[0] = 1.3f;  // row 0 moves by 0.3 = 3 units, argmax unchanged
  const Agreement a = measure_agreement(got, reference());
  EXPECT_EQ(a.rows, 3);
  EXPECT_EQ(a.top1_matches, 2);
  EXPECT_NEAR(a.top1, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(a.unit, 0.1, 1e-6);
  EXPECT_NEAR(a.max_diff_units, 3.0, 1e-4);
  // Row 1's flip is a near tie: margin 0.5 units, the row moved by 1 unit.
  EXPECT_EQ(a.near_tie_flips, 1);
}

TEST(Agreement, ALargeFlipIsNotANearTie) {
  Tensor got = reference();
  got.f32[8] = 4.0f;  // row 2: column 0 overtakes column 2 (margin 10 units) by moving 50 units
  const Agreement a = measure_agreement(got, reference());
  EXPECT_EQ(a.top1_matches, 2);
  EXPECT_EQ(a.near_tie_flips, 0);
  // A close order (row 1, margin 0.5 units) flipped by a row that moved 5 units: too far to be rounding.
  Tensor far = reference();
  far.f32[4] = 5.5f;
  EXPECT_EQ(measure_agreement(far, reference()).top1_matches, 2);
  EXPECT_EQ(measure_agreement(far, reference()).near_tie_flips, 0);
}

TEST(Agreement, NanCountsAsInfinitelyFar) {
  Tensor got = reference();
  got.f32[7] = std::nanf("");
  EXPECT_TRUE(std::isinf(measure_agreement(got, reference()).max_abs_diff));
}

TEST(Agreement, DescribesTheDisagreeingRowsMarginsAndDifferences) {
  Tensor got = reference();
  EXPECT_EQ(describe_disagreement(got, reference()), "");
  got.f32[4] = 5.1f;  // near-tie flip: the reference preferred column 1 by 0.5 units; row moved 1 unit
  EXPECT_EQ(describe_disagreement(got, reference()),
            "at the 1 disagreeing rows the reference prefers its argmax by 0.5 units (median; max 0.5), and the "
            "rows differ by up to 1 units (median; max 1)");
  // A real change: row 2 flips to column 3 against the reference's 10-unit margin, moving 30
  // units (got prefers column 3 by 20: the margin reported is the reference's, not got's).
  got.f32[11] = 5.0f;
  const std::string d = describe_disagreement(got, reference());
  EXPECT_NE(d.find("the 2 disagreeing rows"), std::string::npos) << d;
  EXPECT_NE(d.find("(median; max 10)"), std::string::npos) << d;
  EXPECT_NE(d.find("(median; max 30)"), std::string::npos) << d;
}

TEST(Agreement, RefusesDifferentShapes) {
  EXPECT_THROW(measure_agreement(Tensor::floats({2, 6}, std::vector<float>(12, 0.0f)), reference()), Error);
  EXPECT_THROW(describe_disagreement(Tensor::floats({4, 3}, std::vector<float>(12, 0.0f)), reference()), Error);
}

}  // namespace
}  // namespace qf
