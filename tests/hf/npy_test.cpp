#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "hf/npy.h"
#include "hf_fixtures.h"

namespace qf::hf {
namespace {

TEST(Npy, ReadsTheFixtureArrays) {
  NpyArray ids = read_npy(kFix + "/llama/reference/input_ids.npy");
  EXPECT_EQ(ids.descr, "<i4");
  ASSERT_EQ(ids.shape, (std::vector<int64_t>{83}));
  EXPECT_EQ(ids.i64[0], 0);  // BOS of the llama fixture
  NpyArray logits = read_npy(kFix + "/llama/reference/logits.npy");
  EXPECT_EQ(logits.shape, (std::vector<int64_t>{83, 512}));
  EXPECT_EQ(logits.f32.size(), 83u * 512u);
  NpyArray hs = read_npy(kFix + "/gemma3/reference/hidden_states.npy");
  ASSERT_EQ(hs.shape.size(), 3u);
  EXPECT_EQ(hs.shape[0], 3);  // embeddings + 2 layers
  EXPECT_EQ(hs.shape[2], 64);
}

TEST(Npy, RoundTripsEveryWrittenDtype) {
  const std::string p = ::testing::TempDir() + "/rt.npy";
  const float f[6] = {1, -2, 3.5f, 0, 1e-30f, 7};
  write_npy_f32(p, {2, 3}, f);
  NpyArray a = read_npy(p);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.f32, std::vector<float>(f, f + 6));
  const int64_t i[3] = {5, -1, 1LL << 40};
  write_npy_i64(p, {3}, i);
  EXPECT_EQ(read_npy(p).i64, std::vector<int64_t>(i, i + 3));
  const int32_t j[2] = {7, -9};
  write_npy_i32(p, {2}, j);
  EXPECT_EQ(read_npy(p).i64, (std::vector<int64_t>{7, -9}));
}

TEST(Npy, RefusesWhatItCannotRead) {
  const std::string p = ::testing::TempDir() + "/bad.npy";
  std::ofstream(p) << "not numpy";
  EXPECT_THROW(read_npy(p), Error);
  const float f[4] = {1, 2, 3, 4};
  write_npy_f32(p, {4}, f);
  {  // truncate the data
    std::ifstream in(p, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << s.substr(0, s.size() - 3);
  }
  try {
    read_npy(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs 16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qf::hf
