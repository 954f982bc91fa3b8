// Helpers for the contract-golden suites: export a trained model, load it in the runtime, and run
// the runtime on whole graphs (every intermediate tensor as an output) or on single ops.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "../train/test_support.h"
#include "export/from_torch.h"
#include "runtime/engine.h"
#include "train/trainer.h"

namespace qf::test {

struct Exported {
  CheckpointContent content;  // what the exporter produced (golden outputs = the contract)
  Engine engine;              // the runtime on the written file (reference kernels)
};

inline Exported export_and_load(train::Trainer& t, const std::string& tag) {
  const std::string path = temp_dir(tag) + "/model.qf.h5";
  CheckpointContent content = exporter::checkpoint_from_model(t.model(), t.task(), t.recipe(), {});
  write_checkpoint(path, content);
  return {std::move(content), Engine(Engine::load(path).checkpoint(), &kernels::ref_kernel_table())};
}

// The golden case that carries a trace (the exporter puts one in every checkpoint by default).
inline const Golden& traced_case(const CheckpointContent& c) {
  for (const Golden& g : c.golden)
    if (!g.trace.empty()) return g;
  throw std::runtime_error("no golden case with a trace");
}

// The same checkpoint whose graph outputs are every op output, so one run shows every tensor.
inline Engine engine_with_every_output(const Checkpoint& ck) {
  Checkpoint all = ck;
  all.graph.outputs.clear();
  for (const Op& op : all.graph.ops) all.graph.outputs.push_back(op.outputs.at(0));
  return Engine(std::move(all), &kernels::ref_kernel_table());
}

// A one-op checkpoint: `op` alone, its inputs made graph inputs of the shapes given.
inline Engine one_op_engine(const Checkpoint& ck, const Op& op, const std::map<std::string, Tensor>& inputs) {
  Checkpoint one = ck;
  one.graph.inputs.clear();
  for (const std::string& name : op.inputs) {
    const Tensor& t = inputs.at(name);
    one.graph.inputs.push_back({name, dtype_name(t.dtype), t.shape});
  }
  one.graph.ops = {op};
  one.graph.outputs = {op.outputs.at(0)};
  return Engine(std::move(one), &kernels::ref_kernel_table());
}

// Number of elements whose float32 bit patterns differ (shapes must match; NaN == NaN bitwise).
inline int64_t bit_mismatches(const Tensor& a, const Tensor& b) {
  if (a.shape != b.shape || a.f32.size() != b.f32.size()) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < a.f32.size(); ++i) n += std::memcmp(&a.f32[i], &b.f32[i], sizeof(float)) != 0;
  return n;
}

// Asserts that the runtime reproduces the contract bit for bit on every golden case, and, on the
// traced case, every intermediate tensor (all ops of these graphs are exact).
inline void expect_runtime_reproduces_contract_exactly(Exported& e) {
  const Graph& g = e.content.graph;
  for (size_t i = 0; i < e.content.golden.size(); ++i) {
    const Golden& gc = e.content.golden[i];
    const auto got = e.engine.run(gc.inputs);
    for (const auto& [name, want] : gc.outputs)
      EXPECT_EQ(bit_mismatches(got.at(name), want), 0) << "case " << i << " output " << name;
  }
  const Golden& traced = traced_case(e.content);
  Engine all = engine_with_every_output(e.engine.checkpoint());
  const auto got = all.run(traced.inputs);
  ASSERT_EQ(traced.trace.size(), g.ops.size());
  for (const Op& op : g.ops) {
    const std::string& t = op.outputs.at(0);
    EXPECT_EQ(bit_mismatches(got.at(t), traced.trace.at(t)), 0) << "tensor " << t << " (" << op.kind << ")";
  }
}

// The exporter measured the contract against the trained model's own forward.
inline void expect_contract_describes_model(const CheckpointContent& c) {
  const double top1 = std::stod(c.provenance.at("contract_vs_model_top1"));
  EXPECT_GE(top1, 0.99);
  EXPECT_FALSE(c.golden.at(0).model_outputs.empty());
  // The model's outputs are stored separately, and they are not the contract's (float order).
  const std::string& out = c.graph.outputs.at(0);
  EXPECT_EQ(c.golden.at(0).model_outputs.at(out).shape, c.golden.at(0).outputs.at(out).shape);
  std::printf("contract vs model: top-1 %s, max diff %s units\n", c.provenance.at("contract_vs_model_top1").c_str(),
              c.provenance.at("contract_vs_model_max_diff_units").c_str());
}

}  // namespace qf::test
