// Writes the format's sample checkpoints into a directory, for readers written from
// export/FORMAT.md alone (tests/format/decode_qf.py): valid files of every weight format and op
// kind with contract golden outputs and traces, and files every conforming reader must refuse.
//
//   qforge_make_format_samples DIR   ->  DIR/valid_*.qf.h5, DIR/invalid_*.qf.h5
#include <hdf5.h>

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
  // Refused: a required feature no reader implements yet.
  write_with_golden(dir + "/invalid_unknown_feature.qf.h5", test::mlp(), {{"x", test::random_tensor({2, 12}, 303)}});
  replace_attr(dir + "/invalid_unknown_feature.qf.h5", "/", "required_features", "fp8_e4m3");
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
      hid_t d = H5Dcreate2(f, "graph", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data());
      test::set_string_attr(d, "sha256", sha256_hex(text.data(), text.size()));
      H5Dclose(d);
      H5Sclose(sp);
    });
  }
  std::printf("wrote format samples to %s\n", dir.c_str());
  return 0;
}
