// Writes the format's sample checkpoints into a directory, for readers written from
// export/FORMAT.md alone (tests/format/decode_qf.py): valid files of every weight format and op
// kind with contract golden outputs and traces, and files every conforming reader must refuse.
//
//   qforge_make_format_samples DIR   ->  DIR/valid_*.qf.h5, DIR/invalid_*.qf.h5
#include <hdf5.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "fixture_models.h"
#include "reference_model.h"
#include "core/graph_json.h"
#include "core/sha256.h"
#include "test_util.h"

namespace {

using namespace qf;

void write_with_golden(const std::string& path, CheckpointContent c, const std::map<std::string, Tensor>& in) {
  Golden g;
  g.inputs = in;
  g.outputs = test::reference_run(c, in, {}, &g.trace);
  c.golden = {g};
  c.golden_reference = "contract";
  write_checkpoint(path, c);
}

void replace_attr(const std::string& path, const std::string& object, const char* name, const std::string& value) {
  test::mutate_h5(path, [&](hid_t f) {
    hid_t o = H5Oopen(f, object.c_str(), H5P_DEFAULT);
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    test::set_string_attr(o, name, value);
    H5Oclose(o);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  write_with_golden(dir + "/valid_mlp.qf.h5", test::mlp(), {{"x", test::random_tensor({5, 12}, 300)}});
  write_with_golden(dir + "/valid_cnn.qf.h5", test::cnn(), {{"x", test::random_tensor({3, 2, 9, 8}, 301)}});
  write_with_golden(dir + "/valid_gpt.qf.h5", test::gpt(), test::ids_input(2, 7, 302));
  {
    // The rules random data rarely exercises: exact rounding ties (x / s = k + 1/2 with a
    // power-of-two scale), odd K (an int4 padding nibble), nm_int4 with M = 8, 6-bit int8 and
    // 3-bit int4 codes.
    CheckpointContent c;
    c.graph.family = "mlp";
    c.graph.inputs.push_back({"x", "float32", {-1, 13}});
    c.graph.ops = {test::op("linear", "odd", {"x"}, "a"), test::op("relu", "r", {"a"}, "b"),
                   test::op("linear", "nm48", {"b"}, "c"), test::op("linear", "six", {"c"}, "y")};
    c.graph.outputs = {"y"};
    LayerContent odd = test::layer("odd", "linear", test::random_tensor({16, 13}, 310, 0.3f));
    odd.weight_scheme = WeightScheme{3, Granularity::kChannel, 0, true};
    odd.input_act = ActScheme{ActMode::kStatic, 8, false, 1.0f / 64, 128};
    LayerContent nm = test::layer("nm48", "linear", test::random_tensor({8, 16}, 311, 0.3f));
    test::prune_nm(nm.weight, 4, 8);
    nm.weight_scheme = WeightScheme{4, Granularity::kGroup, 8, true};
    nm.sparsity = "4:8";
    nm.input_act = ActScheme{ActMode::kStatic, 8, true, 1.0f / 32, 0};
    LayerContent six = test::layer("six", "linear", test::random_tensor({5, 8}, 312, 0.3f));
    six.weight_scheme = WeightScheme{6, Granularity::kTensor, 0, true};
    six.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.0f, 0};
    six.extra["bias"] = test::random_tensor({5}, 313, 0.1f);
    c.layers = {odd, nm, six};
    std::vector<float> x = test::random_tensor({8, 13}, 314).f32;
    for (size_t i = 0; i < x.size(); ++i)  // on the 1/64 grid, every third value an exact tie
      x[i] = (std::round(x[i] * 64) + (i % 3 == 0 ? 0.5f : 0.0f)) / 64;
    write_with_golden(dir + "/valid_rules.qf.h5", c, {{"x", Tensor::floats({8, 13}, x)}});
  }
  // Refused: a required feature no reader implements yet.
  write_with_golden(dir + "/invalid_unknown_feature.qf.h5", test::mlp(), {{"x", test::random_tensor({2, 12}, 303)}});
  replace_attr(dir + "/invalid_unknown_feature.qf.h5", "/", "required_features", "weight_zero_point");
  // Refused: a digest that does not match the data.
  write_with_golden(dir + "/invalid_digest.qf.h5", test::mlp(), {{"x", test::random_tensor({2, 12}, 304)}});
  replace_attr(dir + "/invalid_digest.qf.h5", "/layers/fc1/weight", "sha256", std::string(64, '0'));
  // Refused: an op attribute the format does not define (dilation would change the conv).
  {
    CheckpointContent c = test::cnn();
    write_with_golden(dir + "/invalid_unknown_attribute.qf.h5", c, {{"x", test::random_tensor({1, 2, 9, 8}, 305)}});
    test::mutate_h5(dir + "/invalid_unknown_attribute.qf.h5", [&](hid_t f) {
      c.graph.ops[0].ints["dilation"] = {2};
      const std::string text = qf::graph_to_json_string(c.graph);
      H5Ldelete(f, "graph", H5P_DEFAULT);
      const hsize_t n = text.size();
      hid_t sp = H5Screate_simple(1, &n, nullptr);
      hid_t pl = H5Pcreate(H5P_DATASET_CREATE);  // chunked + fletcher32 like every dataset the writer makes
      H5Pset_chunk(pl, 1, &n);
      H5Pset_fletcher32(pl);
      hid_t d = H5Dcreate2(f, "graph", H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
      H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data());
      test::set_string_attr(d, "sha256", sha256_hex(text.data(), text.size()));
      H5Dclose(d);
      H5Pclose(pl);
      H5Sclose(sp);
    });
  }
  std::printf("wrote format samples to %s\n", dir.c_str());
  return 0;
}
