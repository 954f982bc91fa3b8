// The contract interpreter (export/contract_exec.h) on hand-built checkpoints whose shapes the
// zoo never produces (grouped, strided, padded conv; K groups that straddle conv channels; N:M
// with per-group scales; per-token rows): the runtime's reference kernels, reading the written
// file, must reproduce its outputs bit for bit, since every op here is exact.
#include <gtest/gtest.h>

#include <cmath>

#include "contract_checks.h"
#include "core/error.h"
#include "export/contract_exec.h"

namespace qf {
namespace {

LayerContent layer(const std::string& name, const std::string& kind, const torch::Tensor& w, const torch::Tensor& b) {
  LayerContent L;
  L.name = name;
  L.kind = kind;
  L.weight = exporter::to_qf(w);
  if (b.defined()) L.extra["bias"] = exporter::to_qf(b);
  return L;
}

// Zeroes the 2 smallest-magnitude weights of every 4 along K: a 2:4 pattern.
torch::Tensor prune_2_4(const torch::Tensor& w) {
  const torch::Tensor g = w.reshape({w.size(0), -1, 4});
  const torch::Tensor keep = g.abs().argsort(-1, /*descending=*/true).narrow(-1, 0, 2);
  return torch::zeros_like(g).scatter(-1, keep, g.gather(-1, keep)).reshape(w.sizes());
}

CheckpointContent hand_built() {
  torch::manual_seed(5);
  CheckpointContent c;
  Graph& g = c.graph;
  g.family = "cnn";
  g.inputs = {{"x", "float32", {-1, 4, 7, 7}}};
  auto add_op = [&](const std::string& kind, const std::string& name, const std::string& in) -> Op& {
    Op op;
    op.kind = kind;
    op.name = name;
    op.inputs = {in};
    op.outputs = {name};
    g.ops.push_back(op);
    return g.ops.back();
  };
  Op& conv = add_op("conv2d", "conv", "x");
  conv.ints = {{"kernel", {3, 3}}, {"stride", {2}}, {"padding", {1, 1}}, {"groups", {2}}};
  add_op("relu", "relu", "conv");
  add_op("flatten", "flatten", "relu").ints["start_dim"] = {1};
  add_op("linear", "fc", "flatten");
  add_op("linear", "head", "fc");
  g.outputs = {"head"};

  // conv: [6, 2, 3, 3], K = 18, int4 groups of 6 (a group straddles input channels), static
  // asymmetric uint8 input with a zero point far from 0, so the padding border matters.
  LayerContent L = layer("conv", "conv2d", torch::randn({6, 2, 3, 3}) * 0.3, torch::randn({6}) * 0.1);
  L.weight_scheme = WeightScheme{4, Granularity::kGroup, 6, true};
  L.input_act = ActScheme{ActMode::kStatic, 8, false, 0.021f, 97};
  c.layers.push_back(L);
  // fc: 6 * 4 * 4 = 96 -> 12, 2:4 sparse, int4 per group of 16, dynamic per-token input.
  L = layer("fc", "linear", prune_2_4(torch::randn({12, 96}) * 0.1), torch::randn({12}) * 0.1);
  L.weight_scheme = WeightScheme{4, Granularity::kGroup, 16, true};
  L.sparsity = "2:4";
  L.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.0f, 0};
  c.layers.push_back(L);
  // head: int8 per tensor, static symmetric 6-bit input, learned (given) scale, no bias.
  L = layer("head", "linear", torch::randn({5, 12}) * 0.2, torch::Tensor());
  L.weight_scheme = WeightScheme{8, Granularity::kTensor, 0, true};
  L.weight_scales = {0.0031f};
  L.input_act = ActScheme{ActMode::kStatic, 6, true, 0.09f, 0};
  c.layers.push_back(L);
  c.metrics_json = "[]";
  return c;
}

TEST(ContractExec, RuntimeReproducesHandBuiltGraphBitForBit) {
  CheckpointContent c = hand_built();
  Golden gc;
  gc.inputs["x"] = exporter::to_qf(torch::randn({3, 4, 7, 7}) * 2.0);
  exporter::ContractResult r = exporter::run_contract(c, gc.inputs);
  gc.outputs = r.outputs;
  gc.trace = r.trace;
  c.golden.push_back(gc);
  ASSERT_EQ(r.trace.size(), c.graph.ops.size());
  EXPECT_EQ(r.trace.at("conv").shape, (std::vector<int64_t>{3, 6, 4, 4}));

  const std::string path = test::temp_dir("contract_hand") + "/m.qf.h5";
  write_checkpoint(path, c);
  test::Exported e{c, Engine(Engine::load(path).checkpoint(), &kernels::ref_kernel_table())};
  EXPECT_EQ(e.engine.checkpoint().layers.at("fc").format, WeightFormat::kNMInt4);
  test::expect_runtime_reproduces_contract_exactly(e);
  // Not trivially equal: the outputs vary.
  EXPECT_GT(exporter::to_torch(r.outputs.at("head")).std().item<double>(), 1e-3);
}

// Per-token rows at core's edges: an all-zero row (scale 1, exact zero output without bias) and
// a row of denormals (scale clamped to kMinScale).
TEST(ContractExec, PerTokenEdgeRowsBitForBit) {
  torch::manual_seed(6);
  CheckpointContent c;
  c.graph.family = "mlp";
  c.graph.inputs = {{"x", "float32", {-1, 8}}};
  Op op;
  op.kind = "linear";
  op.name = "lin";
  op.inputs = {"x"};
  op.outputs = {"lin"};
  c.graph.ops = {op};
  c.graph.outputs = {"lin"};
  LayerContent L = layer("lin", "linear", torch::randn({3, 8}), torch::Tensor());
  L.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  L.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.0f, 0};
  c.layers = {L};
  c.metrics_json = "[]";
  torch::Tensor x = torch::randn({3, 8});
  x[0].zero_();
  x[2] = x[2].sign() * 1e-40;
  Golden gc;
  gc.inputs["x"] = exporter::to_qf(x);
  exporter::ContractResult r = exporter::run_contract(c, gc.inputs);
  gc.outputs = r.outputs;
  gc.trace = r.trace;
  c.golden.push_back(gc);
  const std::string path = test::temp_dir("contract_rows") + "/m.qf.h5";
  write_checkpoint(path, c);
  test::Exported e{c, Engine(Engine::load(path).checkpoint(), &kernels::ref_kernel_table())};
  test::expect_runtime_reproduces_contract_exactly(e);
  for (int i = 0; i < 3; ++i)  // row 0 (all zeros, no bias): +0.0 like the int32 accumulator's zero
    EXPECT_EQ(std::signbit(r.outputs.at("lin").f32[static_cast<size_t>(i)]), false);
}

TEST(ContractExec, ErrorsNameTheOp) {
  CheckpointContent c = hand_built();
  c.layers.erase(c.layers.begin() + 1);  // fc has no parameters any more
  const std::map<std::string, Tensor> in{{"x", exporter::to_qf(torch::zeros({1, 4, 7, 7}))}};
  try {
    exporter::run_contract(c, in);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fc'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qf
