// The safetensors reader on the transformers fixtures and on malformed files built here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/error.h"
#include "hf/safetensors.h"
#include "hf_fixtures.h"

namespace qf::hf {
namespace {

// A safetensors file from a header text and `data_bytes` zero bytes of data.
std::string write_file(const std::string& name, const std::string& header, size_t data_bytes) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header;
  f << std::string(data_bytes, '\0');
  return path;
}

std::string file_error(const std::string& path) {
  try {
    SafetensorsFile f(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, FixturesLoadWithTheManifestShapes) {
  SafetensorsFile f(kFix + "/llama/model.safetensors");
  EXPECT_EQ(f.entries().size(), 21u);  // embed, lm_head, norm, 2 x 9
  EXPECT_EQ(f.entries().at("model.embed_tokens.weight").dtype, "BF16");
  EXPECT_EQ(f.entries().at("model.layers.0.self_attn.k_proj.weight").shape, (std::vector<int64_t>{32, 64}));
  auto t = load_safetensors_folder(kFix + "/qwen2");
  EXPECT_EQ(t.at("model.layers.1.self_attn.q_proj.bias").shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(t.count("lm_head.weight"), 0u);  // tied
  auto g = load_safetensors_folder(kFix + "/gemma3");
  EXPECT_EQ(g.at("model.layers.0.self_attn.q_norm.weight").data.size(), 16u);
  for (float v : g.at("model.embed_tokens.weight").data) ASSERT_TRUE(std::isfinite(v));
}

TEST(Safetensors, HalfConversionsAreExact) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604644775390625e-08f);  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
}

TEST(Safetensors, ReadsValuesAtTheirOffsets) {
  const std::string path = ::testing::TempDir() + "/vals.safetensors";
  const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1],"data_offsets":[8,10]}})";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
    f << h;
    const float a[2] = {1.5f, -2.0f};
    f.write(reinterpret_cast<const char*>(a), 8);
    const uint16_t b = 0x3c00;
    f.write(reinterpret_cast<const char*>(&b), 2);
  }
  SafetensorsFile f(path);
  EXPECT_EQ(f.read_f32("a"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(f.read_f32("b"), (std::vector<float>{1.0f}));
}

TEST(Safetensors, MalformedFilesAreRefusedWithTheReason) {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(file_error(write_file("ok.st", ok, 8)), "");
  EXPECT_NE(file_error(write_file("trunc.st", ok, 4)).find("run past the data section"), std::string::npos);
  {
    const std::string p = ::testing::TempDir() + "/tiny.st";
    std::ofstream(p) << "abc";
    EXPECT_NE(file_error(p).find("truncated"), std::string::npos);
  }
  EXPECT_NE(file_error(write_file("hdr.st", ok.substr(0, 20), 0)).find("JSON"), std::string::npos);
  const std::string overlap = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  EXPECT_NE(file_error(write_file("ovl.st", overlap, 8)).find("overlap"), std::string::npos);
  const std::string wrong = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  EXPECT_NE(file_error(write_file("size.st", wrong, 8)).find("needs 12"), std::string::npos);
  const std::string unknown = R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_NE(file_error(write_file("dt.st", unknown, 8)).find("unknown dtype 'Q4'"), std::string::npos);
  const std::string i8 = R"({"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})";
  EXPECT_NE(file_error(write_file("i8.st", i8, 8)).find("I8 is not supported"), std::string::npos);
  const std::string gap = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  EXPECT_NE(file_error(write_file("gap.st", gap, 8)).find("gap"), std::string::npos);
  EXPECT_NE(file_error(write_file("tail.st", ok, 12)).find("belong to none"), std::string::npos);
  const std::string neg = R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})";
  EXPECT_NE(file_error(write_file("neg.st", neg, 8)).find("non-negative"), std::string::npos);
  // A header length beyond the bound is refused before anything is allocated.
  {
    const std::string p = ::testing::TempDir() + "/huge.st";
    std::ofstream f(p, std::ios::binary);
    const uint64_t n = uint64_t{1} << 40;
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
    f << "{}";
    f.close();
    EXPECT_NE(file_error(p).find("exceeds"), std::string::npos);
  }
}

TEST(Safetensors, ShardedFoldersFollowTheIndex) {
  const std::string dir = ::testing::TempDir() + "/sharded";
  std::remove((dir + "/model.safetensors").c_str());
  (void)std::system(("mkdir -p " + dir).c_str());
  auto shard = [&](const std::string& name, const std::string& tensor) {
    const std::string h = "{\"" + tensor + R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
    f << h;
    const float v = tensor == "x" ? 1.0f : 2.0f;
    f.write(reinterpret_cast<const char*>(&v), 4);
  };
  shard("m-1.safetensors", "x");
  shard("m-2.safetensors", "y");
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"metadata":{},"weight_map":{"x":"m-1.safetensors","y":"m-2.safetensors"}})";
  auto t = load_safetensors_folder(dir);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.at("y").data[0], 2.0f);
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"metadata":{},"weight_map":{"x":"m-2.safetensors","y":"m-2.safetensors"}})";
  try {
    load_safetensors_folder(dir);
    FAIL() << "a tensor missing from its shard must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lacks it"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qf::hf

namespace qf::hf {
namespace {

TEST(Safetensors, WriterRoundTripsThroughTheStrictReader) {
  const std::string dir = ::testing::TempDir();
  std::map<std::string, HostTensor> t;
  t["b.weight"] = HostTensor{{2, 3}, {1, 2, 3, 4, 5, 6}};
  t["a"] = HostTensor{{1}, {-0.5f}};
  write_safetensors_f32(dir + "/w.safetensors", t);
  SafetensorsFile f(dir + "/w.safetensors");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.entries().at("b.weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.read_f32("b.weight"), t["b.weight"].data);
  EXPECT_EQ(f.read_f32("a"), t["a"].data);
}

}  // namespace
}  // namespace qf::hf
