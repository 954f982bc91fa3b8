// The runtime side of the fp8_e4m3 feature: the FP8 kernels of every kernel table against plain
// loops over the OCP definition of E4M3 (computed here in double, exactly), and the reader's
// checks on fp8_e4m3 layers (feature listed, no NaN pattern, bits, granularity, the act scheme).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "core/error.h"
#include "core/fp8_quantize.h"
#include "core/sha256.h"
#include "runtime/checkpoint_reader.h"
#include "runtime/engine.h"
#include "runtime/kernels/kernels.h"
#include "runtime/validate.h"
#include "runtime/weight_prep.h"
#include "test_util.h"

namespace qf {
namespace {

double ocp(uint8_t b) {  // OCP E4M3 value, in double
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  const double mag = e == 0 ? (m / 8.0) * std::ldexp(1.0, -6) : (1.0 + m / 8.0) * std::ldexp(1.0, e - 7);
  return s ? -mag : mag;
}

uint8_t random_code(std::mt19937& g) {
  uint8_t b;
  do b = static_cast<uint8_t>(g() & 0xFF); while ((b & 0x7F) == 0x7F);
  return b;
}

// Awkward shapes: batch 1, odd K and N, K longer than any tile.
TEST(Fp8Kernels, GemmOfEveryTableIsTheExactSumRoundedOnceThenTheEpilogue) {
  std::mt19937 g(21);
  struct Shape { int64_t m, n, k; };
  for (const kernels::KernelTable* kt : kernels::available_kernel_tables()) {
    ASSERT_NE(kt->qf8_gemm, nullptr) << kt->name;
    for (const Shape sh : {Shape{1, 1, 1}, Shape{3, 5, 7}, Shape{2, 17, 33}, Shape{5, 3, 1000}}) {
      for (int stride : {0, 1}) {
        for (bool with_bias : {false, true}) {
          std::vector<uint8_t> x(static_cast<size_t>(sh.m * sh.k)), w(static_cast<size_t>(sh.n * sh.k));
          for (auto& b : x) b = random_code(g);
          for (auto& b : w) b = random_code(g);
          std::vector<float> sx(static_cast<size_t>(sh.m)), sw(static_cast<size_t>(sh.n)), bias(static_cast<size_t>(sh.n));
          for (auto& v : sx) v = 0.001f + static_cast<float>(g() % 1000) / 3e5f;
          for (auto& v : sw) v = 0.001f + static_cast<float>(g() % 1000) / 7e5f;
          for (auto& v : bias) v = static_cast<float>(static_cast<int>(g() % 2001) - 1000) / 997.0f;
          kernels::QWeights qw;
          qw.kind = kernels::QWeightKind::kFp8E4M3;
          qw.n = sh.n;
          qw.k = sh.k;
          qw.packed = w.data();
          qw.scales = sw.data();
          const kernels::QActs qa{x.data(), 0, sx.data(), stride};
          std::vector<float> y(static_cast<size_t>(sh.m * sh.n));
          kt->qf8_gemm(sh.m, qa, qw, with_bias ? bias.data() : nullptr, y.data());
          for (int64_t i = 0; i < sh.m; ++i)
            for (int64_t o = 0; o < sh.n; ++o) {
              double exact = 0;  // exact: multiples of 2^-18 below 2^28 in total
              for (int64_t k = 0; k < sh.k; ++k) exact += ocp(x[i * sh.k + k]) * ocp(w[o * sh.k + k]);
              float want = static_cast<float>(exact) * (sx[stride * i] * sw[o]);
              if (with_bias) want = want + bias[o];
              const float got = y[i * sh.n + o];
              ASSERT_EQ(std::memcmp(&want, &got, 4), 0)
                  << kt->name << " m" << sh.m << " n" << sh.n << " k" << sh.k << " at " << i << "," << o;
            }
          // A slice of rows is the same weight's rows.
          const kernels::QWeights half = qw.rows_slice(sh.n / 2, sh.n - sh.n / 2);
          std::vector<float> y2(static_cast<size_t>(sh.m * half.n));
          kt->qf8_gemm(sh.m, qa, half, nullptr, y2.data());
          if (!with_bias) {
            for (int64_t i = 0; i < sh.m; ++i) {
              for (int64_t o = 0; o < half.n; ++o) {
                ASSERT_EQ(y2[i * half.n + o], y[i * sh.n + sh.n / 2 + o]) << kt->name;
              }
            }
          }
        }
      }
    }
    // A NaN activation code gives NaN for its row only.
    const uint8_t x[4] = {0x38, 0x7F, 0x38, 0x38}, w[2] = {0x38, 0x38};
    const float s[2] = {1.0f, 1.0f};
    kernels::QWeights qw;
    qw.kind = kernels::QWeightKind::kFp8E4M3;
    qw.n = 1;
    qw.k = 2;
    qw.packed = w;
    qw.scales = s;
    float y[2];
    kt->qf8_gemm(2, kernels::QActs{x, 0, s, 1}, qw, nullptr, y);
    EXPECT_TRUE(std::isnan(y[0])) << kt->name;
    EXPECT_EQ(y[1], 2.0f) << kt->name;
  }
}

TEST(Fp8Kernels, ActivationQuantizersOfEveryTableFollowCore) {
  const std::vector<float> x = test::randn(3 * 37, 5, 40.0f);
  for (const kernels::KernelTable* kt : kernels::available_kernel_tables()) {
    std::vector<uint8_t> c(x.size());
    kt->quantize_e4m3(x.data(), static_cast<int64_t>(x.size()), 0.05f, c.data());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(c[i], fp32_to_e4m3(x[i] / 0.05f)) << kt->name;
    std::vector<float> s(3);
    kt->quantize_per_row_e4m3(x.data(), 3, 37, c.data(), s.data());
    for (int64_t r = 0; r < 3; ++r) {
      float amax = 0;
      for (int64_t k = 0; k < 37; ++k) amax = std::fmax(amax, std::fabs(x[r * 37 + k]));
      EXPECT_EQ(s[r], amax / 448.0f) << kt->name;
      for (int64_t k = 0; k < 37; ++k) ASSERT_EQ(c[r * 37 + k], fp32_to_e4m3(x[r * 37 + k] / s[r])) << kt->name;
    }
  }
}

// ---- the reader ----

CheckpointContent fp8_mlp(bool quantized_inputs) {
  CheckpointContent c;
  c.graph.family = "mlp";
  c.graph.inputs.push_back({"x", "float32", {-1, 12}});
  c.graph.ops = {test::op("linear", "fc1", {"x"}, "h1"), test::op("relu", "r1", {"h1"}, "a1"),
                 test::op("linear", "fc2", {"a1"}, "logits")};
  c.graph.outputs = {"logits"};
  LayerContent fc1 = test::layer("fc1", "linear", test::random_tensor({16, 12}, 1, 0.3f));
  fc1.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  fc1.weight_scheme->e4m3 = true;
  fc1.extra["bias"] = test::random_tensor({16}, 2, 0.1f);
  LayerContent fc2 = test::layer("fc2", "linear", test::random_tensor({10, 16}, 3, 0.3f));
  fc2.weight_scheme = WeightScheme{8, Granularity::kTensor, 0, true};
  fc2.weight_scheme->e4m3 = true;
  if (quantized_inputs) {
    fc1.input_act = ActScheme{ActMode::kStatic, 8, true, 0.01f, 0};
    fc1.input_act.e4m3 = true;
    fc2.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.0f, 0};
    fc2.input_act.e4m3 = true;
  }
  c.layers = {fc1, fc2};
  return c;
}

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
    test::set_string_attr(d, "sha256", sha256_hex(data.data(), data.size() * sizeof(T)));
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(s);
  });
}

std::string read_error(const std::string& path) {
  try {
    read_checkpoint(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Fp8Reader, RoundTripsBitPatternsScalesAndTheFeature) {
  const std::string path = test::temp_path("fp8_roundtrip");
  const CheckpointContent c = fp8_mlp(true);
  write_checkpoint(path, c);
  const Checkpoint ck = read_checkpoint(path);
  ASSERT_EQ(ck.required_features, std::vector<std::string>{"fp8_e4m3"});
  const LayerWeights& fc1 = ck.layers.at("fc1");
  EXPECT_EQ(fc1.format, WeightFormat::kFp8E4M3);
  EXPECT_EQ(fc1.bits, 8);
  EXPECT_TRUE(fc1.input_act.e4m3);
  EXPECT_EQ(fc1.input_act.mode, ActMode::kStatic);
  EXPECT_TRUE(ck.layers.at("fc2").input_act.e4m3);
  // The stored codes are core's of the float weight with scales amax / 448.
  std::vector<float> scales(16);
  std::vector<uint8_t> codes(16 * 12);
  quantize_e4m3_matrix(c.layers[0].weight.f32.data(), QuantLayout::make(16, 12, Granularity::kChannel), nullptr,
                       scales.data(), codes.data());
  EXPECT_EQ(fc1.packed, codes);
  EXPECT_EQ(fc1.scales, scales);
  // Dequantized: one float32 multiply per weight.
  const std::vector<float> w = dequantized_weight(fc1);
  for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(w[i], e4m3_to_fp32(codes[i]) * scales[i / 12]);
  std::remove(path.c_str());
}

TEST(Fp8Reader, RefusesWhatTheFormatForbids) {
  const std::string path = test::temp_path("fp8_refuse");
  auto fresh = [&] { write_checkpoint(path, fp8_mlp(true)); };
  fresh();
  test::mutate_h5(path, [](hid_t f) {
    H5Adelete(f, "required_features");
    test::set_string_attr(f, "required_features", "");
  });
  EXPECT_NE(read_error(path).find("uses fp8_e4m3 but the file does not list it"), std::string::npos) << read_error(path);
  fresh();
  std::vector<uint8_t> nan_codes(16 * 12, 0x38);
  nan_codes[37] = 0xFF;
  replace_dataset<uint8_t>(path, "layers/fc1/weight", H5T_NATIVE_UINT8, {16, 12}, nan_codes);
  EXPECT_NE(read_error(path).find("NaN pattern"), std::string::npos) << read_error(path);
  fresh();
  test::mutate_h5(path, [](hid_t f) {
    hid_t g = H5Gopen2(f, "layers/fc1", H5P_DEFAULT);
    H5Adelete(g, "bits");
    test::set_int_attr(g, "bits", 7);
    H5Gclose(g);
  });
  EXPECT_NE(read_error(path).find("fp8_e4m3 weight_format needs bits = 8"), std::string::npos) << read_error(path);
  fresh();
  test::mutate_h5(path, [](hid_t f) {
    hid_t g = H5Gopen2(f, "layers/fc1", H5P_DEFAULT);
    H5Adelete(g, "act_zero_point");
    test::set_int_attr(g, "act_zero_point", 3);
    H5Gclose(g);
  });
  EXPECT_NE(read_error(path).find("act_zero_point"), std::string::npos) << read_error(path);
  std::remove(path.c_str());
}

TEST(Fp8Reader, WriterRefusesGroupsAndIntegerInputs) {
  CheckpointContent c = fp8_mlp(false);
  c.layers[0].weight_scheme->granularity = Granularity::kGroup;
  c.layers[0].weight_scheme->group_size = 4;
  EXPECT_THROW(write_checkpoint(test::temp_path("fp8_bad"), c), Error);
  c = fp8_mlp(false);
  c.layers[0].input_act = ActScheme{ActMode::kStatic, 8, true, 0.01f, 0};  // integer inputs
  EXPECT_THROW(write_checkpoint(test::temp_path("fp8_bad"), c), Error);
}

// Weight-only FP8 runs the float GEMM with the exactly dequantized weight; with E4M3 inputs the
// FP8 GEMM. Both load and run through the engine.
TEST(Fp8Engine, RunsWeightOnlyAndW8A8) {
  for (bool q : {false, true}) {
    const std::string path = test::temp_path(q ? "fp8_w8a8" : "fp8_w8");
    write_checkpoint(path, fp8_mlp(q));
    Engine e = Engine::load(path);
    const std::map<std::string, Tensor> in = {{"x", test::random_tensor({3, 12}, 9)}};
    const auto out = e.run(in);
    ASSERT_EQ(out.at("logits").shape, (std::vector<int64_t>{3, 10}));
    for (float v : out.at("logits").f32) EXPECT_TRUE(std::isfinite(v));
    std::remove(path.c_str());
  }
}

// Behind a float reduction (a float fc1) the output is checked for agreement in units of one step of
// the coarsest activation format upstream: max|golden|/16 behind FP8 inputs, max|golden|/127 behind
// int8 inputs (FORMAT.md, "Validation"). A golden off by 3 int8 steps passes behind FP8 (a flipped
// E4M3 code moves about 8 times as far) and fails behind int8; 3 FP8 steps fail behind FP8.
TEST(Fp8Validate, OutputUnitIsOneStepOfTheCoarsestActivationFormatUpstream) {
  for (bool fp8 : {true, false}) {
    CheckpointContent c = fp8_mlp(true);
    c.layers[0].weight_scheme.reset();  // float fc1: a float reduction ahead of fc2's quantizer
    c.layers[0].input_act = ActScheme{};
    if (!fp8) {
      c.layers[1].weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
      c.layers[1].input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.0f, 0};
    }
    const std::string path = test::temp_path(fp8 ? "fp8_unit" : "int8_unit");
    Golden g;
    g.inputs = {{"x", test::random_tensor({6, 12}, 21)}};
    g.outputs = {{"logits", test::random_tensor({6, 10}, 22)}};  // replaced by the runtime's own below
    c.golden_reference = "contract";
    c.golden = {g};
    write_checkpoint(path, c);
    g.outputs = Engine::load(path).run(g.inputs);
    const Tensor& y = g.outputs.at("logits");
    double ymax = 0;
    for (float v : y.f32) ymax = std::max(ymax, std::fabs(static_cast<double>(v)));
    for (double off_int8_steps : {3.0, 3.0 * 127 / 16}) {
      Golden off = g;
      Tensor& o = off.outputs.at("logits");
      o.f32[0] += static_cast<float>(off_int8_steps * ymax / 127);  // row 0's argmax may move: allow it
      c.golden = {off};
      write_checkpoint(path, c);
      Engine e = Engine::load(path);
      ValidateOptions opt;
      opt.min_top1_agreement = 0.8;
      const ValidationReport rep = validate(e, opt);
      ASSERT_EQ(rep.checks.size(), 1u);
      EXPECT_FALSE(rep.checks[0].exact_required);
      EXPECT_EQ(rep.checks[0].unit_steps, fp8 ? 16.0 : 127.0);
      const bool within = fp8 && off_int8_steps == 3.0;
      EXPECT_EQ(rep.passed, within) << (fp8 ? "fp8 " : "int8 ") << off_int8_steps << " int8 steps: " << rep.summary();
    }
    std::remove(path.c_str());
  }
}

// A table whose FP8 GEMM is off the exact sum by a little (as FP8 tensor cores are), declaring
// a bound: validate holds FP8 layers to it instead of to the bits (FORMAT.md, "Validation"). The
// same GEMM in a table that declares no bound (an exact table) must fail on the bits.
void qf8_gemm_off_by_2p20(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias,
                          float* y) {
  kernels::ref_kernel_table().qf8_gemm(m, x, w, bias, y);
  for (int64_t i = 0; i < m * w.n; ++i) y[i] *= 1.0f + 0x1p-20f;
}

TEST(Fp8Validate, TensorCoreTablesAreHeldToTheirBoundNotToTheBits) {
  CheckpointContent c = fp8_mlp(true);  // both layers FP8 with E4M3 inputs: an integer-deterministic path
  const std::string path = test::temp_path("fp8_tc_bound");
  Golden g;
  g.inputs = {{"x", test::random_tensor({6, 12}, 31)}};
  g.outputs = {{"logits", test::random_tensor({6, 10}, 32)}};
  c.golden_reference = "contract";
  c.golden = {g};
  write_checkpoint(path, c);
  g.outputs = Engine::load(path, &kernels::ref_kernel_table()).run(g.inputs);  // the contract's bits
  c.golden = {g};
  write_checkpoint(path, c);

  kernels::KernelTable exact_off = kernels::ref_kernel_table();
  exact_off.qf8_gemm = qf8_gemm_off_by_2p20;
  kernels::KernelTable bounded = exact_off;
  bounded.qf8_gemm_rel_bound = kernels::kFp8TensorCoreRelBound;
  {
    Engine e = Engine::load(path, &kernels::ref_kernel_table());
    const ValidationReport rep = validate(e);
    EXPECT_TRUE(rep.passed) << rep.summary();
    EXPECT_TRUE(rep.checks.at(0).exact_required);
  }
  {
    Engine e = Engine::load(path, &exact_off);
    const ValidationReport rep = validate(e);
    EXPECT_FALSE(rep.passed) << "a GEMM off the contract's bits in a table that declares none must fail";
  }
  {
    Engine e = Engine::load(path, &bounded);
    const ValidationReport rep = validate(e);
    EXPECT_TRUE(rep.passed) << rep.summary();
    EXPECT_FALSE(rep.checks.at(0).exact_required);
  }
  const Checkpoint ck = read_checkpoint(path);
  for (const auto& kv : exact_tensors(ck)) EXPECT_TRUE(kv.second) << kv.first;
  EXPECT_FALSE(exact_tensors(ck, kernels::kFp8TensorCoreRelBound).at("logits"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace qf
