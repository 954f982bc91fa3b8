// Writes checkpoints and decodes them with raw HDF5 calls following export/FORMAT.md, as an
// h5py + numpy user would: proves the file layout matches the spec, independently of the reader.
#include "export/checkpoint_writer.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/ggml_blocks.h"
#include "core/graph_json.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "core/quantize_rows.h"

namespace qf {
namespace {

std::string tmp_path(const std::string& name) {
  return ::testing::TempDir() + "qf_export_" + std::to_string(getpid()) + "_" + name + ".qf.h5";
}

Tensor random_tensor(std::vector<int64_t> shape, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = d(gen);
  return Tensor::floats(std::move(shape), std::move(v));
}

// Zeroes all but the 2 largest-magnitude of every 4 consecutive values along K.
void prune_2_4(Tensor& w) {
  for (size_t g = 0; g + 4 <= w.f32.size(); g += 4) {
    std::vector<size_t> idx = {0, 1, 2, 3};
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return std::fabs(w.f32[g + a]) > std::fabs(w.f32[g + b]); });
    w.f32[g + idx[2]] = 0.f;
    w.f32[g + idx[3]] = 0.f;
  }
}

struct File {
  hid_t id;
  explicit File(const std::string& p) : id(H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) {}
  ~File() { if (id >= 0) H5Fclose(id); }
};

template <class T>
std::vector<T> read_ds(hid_t f, const std::string& path, hid_t mem_type, std::vector<int64_t>* shape = nullptr) {
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  if (d < 0) return {};
  hid_t s = H5Dget_space(d);
  int rank = H5Sget_simple_extent_ndims(s);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(s, dims.data(), nullptr);
  if (shape) shape->assign(dims.begin(), dims.end());
  std::vector<T> out(static_cast<size_t>(H5Sget_simple_extent_npoints(s)));
  if (!out.empty()) {
    EXPECT_GE(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), 0);
  }
  hid_t plist = H5Dget_create_plist(d);
  if (!out.empty()) {
    bool has_fletcher = false;
    for (int i = 0; i < H5Pget_nfilters(plist); ++i) {
      unsigned flags; size_t n = 0; unsigned cfg;
      has_fletcher |= H5Pget_filter2(plist, static_cast<unsigned>(i), &flags, &n, nullptr, 0, nullptr, &cfg) == H5Z_FILTER_FLETCHER32;
    }
    EXPECT_TRUE(has_fletcher) << path << " must be fletcher32-protected";
  }
  H5Pclose(plist);
  H5Sclose(s);
  H5Dclose(d);
  return out;
}

std::string read_str_attr(hid_t f, const std::string& obj, const char* name) {
  hid_t a = H5Aopen_by_name(f, obj.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(a, 0) << obj << "@" << name;
  hid_t t = H5Aget_type(a);
  std::string s(H5Tget_size(t), '\0');
  H5Aread(a, t, s.data());
  H5Tclose(t);
  H5Aclose(a);
  return s.substr(0, s.find('\0'));
}

int64_t read_int_attr(hid_t f, const std::string& obj, const char* name) {
  hid_t a = H5Aopen_by_name(f, obj.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(a, 0) << obj << "@" << name;
  int64_t v = -1;
  H5Aread(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  return v;
}

Op make_op(const std::string& kind, const std::string& name, std::vector<std::string> in, std::string out) {
  Op op;
  op.kind = kind;
  op.name = name;
  op.inputs = std::move(in);
  op.outputs = {std::move(out)};
  return op;
}

LayerContent layer(const std::string& name, const std::string& kind, Tensor w) {
  LayerContent L;
  L.name = name;
  L.kind = kind;
  L.weight = std::move(w);
  return L;
}

// Four linears in a chain, one per weight storage kind, plus a layernorm.
CheckpointContent mlp_content() {
  CheckpointContent c;
  c.graph.family = "mlp";
  c.graph.inputs.push_back({"x", "float32", {-1, 13}});
  c.graph.ops = {make_op("linear", "f32", {"x"}, "a"), make_op("linear", "i8", {"a"}, "b"),
                 make_op("linear", "i4", {"b"}, "c"), make_op("linear", "sp", {"c"}, "d"),
                 make_op("layernorm", "ln", {"d"}, "y")};
  c.graph.outputs = {"y"};
  LayerContent f32 = layer("f32", "linear", random_tensor({9, 13}, 1));
  f32.extra["bias"] = random_tensor({9}, 2);
  LayerContent i8 = layer("i8", "linear", random_tensor({7, 9}, 3));
  i8.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  i8.input_act = ActScheme{ActMode::kStatic, 8, false, 0.05f, 128};
  LayerContent i4 = layer("i4", "linear", random_tensor({5, 7}, 4));
  i4.weight_scheme = WeightScheme{4, Granularity::kTensor, 0, true};
  i4.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
  LayerContent sp = layer("sp", "linear", random_tensor({3, 8}, 5));  // K=8 (linear i4 outputs 5: shapes are not checked here)
  prune_2_4(sp.weight);
  sp.weight_scheme = WeightScheme{8, Granularity::kGroup, 4, true};
  sp.sparsity = "2:4";
  LayerContent ln = layer("ln", "layernorm", random_tensor({3}, 6));
  ln.extra["bias"] = random_tensor({3}, 7);
  c.layers = {f32, i8, i4, sp, ln};
  Golden g;
  g.inputs["x"] = random_tensor({2, 13}, 8);
  g.outputs["y"] = random_tensor({2, 3}, 9);
  c.golden.push_back(g);
  c.provenance["git_commit"] = "abc123";
  c.recipe_yaml = "model: mlp\n";
  c.metrics_json = R"({"accuracy": 0.9})";
  return c;
}

TEST(CheckpointWriter, LayoutMatchesFormatMd) {
  const std::string path = tmp_path("layout");
  const CheckpointContent c = mlp_content();
  write_checkpoint(path, c);
  File f(path);
  ASSERT_GE(f.id, 0);
  EXPECT_EQ(read_str_attr(f.id, "/", "format"), "qforge");
  EXPECT_EQ(read_int_attr(f.id, "/", "format_version"), 1);

  auto graph_bytes = read_ds<uint8_t>(f.id, "graph", H5T_NATIVE_UINT8);
  Graph g = graph_from_json_string(std::string(graph_bytes.begin(), graph_bytes.end()));
  EXPECT_EQ(g.ops.size(), 5u);

  // float32 weight: stored as is.
  std::vector<int64_t> shape;
  EXPECT_EQ(read_str_attr(f.id, "layers/f32", "weight_format"), "float32");
  EXPECT_EQ(read_ds<float>(f.id, "layers/f32/weight", H5T_NATIVE_FLOAT, &shape), c.layers[0].weight.f32);
  EXPECT_EQ(shape, (std::vector<int64_t>{9, 13}));
  EXPECT_EQ(read_ds<float>(f.id, "layers/f32/bias", H5T_NATIVE_FLOAT), c.layers[0].extra.at("bias").f32);

  // int8 per-channel: codes == core quantization of the float weight, scale [O].
  {
    const LayerContent& L = c.layers[1];
    EXPECT_EQ(read_str_attr(f.id, "layers/i8", "weight_format"), "int8");
    auto codes = read_ds<int8_t>(f.id, "layers/i8/weight", H5T_NATIVE_INT8, &shape);
    EXPECT_EQ(shape, (std::vector<int64_t>{7, 9}));
    auto scales = read_ds<float>(f.id, "layers/i8/weight_scale", H5T_NATIVE_FLOAT, &shape);
    EXPECT_EQ(shape, (std::vector<int64_t>{7}));
    QuantizedMatrix q = quantize_matrix(L.weight.f32.data(), QuantLayout::make(7, 9, Granularity::kChannel), 8, true);
    EXPECT_EQ(std::vector<int32_t>(codes.begin(), codes.end()), q.codes);
    EXPECT_EQ(scales, q.scales);
    EXPECT_EQ(read_str_attr(f.id, "layers/i8", "act_mode"), "static");
    EXPECT_EQ(read_int_attr(f.id, "layers/i8", "act_zero_point"), 128);
    EXPECT_EQ(read_int_attr(f.id, "layers/i8", "act_symmetric"), 0);
  }
  // int4 per-tensor: packed, low nibble first, scale [1].
  {
    const LayerContent& L = c.layers[2];
    EXPECT_EQ(read_str_attr(f.id, "layers/i4", "weight_format"), "int4");
    auto packed = read_ds<uint8_t>(f.id, "layers/i4/weight", H5T_NATIVE_UINT8, &shape);
    EXPECT_EQ(shape, (std::vector<int64_t>{5, 4}));  // ceil(7/2)
    auto scales = read_ds<float>(f.id, "layers/i4/weight_scale", H5T_NATIVE_FLOAT, &shape);
    EXPECT_EQ(shape, (std::vector<int64_t>{1}));
    QuantizedMatrix q = quantize_matrix(L.weight.f32.data(), QuantLayout::make(5, 7, Granularity::kTensor), 4, true);
    // Decode exactly like the numpy snippet in FORMAT.md.
    for (int64_t o = 0; o < 5; ++o)
      for (int64_t k = 0; k < 7; ++k) {
        const uint8_t b = packed[static_cast<size_t>(o * 4 + k / 2)];
        int v = k % 2 == 0 ? (b & 0xF) : (b >> 4);
        if (v > 7) v -= 16;
        EXPECT_EQ(v, q.codes[static_cast<size_t>(o * 7 + k)]);
      }
    EXPECT_EQ(scales, q.scales);
    EXPECT_EQ(read_str_attr(f.id, "layers/i4", "act_mode"), "dynamic_per_token");
  }
  // 2:4 with per-group scales: values + 2-bit indices decode to the dense codes.
  {
    const LayerContent& L = c.layers[3];
    EXPECT_EQ(read_str_attr(f.id, "layers/sp", "weight_format"), "nm_int8");
    EXPECT_EQ(read_str_attr(f.id, "layers/sp", "sparsity"), "2:4");
    EXPECT_EQ(read_int_attr(f.id, "layers/sp", "group_size"), 4);
    auto vals = read_ds<int8_t>(f.id, "layers/sp/weight_values", H5T_NATIVE_INT8, &shape);
    EXPECT_EQ(shape, (std::vector<int64_t>{3, 4}));
    auto idx = read_ds<uint8_t>(f.id, "layers/sp/weight_indices", H5T_NATIVE_UINT8, &shape);
    EXPECT_EQ(shape, (std::vector<int64_t>{3, 1}));
    auto scales = read_ds<float>(f.id, "layers/sp/weight_scale", H5T_NATIVE_FLOAT, &shape);
    EXPECT_EQ(shape, (std::vector<int64_t>{3, 2}));
    QuantizedMatrix q = quantize_matrix(L.weight.f32.data(), QuantLayout::make(3, 8, Granularity::kGroup, 4), 8, true);
    std::vector<int32_t> dense(24, 0);
    for (int o = 0; o < 3; ++o)
      for (int j = 0; j < 4; ++j) {
        const int i = (idx[static_cast<size_t>(o)] >> (2 * j)) & 3;
        dense[static_cast<size_t>(o * 8 + (j / 2) * 4 + i)] = vals[static_cast<size_t>(o * 4 + j)];
      }
    EXPECT_EQ(dense, q.codes);
    EXPECT_EQ(scales, q.scales);
  }
  EXPECT_EQ(read_str_attr(f.id, "layers/ln", "weight_format"), "float32");
  EXPECT_EQ(read_ds<float>(f.id, "layers/ln/bias", H5T_NATIVE_FLOAT), c.layers[4].extra.at("bias").f32);

  EXPECT_EQ(read_int_attr(f.id, "golden", "num_cases"), 1);
  EXPECT_EQ(read_ds<float>(f.id, "golden/0/inputs/x", H5T_NATIVE_FLOAT), c.golden[0].inputs.at("x").f32);
  EXPECT_EQ(read_ds<float>(f.id, "golden/0/outputs/y", H5T_NATIVE_FLOAT), c.golden[0].outputs.at("y").f32);
  EXPECT_EQ(read_str_attr(f.id, "provenance", "git_commit"), "abc123");
  auto recipe = read_ds<uint8_t>(f.id, "recipe", H5T_NATIVE_UINT8);
  EXPECT_EQ(std::string(recipe.begin(), recipe.end()), "model: mlp\n");
  std::remove(path.c_str());
}

TEST(CheckpointWriter, LearnedScalesAreUsed) {
  CheckpointContent c = mlp_content();
  c.layers[1].weight_scales.assign(7, 0.01f);
  const std::string path = tmp_path("lsq");
  write_checkpoint(path, c);
  File f(path);
  auto scales = read_ds<float>(f.id, "layers/i8/weight_scale", H5T_NATIVE_FLOAT);
  EXPECT_EQ(scales, std::vector<float>(7, 0.01f));
  auto codes = read_ds<int8_t>(f.id, "layers/i8/weight", H5T_NATIVE_INT8);
  const QuantRange r = quant_range(8, true);
  for (size_t i = 0; i < codes.size(); ++i)
    EXPECT_EQ(codes[i], quantize(c.layers[1].weight.f32[i], QuantParams{0.01f, 0}, r));
  std::remove(path.c_str());
}

// ggml's Q4_0 / Q8_0 blocks are stored as int8 codes (5 / 8 bits) with one positive scale per
// block of 32, decoding (code * scale, as FORMAT.md says) to exactly ggml's dequantized weight;
// dense and 2:4 (nm_int8) alike.
TEST(CheckpointWriter, GgmlBlocksDecodeToTheDequantizedWeight) {
  for (GgmlFormat fmt : {GgmlFormat::kQ4_0, GgmlFormat::kQ8_0}) {
    for (bool sparse : {false, true}) {
      SCOPED_TRACE(std::string(ggml_format_name(fmt)) + (sparse ? " 2:4" : " dense"));
      CheckpointContent c;
      c.graph.family = "mlp";
      c.graph.inputs.push_back({"x", "float32", {-1, 64}});
      c.graph.ops = {make_op("linear", "q", {"x"}, "y")};
      c.graph.outputs = {"y"};
      LayerContent q = layer("q", "linear", random_tensor({6, 64}, 21));
      if (sparse) prune_2_4(q.weight);
      q.weight_scheme = ggml_weight_scheme(fmt);
      q.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
      if (sparse) q.sparsity = "2:4";
      c.layers = {q};
      const std::string path = tmp_path(std::string("ggml_") + ggml_format_name(fmt) + (sparse ? "_sp" : ""));
      write_checkpoint(path, c);
      File f(path);
      EXPECT_EQ(read_int_attr(f.id, "layers/q", "bits"), fmt == GgmlFormat::kQ4_0 ? 5 : 8);
      EXPECT_EQ(read_str_attr(f.id, "layers/q", "granularity"), "group");
      EXPECT_EQ(read_int_attr(f.id, "layers/q", "group_size"), 32);
      auto scales = read_ds<float>(f.id, "layers/q/weight_scale", H5T_NATIVE_FLOAT);
      ASSERT_EQ(scales.size(), 12u);
      std::vector<int8_t> codes(6 * 64, 0);
      if (sparse) {
        EXPECT_EQ(read_str_attr(f.id, "layers/q", "weight_format"), "nm_int8");
        auto vals = read_ds<int8_t>(f.id, "layers/q/weight_values", H5T_NATIVE_INT8);
        auto idx = read_ds<uint8_t>(f.id, "layers/q/weight_indices", H5T_NATIVE_UINT8);
        for (int64_t r = 0; r < 6; ++r)
          for (int64_t j = 0; j < 32; ++j)
            codes[r * 64 + (j / 2) * 4 + nm_get_index(idx.data() + r * nm_index_row_bytes(64, 2, 4), j, 2)] =
                vals[r * 32 + j];
      } else {
        EXPECT_EQ(read_str_attr(f.id, "layers/q", "weight_format"), "int8");
        codes = read_ds<int8_t>(f.id, "layers/q/weight", H5T_NATIVE_INT8);
      }
      std::vector<float> deq(6 * 64);
      fake_quantize_ggml(fmt, q.weight.f32.data(), 6, 64, deq.data());
      for (int64_t i = 0; i < 6 * 64; ++i) {
        ASSERT_GT(scales[i / 32], 0.f);
        ASSERT_EQ(static_cast<float>(codes[i]) * scales[i / 32], deq[i]) << "element " << i;
      }
      std::remove(path.c_str());
    }
  }
}

TEST(CheckpointWriter, GoldenInt64Ids) {
  CheckpointContent c;
  c.graph.inputs.push_back({"ids", "int64", {-1, -1}});
  c.graph.ops = {make_op("embedding", "emb", {"ids"}, "y")};
  c.graph.outputs = {"y"};
  LayerContent e = layer("emb", "embedding", random_tensor({10, 4}, 1));
  e.weight_scheme = WeightScheme{4, Granularity::kGroup, 2, true};
  c.layers = {e};
  Golden g;
  g.inputs["ids"] = Tensor::ids({1, 3}, {1, 9, 0});
  g.outputs["y"] = random_tensor({1, 3, 4}, 2);
  c.golden = {g};
  const std::string path = tmp_path("ids");
  write_checkpoint(path, c);
  File f(path);
  EXPECT_EQ(read_ds<int64_t>(f.id, "golden/0/inputs/ids", H5T_NATIVE_INT64), (std::vector<int64_t>{1, 9, 0}));
  std::remove(path.c_str());
}

std::string writer_error(const CheckpointContent& c, const std::string& path) {
  try {
    write_checkpoint(path, c);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CheckpointWriter, ValidationErrors) {
  const std::string path = tmp_path("errors");
  std::remove(path.c_str());
  auto expect_error = [&](const CheckpointContent& c, const std::string& needle) {
    const std::string e = writer_error(c, path);
    EXPECT_NE(e.find(needle), std::string::npos) << "got: '" << e << "'";
    std::ifstream in(path);
    EXPECT_FALSE(in.good()) << "no file may be left behind";
    std::ifstream tmp(path + ".tmp");
    EXPECT_FALSE(tmp.good()) << "no temporary file may be left behind";
  };
  CheckpointContent c = mlp_content();
  c.layers[3].weight.f32[0] = c.layers[3].weight.f32[1] = c.layers[3].weight.f32[2] = 1.f;
  expect_error(c, "layer 'sp': weight does not satisfy 2:4");
  c = mlp_content();
  c.layers[1].weight_scheme->granularity = Granularity::kGroup;
  c.layers[1].weight_scheme->group_size = 4;  // K = 9
  expect_error(c, "group size 4 does not divide K = 9");
  c = mlp_content();
  c.layers[1].weight.f32.pop_back();
  expect_error(c, "layer 'i8': weight has shape [7, 9] but 62 values");
  c = mlp_content();
  c.layers[1].name = "nope";
  expect_error(c, "layer 'nope': no op of that name");
  c = mlp_content();
  c.layers[1].weight_scales = {0.1f};
  expect_error(c, "expected 7 scales");
  c = mlp_content();
  c.layers[1].input_act.zero_point = 300;
  expect_error(c, "zero point 300 outside");
  c = mlp_content();
  c.layers[4].weight_scheme = WeightScheme{};
  expect_error(c, "layernorm weights cannot be quantized");
  c = mlp_content();
  c.golden[0].inputs.clear();
  expect_error(c, "golden case 0: missing input 'x'");
  c = mlp_content();
  c.layers[0].weight.f32[3] = NAN;
  expect_error(c, "non-finite");
}

TEST(CheckpointWriter, FailedWriteKeepsExistingFile) {
  const std::string path = tmp_path("keep");
  write_checkpoint(path, mlp_content());
  CheckpointContent bad = mlp_content();
  bad.golden[0].outputs.clear();
  EXPECT_THROW(write_checkpoint(path, bad), Error);
  File f(path);
  EXPECT_GE(f.id, 0);
  EXPECT_EQ(read_int_attr(f.id, "golden", "num_cases"), 1);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace qf
