// The exporter measures the contract (computed from what it stores) against the trained model's
// own forward, and refuses to write a checkpoint that does not describe the model.
#include <gtest/gtest.h>

#include "../train/train_with_modifiers.h"
#include "core/error.h"
#include "export/from_torch.h"

namespace qf {
namespace {

// A broken weight quantizer: its forward leaves the weight float, but it tells the exporter the
// weight is int4 with scales 100x too small (every code clamps to +-7). The exported parameters
// then describe another model than the one that was trained.
struct ScaleMisreportingQuantizer : train::WeightQuantizerHook {
  torch::Tensor forward(const torch::Tensor& w) override { return w; }
  WeightScheme weight_scheme() const override { return {4, Granularity::kChannel, 0, true}; }
  torch::Tensor weight_scales(const torch::Tensor& w) override {
    return w.reshape({w.size(0), -1}).abs().amax(1) / 7.0 / 100.0;
  }
};

TEST(ContractAgreement, ExportRecordsAgreementWithTheModel) {
  auto t = test::train_with_modifiers(test::small_fashion_recipe("{family: mlp, hidden: [32]}", 1, 256), "ca_ok");
  const CheckpointContent c = exporter::checkpoint_from_model(t->model(), t->task(), t->recipe(), {});
  // Float weights: the contract is the same float math, so they agree on every row.
  EXPECT_EQ(std::stod(c.provenance.at("contract_vs_model_top1")), 1.0);
  EXPECT_GE(std::stod(c.provenance.at("contract_vs_model_max_diff_units")), 0.0);
  // The full golden batch, then a small traced case (ExportOptions::trace_examples).
  ASSERT_EQ(c.golden.size(), 2u);
  EXPECT_TRUE(c.golden[0].trace.empty());
  EXPECT_EQ(c.golden[1].inputs.at("image").shape.at(0), exporter::ExportOptions{}.trace_examples);
  EXPECT_EQ(c.golden[1].trace.size(), c.graph.ops.size());
  EXPECT_EQ(c.golden[1].model_outputs.size(), 1u);
}

TEST(ContractAgreement, ExportFailsWhenTheContractDoesNotDescribeTheModel) {
  auto t = test::train_with_modifiers(test::small_fashion_recipe("{family: mlp, hidden: [32]}", 1, 256), "ca_bad");
  for (auto& layer : t->model().layers()) layer->set_hook(train::HookSlot::kWeightQuant, std::make_shared<ScaleMisreportingQuantizer>());
  try {
    exporter::checkpoint_from_model(t->model(), t->task(), t->recipe(), {});
    FAIL() << "export accepted parameters that do not describe the trained model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("would not describe the trained model"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace qf
