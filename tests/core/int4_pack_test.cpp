#include "core/int4_pack.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"

namespace qf {
namespace {

TEST(Int4Pack, NibbleOrderIsLowFirst) {
  std::vector<int32_t> codes = {1, 2, -1, 7, -8};
  auto p = pack_int4_rows(codes.data(), 1, 5);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], 0x21);
  EXPECT_EQ(p[1], 0x7F);
  EXPECT_EQ(p[2], 0x08);  // odd K: high nibble padding is 0
}

class Int4RoundTrip : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, bool>> {};

TEST_P(Int4RoundTrip, PackUnpack) {
  const auto [rows, k, is_signed] = GetParam();
  std::mt19937 gen(static_cast<unsigned>(rows * 131 + k));
  std::uniform_int_distribution<int32_t> d(is_signed ? -8 : 0, is_signed ? 7 : 15);
  std::vector<int32_t> codes(static_cast<size_t>(rows * k));
  for (auto& c : codes) c = d(gen);
  auto p = pack_int4_rows(codes.data(), rows, k, is_signed);
  EXPECT_EQ(static_cast<int64_t>(p.size()), rows * int4_row_bytes(k));
  EXPECT_EQ(unpack_int4_rows(p.data(), rows, k, is_signed), codes);
  // Rows are independent: row r starts at byte r*ceil(K/2).
  if (rows > 1 && k > 0) {
    auto row1 = unpack_int4_rows(p.data() + int4_row_bytes(k), 1, k, is_signed);
    EXPECT_EQ(row1, std::vector<int32_t>(codes.begin() + k, codes.begin() + 2 * k));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Int4RoundTrip,
                         ::testing::Values(std::make_tuple(1, 1, true), std::make_tuple(3, 7, true),
                                           std::make_tuple(4, 16, true), std::make_tuple(2, 33, false),
                                           std::make_tuple(5, 2, false)));

TEST(Int4Pack, RejectsCodesThatDoNotFit) {
  std::vector<int32_t> bad = {8};
  EXPECT_THROW(pack_int4_rows(bad.data(), 1, 1, true), Error);
  std::vector<int32_t> neg = {-1};
  EXPECT_THROW(pack_int4_rows(neg.data(), 1, 1, false), Error);
}

}  // namespace
}  // namespace qf
