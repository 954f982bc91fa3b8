#include "test_util.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace qf::test {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "qf_rt_" + std::to_string(getpid()) + "_" + name + ".qf.h5";
}

std::vector<float> randn(int64_t n, unsigned seed, float stddev) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(gen);
  return v;
}

Tensor random_tensor(std::vector<int64_t> shape, unsigned seed, float stddev) {
  const int64_t n = shape_numel(shape);
  return Tensor::floats(std::move(shape), randn(n, seed, stddev));
}

Op op(const std::string& kind, const std::string& name, std::vector<std::string> inputs,
      const std::string& output) {
  Op o;
  o.kind = kind;
  o.name = name;
  o.inputs = std::move(inputs);
  o.outputs = {output};
  return o;
}

LayerContent layer(const std::string& name, const std::string& kind, Tensor weight) {
  LayerContent L;
  L.name = name;
  L.kind = kind;
  L.weight = std::move(weight);
  return L;
}

void prune_nm(Tensor& w, int n, int m) {
  for (size_t g = 0; g + static_cast<size_t>(m) <= w.f32.size(); g += static_cast<size_t>(m)) {
    std::vector<size_t> idx(static_cast<size_t>(m));
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(),
              [&](size_t a, size_t b) { return std::fabs(w.f32[g + a]) > std::fabs(w.f32[g + b]); });
    for (size_t i = static_cast<size_t>(n); i < idx.size(); ++i) w.f32[g + idx[i]] = 0.f;
  }
}

CheckpointContent all_kinds_content() {
  // x[*,12] -> f32 (float weight) -> i8 (int8/channel, static asym act) -> i4 (int4/group,
  // dynamic per-token) -> sp (2:4, int8/tensor, static sym act) -> sp48 (4:8 int4 group) -> y
  CheckpointContent c;
  c.graph.family = "mlp";
  c.graph.inputs.push_back({"x", "float32", {-1, 12}});
  c.graph.ops = {op("linear", "f32", {"x"}, "a"), op("linear", "i8", {"a"}, "b"), op("linear", "i4", {"b"}, "c"),
                 op("linear", "sp", {"c"}, "d"), op("linear", "sp48", {"d"}, "y")};
  c.graph.outputs = {"y"};
  LayerContent f32 = layer("f32", "linear", random_tensor({10, 12}, 1));
  f32.extra["bias"] = random_tensor({10}, 2);
  LayerContent i8 = layer("i8", "linear", random_tensor({9, 10}, 3));
  i8.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  i8.input_act = ActScheme{ActMode::kStatic, 8, false, 0.05f, 120};
  i8.extra["bias"] = random_tensor({9}, 4);
  LayerContent i4 = layer("i4", "linear", random_tensor({8, 9}, 5));
  i4.weight_scheme = WeightScheme{4, Granularity::kGroup, 3, true};
  i4.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
  LayerContent sp = layer("sp", "linear", random_tensor({16, 8}, 6));
  prune_nm(sp.weight, 2, 4);
  sp.weight_scheme = WeightScheme{8, Granularity::kTensor, 0, true};
  sp.sparsity = "2:4";
  sp.input_act = ActScheme{ActMode::kStatic, 8, true, 0.03f, 0};
  LayerContent sp48 = layer("sp48", "linear", random_tensor({5, 16}, 7));
  prune_nm(sp48.weight, 4, 8);
  sp48.weight_scheme = WeightScheme{4, Granularity::kGroup, 8, true};
  sp48.sparsity = "4:8";
  c.layers = {f32, i8, i4, sp, sp48};
  Golden g;
  g.inputs["x"] = random_tensor({3, 12}, 8);
  g.outputs["y"] = random_tensor({3, 5}, 9);
  c.golden = {g};
  c.provenance["git_commit"] = "deadbeef";
  c.recipe_yaml = "recipe: test\n";
  c.metrics_json = R"({"top1": 0.5})";
  return c;
}

void mutate_h5(const std::string& path, const std::function<void(hid_t)>& f) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (file < 0) throw std::runtime_error("cannot open " + path + " for mutation");
  f(file);
  H5Fclose(file);
}

int64_t first_chunk_offset(const std::string& path, const std::string& ds) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(file, ds.c_str(), H5P_DEFAULT);
  hsize_t offset[8] = {0};
  unsigned mask = 0;
  haddr_t addr = 0;
  hsize_t size = 0;
  herr_t st = H5Dget_chunk_info_by_coord(d, offset, &mask, &addr, &size);
  H5Dclose(d);
  H5Fclose(file);
  if (st < 0) throw std::runtime_error("no chunk info for " + ds);
  return static_cast<int64_t>(addr);
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void set_string_attr(hid_t obj, const char* name, const std::string& value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, value.empty() ? 1 : value.size());
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  hid_t s = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  H5Awrite(a, t, buf.data());
  H5Aclose(a);
  H5Sclose(s);
  H5Tclose(t);
}

std::string get_string_attr(hid_t obj, const char* name) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t t = H5Aget_type(a);
  std::string buf(H5Tget_size(t), '\0');
  H5Aread(a, t, buf.data());
  H5Tclose(t);
  H5Aclose(a);
  return buf.substr(0, buf.find('\0'));
}

void set_int_attr(hid_t obj, const char* name, int64_t value) {
  hid_t s = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &value);
  H5Aclose(a);
  H5Sclose(s);
}

}  // namespace qf::test
