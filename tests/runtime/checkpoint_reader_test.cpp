#include "runtime/checkpoint_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/graph_json.h"
#include "core/int4_pack.h"
#include "core/quantize_rows.h"
#include "core/sha256.h"
#include "test_util.h"

namespace qf {
namespace {

using test::all_kinds_content;
using test::temp_path;

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = temp_path(::testing::UnitTest::GetInstance()->current_test_info()->name());
    content_ = all_kinds_content();
    write_checkpoint(path_, content_);
  }
  void TearDown() override { std::remove(path_.c_str()); }

  // Expects read_checkpoint to fail with a message containing every needle.
  void expect_error(std::vector<std::string> needles) {
    try {
      read_checkpoint(path_);
      ADD_FAILURE() << "expected a qf::Error";
    } catch (const Error& e) {
      for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "message: " << e.what();
    }
  }

  std::string path_;
  CheckpointContent content_;
};

QuantizedMatrix quantized(const LayerContent& L) {
  const int64_t rows = L.weight.shape[0], k = L.weight.numel() / rows;
  return quantize_matrix(L.weight.f32.data(),
                         QuantLayout::make(rows, k, L.weight_scheme->granularity, L.weight_scheme->group_size),
                         L.weight_scheme->bits, true);
}

TEST_F(ReaderTest, RoundTripOfEveryTensorKind) {
  Checkpoint ck = read_checkpoint(path_);
  EXPECT_EQ(ck.format_version, 1);
  ASSERT_EQ(ck.layers.size(), 5u);

  const LayerWeights& f32 = ck.layers.at("f32");
  EXPECT_EQ(f32.format, WeightFormat::kFloat32);
  EXPECT_EQ(f32.f32, content_.layers[0].weight.f32);
  EXPECT_EQ(f32.extra.at("bias").f32, content_.layers[0].extra.at("bias").f32);
  EXPECT_EQ(f32.input_act.mode, ActMode::kNone);

  const LayerWeights& i8 = ck.layers.at("i8");
  QuantizedMatrix q8 = quantized(content_.layers[1]);
  EXPECT_EQ(i8.format, WeightFormat::kInt8);
  EXPECT_EQ(std::vector<int32_t>(i8.codes.begin(), i8.codes.end()), q8.codes);
  EXPECT_EQ(i8.scales, q8.scales);
  EXPECT_EQ(i8.input_act.mode, ActMode::kStatic);
  EXPECT_FALSE(i8.input_act.symmetric);
  EXPECT_EQ(i8.input_act.scale, 0.05f);
  EXPECT_EQ(i8.input_act.zero_point, 120);

  const LayerWeights& i4 = ck.layers.at("i4");
  QuantizedMatrix q4 = quantized(content_.layers[2]);
  EXPECT_EQ(i4.format, WeightFormat::kInt4);
  EXPECT_EQ(i4.granularity, Granularity::kGroup);
  EXPECT_EQ(i4.group_size, 3);
  EXPECT_EQ(unpack_int4_rows(i4.packed.data(), i4.rows, i4.cols), q4.codes);
  EXPECT_EQ(i4.scales, q4.scales);
  EXPECT_EQ(i4.input_act.mode, ActMode::kDynamicPerToken);

  for (const char* name : {"sp", "sp48"}) {
    const LayerWeights& sp = ck.layers.at(name);
    const LayerContent& L = name == std::string("sp") ? content_.layers[3] : content_.layers[4];
    QuantizedMatrix q = quantized(L);
    EXPECT_EQ(sp.format, name == std::string("sp") ? WeightFormat::kNMInt8 : WeightFormat::kNMInt4);  // 8 / 4 bits
    EXPECT_TRUE(sp.sparse);
    NMCompressed<int8_t> c;
    c.rows = sp.rows;
    c.cols = sp.cols;
    c.pattern = sp.nm;
    c.values = sp.codes;
    c.indices = sp.packed;
    auto dense = nm_decompress(c);
    EXPECT_EQ(std::vector<int32_t>(dense.begin(), dense.end()), q.codes) << name;
    EXPECT_EQ(sp.scales, q.scales);
  }
  EXPECT_EQ(ck.layers.at("sp").nm.str(), "2:4");
  EXPECT_EQ(ck.layers.at("sp48").nm.str(), "4:8");
  EXPECT_TRUE(ck.layers.at("sp").input_act.symmetric);

  ASSERT_EQ(ck.golden.size(), 1u);
  EXPECT_EQ(ck.golden[0].inputs.at("x").f32, content_.golden[0].inputs.at("x").f32);
  EXPECT_EQ(ck.golden[0].outputs.at("y").shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(ck.provenance.at("git_commit"), "deadbeef");
  EXPECT_EQ(ck.recipe_yaml, "recipe: test\n");
  EXPECT_EQ(ck.metrics_json, R"({"top1": 0.5})");
  EXPECT_GT(ck.layers.at("i4").bytes_stored, 0);
}

TEST_F(ReaderTest, FromMemoryImage) {
  auto bytes = test::read_bytes(path_);
  Checkpoint ck = read_checkpoint_from_memory(bytes.data(), bytes.size());
  EXPECT_EQ(ck.layers.size(), 5u);
}

TEST_F(ReaderTest, MissingFile) {
  std::remove(path_.c_str());
  expect_error({path_, "cannot open as HDF5"});
}

TEST_F(ReaderTest, TruncatedFile) {
  auto bytes = test::read_bytes(path_);
  bytes.resize(bytes.size() * 2 / 3);
  test::write_bytes(path_, bytes);
  expect_error({path_});
}

TEST_F(ReaderTest, NotHdf5) {
  test::write_bytes(path_, std::vector<char>(4096, 'x'));
  expect_error({"cannot open as HDF5"});
}

TEST_F(ReaderTest, FlippedByteInWeightIsCaughtByChecksum) {
  const int64_t off = test::first_chunk_offset(path_, "layers/i8/weight");
  auto bytes = test::read_bytes(path_);
  bytes[static_cast<size_t>(off) + 5] ^= 0x10;  // a code, still a valid int8 value
  test::write_bytes(path_, bytes);
  expect_error({"/layers/i8/weight", "read failed", "hecksum"});
}

TEST_F(ReaderTest, FlippedByteInGraphIsCaughtByChecksum) {
  const int64_t off = test::first_chunk_offset(path_, "graph");
  auto bytes = test::read_bytes(path_);
  bytes[static_cast<size_t>(off) + 3] ^= 0x01;
  test::write_bytes(path_, bytes);
  expect_error({"/graph", "read failed"});
}

TEST_F(ReaderTest, NewerMajorVersion) {
  test::mutate_h5(path_, [](hid_t f) {
    H5Adelete(f, "format_version");
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "format_version", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    int64_t v = 2;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Sclose(s);
  });
  expect_error({"written by a newer qforge (format_version 2, this reader supports 1)"});
}

TEST_F(ReaderTest, NotQforge) {
  test::mutate_h5(path_, [](hid_t f) { H5Adelete(f, "format"); });
  expect_error({"not a qforge checkpoint"});
}

// Replaces dataset `name` with a chunked, checksummed one of the given type/shape/data: a
// well-formed HDF5 file whose *content* is wrong, so only the reader's validation can catch it.
template <class T>
void replace_dataset(const std::string& path, const std::string& name, hid_t type, std::vector<hsize_t> dims,
                     const std::vector<T>& data) {
  test::mutate_h5(path, [&](hid_t f) {
    H5Ldelete(f, name.c_str(), H5P_DEFAULT);
    hid_t s = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, static_cast<int>(dims.size()), dims.data());
    H5Pset_fletcher32(p);
    hid_t d = H5Dcreate2(f, name.c_str(), type, s, H5P_DEFAULT, p, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
    test::set_string_attr(d, "sha256", sha256_hex(data.data(), data.size() * sizeof(T)));  // a consistent file
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(s);
  });
}

TEST_F(ReaderTest, ShapeMismatch) {
  replace_dataset<float>(path_, "layers/i8/weight_scale", H5T_NATIVE_FLOAT, {3}, {1.f, 1.f, 1.f});
  expect_error({"/layers/i8/weight_scale", "has shape [3], expected [9]"});
}

TEST_F(ReaderTest, WrongDtype) {
  replace_dataset<float>(path_, "layers/i8/weight", H5T_NATIVE_FLOAT, {9, 10}, std::vector<float>(90, 0.f));
  expect_error({"/layers/i8/weight", "wrong dtype (expected int8)"});
}

TEST_F(ReaderTest, MissingDataset) {
  test::mutate_h5(path_, [](hid_t f) { H5Ldelete(f, "layers/i4/weight", H5P_DEFAULT); });
  expect_error({"/layers/i4/weight", "missing dataset"});
}

TEST_F(ReaderTest, MissingLayerGroup) {
  test::mutate_h5(path_, [](hid_t f) { H5Ldelete(f, "layers/sp", H5P_DEFAULT); });
  expect_error({"/layers/sp", "missing layer group"});
}

TEST_F(ReaderTest, NMIndexOutOfRange) {
  // 4:8 uses 4-bit indices: 0xF = 15 >= M.
  std::vector<uint8_t> idx(5 * 4, 0x10);  // (0, 1) pairs: valid ...
  idx[0] = 0xF0;                           // ... except entry 1 of row 0: index 15
  replace_dataset<uint8_t>(path_, "layers/sp48/weight_indices", H5T_NATIVE_UINT8, {5, 4}, idx);
  expect_error({"/layers/sp48/weight_indices", "invalid N:M metadata", "index 15 >= M = 8"});
}

TEST_F(ReaderTest, NMIndicesNotIncreasing) {
  std::vector<uint8_t> idx(16 * 1, 0x00);  // 2:4, K=8: all indices 0 -> not strictly increasing
  replace_dataset<uint8_t>(path_, "layers/sp/weight_indices", H5T_NATIVE_UINT8, {16, 1}, idx);
  expect_error({"/layers/sp/weight_indices", "strictly increasing"});
}

TEST_F(ReaderTest, CodeOutsideRestrictedRange) {
  std::vector<int8_t> codes(90, 0);
  codes[17] = -128;
  replace_dataset<int8_t>(path_, "layers/i8/weight", H5T_NATIVE_INT8, {9, 10}, codes);
  expect_error({"/layers/i8/weight", "code -128 outside [-127, 127]"});
}

TEST_F(ReaderTest, Int4CodeOutsideRange) {
  std::vector<uint8_t> packed(8 * 5, 0);
  packed[3] = 0x08;  // -8 is not a valid symmetric int4 code
  replace_dataset<uint8_t>(path_, "layers/i4/weight", H5T_NATIVE_UINT8, {8, 5}, packed);
  expect_error({"/layers/i4/weight", "code -8 outside [-7, 7]"});
}

// Sets (replacing) the string attribute `name` of layer group `layer` in the file at `path`.
void set_layer_attr(const std::string& path, const char* layer, const char* name, const std::string& value) {
  test::mutate_h5(path, [&](hid_t f) {
    hid_t l = H5Gopen2(f, (std::string("layers/") + layer).c_str(), H5P_DEFAULT);
    if (H5Aexists(l, name) > 0) H5Adelete(l, name);
    test::set_string_attr(l, name, value);
    H5Gclose(l);
  });
}

// ---- feature int4_full_range: codes [-8, 7] where the layer says code_range = "full" ----

// The all-kinds content with its int4 layer (and the 4:8 int4 one) quantized on the full range.
CheckpointContent full_range_content() {
  CheckpointContent c = all_kinds_content();
  for (size_t i : {size_t{2}, size_t{4}}) c.layers[i].weight_scheme->full_range = true;
  return c;
}

TEST_F(ReaderTest, FullRangeInt4RoundTrips) {
  CheckpointContent c = full_range_content();
  // Put a group's largest magnitude on the negative side: it must come back as code -8.
  c.layers[2].weight.f32[0] = -10.0f;
  write_checkpoint(path_, c);
  Checkpoint ck = read_checkpoint(path_);
  EXPECT_NE(std::find(ck.required_features.begin(), ck.required_features.end(), "int4_full_range"),
            ck.required_features.end());
  const LayerWeights& i4 = ck.layers.at("i4");
  EXPECT_TRUE(i4.full_range);
  EXPECT_FALSE(ck.layers.at("i8").full_range);
  const LayerContent& L = c.layers[2];
  const QuantizedMatrix q = quantize_weight_matrix(
      L.weight.f32.data(), QuantLayout::make(i4.rows, i4.cols, Granularity::kGroup, 3), *L.weight_scheme);
  const std::vector<int32_t> codes = unpack_int4_rows(i4.packed.data(), i4.rows, i4.cols);
  EXPECT_EQ(codes, q.codes);
  EXPECT_EQ(codes[0], -8);
  EXPECT_EQ(i4.scales[0], 10.0f / 7.5f);  // max|w| / 7.5
  EXPECT_TRUE(ck.layers.at("sp48").full_range);
}

TEST_F(ReaderTest, FullRangeAttributeNeedsTheFeature) {
  write_checkpoint(path_, full_range_content());
  test::mutate_h5(path_, [](hid_t f) {
    H5Adelete(f, "required_features");
    test::set_string_attr(f, "required_features", "nm_int4");
  });
  expect_error({"/layers/i4", "code_range 'full'", "does not list 'int4_full_range'"});
}

TEST_F(ReaderTest, FullRangeAttributeIsForInt4Weights) {
  write_checkpoint(path_, full_range_content());
  set_layer_attr(path_, "i8", "code_range", "full");
  expect_error({"/layers/i8", "code_range 'full' is defined for int4, nm_int4 and bs_int4 weights, not int8"});
}

TEST_F(ReaderTest, FullRangeAttributeValueIsChecked) {
  write_checkpoint(path_, full_range_content());
  set_layer_attr(path_, "i4", "code_range", "wide");
  expect_error({"/layers/i4", "code_range must be 'full'", "'wide'"});
}

TEST_F(ReaderTest, NonPositiveScale) {
  replace_dataset<float>(path_, "layers/f32/bias", H5T_NATIVE_FLOAT, {10}, std::vector<float>(10, NAN));
  expect_error({"/layers/f32/bias", "non-finite"});
  write_checkpoint(path_, content_);
  std::vector<float> s(9, 0.1f);
  s[4] = 0.f;
  replace_dataset<float>(path_, "layers/i8/weight_scale", H5T_NATIVE_FLOAT, {9}, s);
  expect_error({"/layers/i8/weight_scale", "finite and > 0"});
}

TEST_F(ReaderTest, GraphErrors) {
  auto set_graph = [&](const std::string& text) {
    std::vector<uint8_t> bytes(text.begin(), text.end());
    replace_dataset<uint8_t>(path_, "graph", H5T_NATIVE_UINT8, {bytes.size()}, bytes);
  };
  set_graph("{\"inputs\": [");
  expect_error({"/graph", "JSON parse error"});
  Graph g = content_.graph;
  g.ops[2].kind = "frobnicate";
  set_graph(graph_to_json_string(g));
  expect_error({"op 'i4'", "unknown op kind 'frobnicate'"});
  g = content_.graph;
  g.ops[0].kind = "conv2d";  // attributes are range-checked before anything else about the op
  g.ops[0].ints["padding"] = {int64_t{1} << 62};  // would overflow the engine's shape arithmetic
  set_graph(graph_to_json_string(g));
  expect_error({"attribute 'padding' value 4611686018427387904 outside [0, 65536]"});
}

}  // namespace
}  // namespace qf

namespace qf {
namespace {

// ---- format 1.2: required features, unknown names, digests, old files ----

TEST_F(ReaderTest, UnknownRequiredFeatureIsRefusedByName) {
  test::mutate_h5(path_, [](hid_t f) {
    H5Adelete(f, "required_features");
    test::set_string_attr(f, "required_features", "nm_int4,weight_zero_point");
  });
  expect_error({"requires feature 'weight_zero_point'", "does not implement"});
}

TEST_F(ReaderTest, UnknownOptionalAdditionsStillLoad) {
  test::mutate_h5(path_, [](hid_t f) {
    test::set_string_attr(f, "future_note", "added by a later minor version");
    hid_t g = H5Gcreate2(f, "future_group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    hid_t l = H5Gopen2(f, "layers/i8", H5P_DEFAULT);
    test::set_string_attr(l, "x_calibration", "informational, may be ignored");
    H5Gclose(l);
  });
  EXPECT_NO_THROW(read_checkpoint(path_));
}

TEST_F(ReaderTest, UnknownLayerDatasetIsRefused) {
  // Asymmetric weights would change the math; a reader that ignored the zero point would
  // silently compute another model.
  replace_dataset<int32_t>(path_, "layers/i8/weight_zero_point", H5T_NATIVE_INT32, {9}, std::vector<int32_t>(9, 3));
  expect_error({"/layers/i8", "unknown dataset 'weight_zero_point'"});
}

TEST_F(ReaderTest, UnknownLayerAttributeIsRefused) {
  set_layer_attr(path_, "i8", "weight_layout", "transposed");
  expect_error({"/layers/i8", "unknown attribute 'weight_layout'"});
}

TEST_F(ReaderTest, DigestCatchesDataThatIsNotWhatWasWritten) {
  // What an edited chunk index does: HDF5 returns other bytes without any error of its own.
  std::string digest;
  test::mutate_h5(path_, [&](hid_t f) {
    hid_t d = H5Dopen2(f, "layers/i8/weight", H5P_DEFAULT);
    digest = test::get_string_attr(d, "sha256");
    H5Dclose(d);
  });
  replace_dataset<int8_t>(path_, "layers/i8/weight", H5T_NATIVE_INT8, {9, 10}, std::vector<int8_t>(90, 0));
  test::mutate_h5(path_, [&](hid_t f) {
    hid_t d = H5Dopen2(f, "layers/i8/weight", H5P_DEFAULT);
    H5Adelete(d, "sha256");
    test::set_string_attr(d, "sha256", digest);
    H5Dclose(d);
  });
  expect_error({"/layers/i8/weight", "content digest mismatch"});
}

TEST_F(ReaderTest, MissingDigestIsAnErrorSinceOnePointTwo) {
  test::mutate_h5(path_, [](hid_t f) {
    hid_t d = H5Dopen2(f, "layers/i8/weight", H5P_DEFAULT);
    H5Adelete(d, "sha256");
    H5Dclose(d);
  });
  expect_error({"/layers/i8/weight", "missing its sha256 digest"});
}

TEST_F(ReaderTest, FilesOfFormatOnePointOneStillLoad) {
  // A 1.1 file: no digests, no required_features, nm_int4 known by name.
  test::mutate_h5(path_, [](hid_t f) {
    H5Adelete(f, "required_features");
    H5Adelete(f, "format_minor");
    test::set_int_attr(f, "format_minor", 1);
    H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC,
             [](hid_t root, const char* name, const H5O_info_t* info, void*) -> herr_t {
               if (info->type != H5O_TYPE_DATASET) return 0;
               hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
               if (H5Aexists(d, "sha256") > 0) H5Adelete(d, "sha256");
               H5Dclose(d);
               return 0;
             },
             nullptr);
  });
  const Checkpoint ck = read_checkpoint(path_);
  EXPECT_EQ(ck.format_minor, 1);
  EXPECT_TRUE(ck.required_features.empty());
}

TEST_F(ReaderTest, UnknownOpAttributeIsRefused) {
  content_.graph.ops[0].ints["dilation"] = {2};  // unknown to linear: would change the op
  std::string msg;
  try {
    write_checkpoint(path_, content_);
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("unknown integer attribute 'dilation'"), std::string::npos) << msg;
  content_.graph.ops[0].ints.erase("dilation");
  content_.graph.ops[0].strings["x_note"] = "informational";  // ignorable by the x_ prefix
  write_checkpoint(path_, content_);
  EXPECT_NO_THROW(read_checkpoint(path_));
}

}  // namespace
}  // namespace qf
