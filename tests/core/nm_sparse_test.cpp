#include "core/nm_sparse.h"

#include <gtest/gtest.h>

#include <random>

namespace qf {
namespace {

// Random matrix with at most n nonzeros in each group of m (some groups fewer).
std::vector<int32_t> random_nm(int64_t rows, int64_t k, NMPattern p, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<int32_t> x(static_cast<size_t>(rows * k), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < k / p.m; ++g) {
      std::vector<int> pos(static_cast<size_t>(p.m));
      for (int i = 0; i < p.m; ++i) pos[static_cast<size_t>(i)] = i;
      std::shuffle(pos.begin(), pos.end(), gen);
      const int keep = static_cast<int>(gen() % static_cast<unsigned>(p.n + 1));
      for (int i = 0; i < keep; ++i)
        x[static_cast<size_t>(r * k + g * p.m + pos[static_cast<size_t>(i)])] =
            (static_cast<int32_t>(gen() % 200) - 100) | 1;  // odd => nonzero
    }
  return x;
}

TEST(NMPattern, Parse) {
  EXPECT_EQ(NMPattern::parse("2:4").n, 2);
  EXPECT_EQ(NMPattern::parse("4:8").m, 8);
  EXPECT_THROW(NMPattern::parse("2-4"), Error);
  EXPECT_THROW(NMPattern::parse("5:4"), Error);
  EXPECT_THROW(NMPattern::parse("2:4x"), Error);
  EXPECT_THROW(NMPattern::parse("0:4"), Error);
}

TEST(NMSparse, TwoFourLayoutIsDocumented) {
  // One row, K=8: group 0 keeps k=1 and k=3; group 1 has one nonzero at k=6 -> padded with
  // the lowest unused index 0 first.
  std::vector<int32_t> x = {0, 5, 0, -3, 0, 0, 9, 0};
  auto c = nm_compress(x.data(), 1, 8, NMPattern{2, 4});
  EXPECT_EQ(c.values, (std::vector<int32_t>{5, -3, 0, 9}));
  ASSERT_EQ(c.indices.size(), 1u);
  // indices 1,3,0,2 -> bits 01 11 00 10 from low to high = 0b10001101
  EXPECT_EQ(c.indices[0], 0x8D);
  EXPECT_EQ(nm_decompress(c), x);
}

class NMRoundTrip : public ::testing::TestWithParam<std::tuple<int, int, int64_t, int64_t>> {};

TEST_P(NMRoundTrip, CompressDecompress) {
  const auto [n, m, rows, k] = GetParam();
  const NMPattern p{n, m};
  auto x = random_nm(rows, k, p, static_cast<unsigned>(n * 7 + m + k));
  EXPECT_TRUE(satisfies_nm(x.data(), rows, k, p));
  auto c = nm_compress(x.data(), rows, k, p);
  EXPECT_EQ(static_cast<int64_t>(c.values.size()), rows * k / m * n);
  EXPECT_EQ(static_cast<int64_t>(c.indices.size()), rows * nm_index_row_bytes(k, n, m));
  EXPECT_EQ(nm_check_indices(c.indices.data(), rows, k, p), "");
  EXPECT_EQ(nm_decompress(c), x);
}

INSTANTIATE_TEST_SUITE_P(Patterns, NMRoundTrip,
                         ::testing::Values(std::make_tuple(2, 4, 3, 16), std::make_tuple(2, 4, 1, 4),
                                           std::make_tuple(2, 4, 5, 12),  // 6 indices: 1.5 bytes/row
                                           std::make_tuple(1, 4, 4, 20), std::make_tuple(4, 8, 3, 24),
                                           std::make_tuple(1, 2, 2, 6)));

TEST(NMSparse, ViolationAndBadKAreErrors) {
  std::vector<int32_t> x = {1, 1, 1, 0};
  EXPECT_FALSE(satisfies_nm(x.data(), 1, 4, NMPattern{2, 4}));
  try {
    nm_compress(x.data(), 1, 4, NMPattern{2, 4});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has 3 nonzeros"), std::string::npos) << e.what();
  }
  std::vector<int32_t> y(6, 0);
  EXPECT_FALSE(satisfies_nm(y.data(), 1, 6, NMPattern{2, 4}));
  EXPECT_THROW(nm_compress(y.data(), 1, 6, NMPattern{2, 4}), Error);
}

TEST(NMSparse, CheckIndicesFindsBadMetadata) {
  std::vector<uint8_t> idx = {0x4};  // entries 0,1 of group 0: indices 0,1 OK; group 1: 0,0
  EXPECT_NE(nm_check_indices(idx.data(), 1, 8, NMPattern{2, 4}).find("strictly increasing"),
            std::string::npos);
  std::vector<uint8_t> over = {0xF0, 0, 0, 0};
  EXPECT_NE(nm_check_indices(over.data(), 1, 8, NMPattern{4, 8}).find(">= M"), std::string::npos);
}

}  // namespace
}  // namespace qf
