#include "core/block_sparse.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"

namespace qf {
namespace {

TEST(BlockSparse, ParseAcceptsOnlyBlockRxC) {
  EXPECT_EQ(BlockShape::parse("block:32x32").rows, 32);
  EXPECT_EQ(BlockShape::parse("block:16x8").cols, 8);
  EXPECT_EQ(BlockShape::parse("block:16x8").str(), "block:16x8");
  for (const char* bad : {"32x32", "block:32", "block:x32", "block:32x", "block:0x4", "block:4x257", "block:4x4x",
                          "block: 4x4", "2:4"})
    EXPECT_THROW(BlockShape::parse(bad), Error) << bad;
}

// Round trip on shapes with partial edge blocks, an empty block row, and the kept set = exactly
// the blocks with a nonzero code.
TEST(BlockSparse, CompressDecompressRoundTripWithPartialBlocks) {
  std::mt19937 gen(7);
  for (auto [rows, k, br, bc] : {std::tuple<int64_t, int64_t, int, int>{70, 100, 32, 32}, {5, 3, 8, 8}, {64, 64, 16, 16},
                                 {33, 17, 4, 5}}) {
    std::vector<int8_t> w(static_cast<size_t>(rows * k));
    std::uniform_int_distribution<int> d(-127, 127), coin(0, 1);
    const int64_t nbr = block_count(rows, br), nbc = block_count(k, bc);
    std::vector<int> keep(static_cast<size_t>(nbr * nbc));
    for (auto& v : keep) v = coin(gen);
    for (int64_t c = 0; c < nbc; ++c) keep[static_cast<size_t>((nbr / 2) * nbc + c)] = 0;  // an empty block row
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < k; ++c)
        w[static_cast<size_t>(r * k + c)] = keep[static_cast<size_t>((r / br) * nbc + c / bc)] ? static_cast<int8_t>(d(gen) | 1) : 0;
    const BlockCompressed bs = block_compress(w.data(), rows, k, BlockShape{br, bc});
    int64_t kept = 0;
    for (int v : keep) kept += v;
    EXPECT_EQ(bs.nnzb(), kept);
    EXPECT_EQ(bs.row_ptr[static_cast<size_t>(nbr / 2)], bs.row_ptr[static_cast<size_t>(nbr / 2 + 1)]);
    EXPECT_EQ(block_check(bs), "");
    EXPECT_EQ(block_decompress(bs), w);
  }
}

TEST(BlockSparse, CheckFindsEveryLayoutError) {
  std::vector<int8_t> w(static_cast<size_t>(10 * 10), 1);
  const BlockCompressed good = block_compress(w.data(), 10, 10, BlockShape{4, 4});  // 3 x 3 blocks, partial edges
  ASSERT_EQ(good.nnzb(), 9);
  ASSERT_EQ(block_check(good), "");
  auto expect_bad = [&](auto edit, const std::string& needle) {
    BlockCompressed c = good;
    edit(c);
    const std::string msg = block_check(c);
    EXPECT_NE(msg.find(needle), std::string::npos) << "got '" << msg << "', wanted '" << needle << "'";
  };
  expect_bad([](BlockCompressed& c) { c.row_ptr[0] = 1; }, "row_ptr[0]");
  expect_bad([](BlockCompressed& c) { c.row_ptr.back() = 8; }, "ends at");
  expect_bad([](BlockCompressed& c) { c.row_ptr[1] = 4; c.row_ptr[2] = 3; }, "decreases");
  expect_bad([](BlockCompressed& c) { c.col[0] = 3; }, "outside");
  expect_bad([](BlockCompressed& c) { c.col[1] = 0; }, "strictly increasing");
  expect_bad([](BlockCompressed& c) { c.blocks.pop_back(); }, "size");
  // Block 2 (block row 0, column 2) covers columns 8..11: columns 10, 11 are padding.
  expect_bad([](BlockCompressed& c) { c.blocks[2 * 16 + 3] = 1; }, "padding");
}

}  // namespace
}  // namespace qf
