// The GGUF writer and the strict reader: every value type round-trips, offsets are aligned, and
// malformed files (truncated, bad magic / version, unknown types, overlapping or unaligned data,
// repeated keys) are refused with the reason.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "export/gguf_writer.h"
#include "runtime/gguf_reader.h"

namespace qf::gguf {
namespace {

Content sample() {
  Content c;
  Value i8; i8.type = ValueType::kInt8; i8.i = -5;
  Value u16; u16.type = ValueType::kUint16; u16.u = 65000;
  Value i64; i64.type = ValueType::kInt64; i64.i = -(int64_t{1} << 40);
  Value f64; f64.type = ValueType::kFloat64; f64.f = 0.1;
  c.metadata = {{"general.architecture", Value::str("llama")},
                {"general.alignment", Value::u32(32)},
                {"a.u32", Value::u32(7)},
                {"a.i8", i8},
                {"a.u16", u16},
                {"a.i64", i64},
                {"a.f64", f64},
                {"a.f32", Value::f32(1.5f)},
                {"a.bool", Value::boolean(true)},
                {"a.strings", Value::strings({"x", "", "ÿ\n"})},
                {"a.ints", Value::i32s({-1, 2, 3})}};
  const float w[2 * 64] = {1.0f, -2.0f, 0.25f};
  c.tensors.push_back({"w.f32", {3}, TensorType::kF32, encode_tensor(TensorType::kF32, w, 1, 3)});
  c.tensors.push_back({"w.q4", {64, 2}, TensorType::kQ4_0, encode_tensor(TensorType::kQ4_0, w, 2, 64)});
  c.tensors.push_back({"w.q8", {32, 1}, TensorType::kQ8_0, encode_tensor(TensorType::kQ8_0, w, 1, 32)});
  c.tensors.push_back({"w.f16", {5}, TensorType::kF16, encode_tensor(TensorType::kF16, w, 1, 5)});
  return c;
}

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("qf_gguf_" + name)).string();
}

std::vector<uint8_t> written_bytes() {
  const std::string p = tmp_path("sample.gguf");
  write_gguf(p, sample());
  File f = read_gguf(p);
  std::filesystem::remove(p);
  return f.bytes;
}

TEST(GgufFile, RoundTripsEveryValueTypeAndTensor) {
  const std::string p = tmp_path("rt.gguf");
  write_gguf(p, sample());
  const File f = read_gguf(p);
  std::filesystem::remove(p);
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.at("general.architecture").as_string(), "llama");
  EXPECT_EQ(f.at("a.u32").as_uint(), 7u);
  EXPECT_EQ(f.at("a.i8").i, -5);
  EXPECT_EQ(f.at("a.u16").u, 65000u);
  EXPECT_EQ(f.at("a.i64").i, -(int64_t{1} << 40));
  EXPECT_EQ(f.at("a.f64").f, 0.1);
  EXPECT_EQ(f.at("a.f32").as_float(), 1.5);
  EXPECT_TRUE(f.at("a.bool").as_bool());
  ASSERT_EQ(f.at("a.strings").arr.size(), 3u);
  EXPECT_EQ(f.at("a.strings").arr[2].s, "ÿ\n");
  EXPECT_EQ(f.at("a.ints").arr[0].i, -1);
  EXPECT_EQ(f.data_offset % 32, 0u);
  ASSERT_EQ(f.tensors.size(), 4u);
  for (const TensorInfo& t : f.tensors) EXPECT_EQ(t.offset % 32, 0u) << t.name;
  const auto v = dequantize(f, *f.tensor("w.f32"));
  EXPECT_EQ(v, (std::vector<float>{1.0f, -2.0f, 0.25f}));
  const auto h = dequantize(f, *f.tensor("w.f16"));
  EXPECT_EQ(h[1], -2.0f);
  const auto q4 = dequantize(f, *f.tensor("w.q4"));
  EXPECT_EQ(q4[1], -2.0f);   // the block's extreme is exact
  EXPECT_EQ(q4[0], 1.0f);    // d = -2 / -8 = 0.25: trunc(1 * 4 + 8.5) - 8 = 4 -> 1.0
  EXPECT_EQ(q4[2], 0.25f);
  const auto q8 = dequantize(f, *f.tensor("w.q8"));
  EXPECT_NEAR(q8[0], 1.0f, 2.0f / 127);
}

std::string parse_error(std::vector<uint8_t> b) {
  try {
    parse_gguf(std::move(b), "t.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

// Byte position of the tensor info of `name` (its name string's length field).
size_t info_pos(const std::vector<uint8_t>& b, const std::string& name) {
  const std::string needle = std::string("\0\0\0\0\0\0\0", 7) + name;
  for (size_t i = 0; i + needle.size() + 1 < b.size(); ++i)
    if (b[i] == name.size() && std::memcmp(b.data() + i + 1, needle.data(), needle.size()) == 0) return i;
  return 0;
}

TEST(GgufFile, MalformedFilesAreRefusedWithTheReason) {
  const std::vector<uint8_t> good = written_bytes();
  EXPECT_EQ(parse_error(good), "");
  auto expect = [&](std::vector<uint8_t> b, const std::string& what) {
    const std::string e = parse_error(std::move(b));
    EXPECT_NE(e.find(what), std::string::npos) << "got: " << e;
    EXPECT_NE(e.find("t.gguf"), std::string::npos) << e;
  };
  auto b = good;
  b[0] = 'X';
  expect(b, "bad magic");
  b = good;
  put_u32(b, 4, 2);
  expect(b, "version 2");
  b = good;
  put_u64(b, 16, uint64_t{1} << 60);
  expect(b, "metadata entries cannot fit");
  b = good;
  put_u64(b, 8, uint64_t{1} << 60);
  expect(b, "tensors cannot fit");
  expect(std::vector<uint8_t>(good.begin(), good.begin() + 300), "truncated");
  expect(std::vector<uint8_t>(good.begin(), good.end() - 40), "runs past the end");
  // Tensor infos: name, u32 n_dims, u64 ne..., u32 type, u64 offset.
  const size_t q4 = info_pos(good, "w.q4");
  ASSERT_GT(q4, 0u);
  const size_t q4_type = q4 + 8 + 4 + 4 + 16, q4_off = q4_type + 4;
  b = good;
  put_u32(b, q4_type, 12);  // Q4_K
  expect(b, "ggml type 12");
  b = good;
  put_u64(b, q4_off, 8);
  expect(b, "not aligned");
  b = good;
  put_u64(b, q4_off, 0);  // onto w.f32
  expect(b, "overlap");
  b = good;
  put_u64(b, q4 + 8 + 4 + 4, 48);  // ne[0] = 48: not a multiple of 32
  expect(b, "not a multiple of its block size");
  // A repeated key: rename the second key to the first (both 12 bytes long).
  b = good;
  const char* k1 = "a.u32";
  const char* k2 = "a.f32";
  for (size_t i = 0; i + 5 < b.size(); ++i)
    if (std::memcmp(b.data() + i, k2, 5) == 0) {
      std::memcpy(b.data() + i, k1, 5);
      break;
    }
  expect(b, "is repeated");
}

TEST(GgufFile, WriterRefusesInconsistentContent) {
  Content c = sample();
  c.tensors[1].data.pop_back();
  EXPECT_THROW(write_gguf(tmp_path("bad.gguf"), c), Error);
  c = sample();
  c.metadata.push_back({"a.u32", Value::u32(1)});
  EXPECT_THROW(write_gguf(tmp_path("bad.gguf"), c), Error);
  c = sample();
  c.tensors.push_back(c.tensors[0]);
  EXPECT_THROW(write_gguf(tmp_path("bad.gguf"), c), Error);
  c = sample();
  c.alignment = 64;  // general.alignment says 32
  EXPECT_THROW(write_gguf(tmp_path("bad.gguf"), c), Error);
}

}  // namespace
}  // namespace qf::gguf
