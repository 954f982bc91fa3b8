#include <gtest/gtest.h>

#include <set>

#include "train/models.h"

namespace qf::train {
namespace {

ModelSpec spec(const std::string& family) {
  ModelSpec s;
  s.family = family;
  s.channels = {4, 8};
  s.cnn_hidden = 16;
  s.mlp_hidden = {32, 16};
  s.layers = 2;
  s.heads = 2;
  s.dim = 16;
  s.context = 12;
  return s;
}

TEST(Models, ForwardShapes) {
  InputShape in;
  EXPECT_EQ(make_model(spec("mlp"), in)->forward(torch::randn({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(make_model(spec("cnn"), in)->forward(torch::randn({1, 1, 28, 28})).sizes(), (std::vector<int64_t>{1, 10}));
  auto gpt = make_model(spec("gpt"), in);
  EXPECT_EQ(gpt->forward(torch::randint(0, 256, {2, 12})).sizes(), (std::vector<int64_t>{2, 12, 256}));
  EXPECT_THROW(gpt->forward(torch::randint(0, 256, {1, 13})), std::invalid_argument);
}

// The graph lists exactly the quantizable layers by their stable names, plus float ops between.
TEST(Models, GraphNamesTheQuantizableLayers) {
  for (const char* family : {"mlp", "cnn", "gpt"}) {
    auto model = make_model(spec(family), InputShape{});
    const Graph g = model->describe();
    std::set<std::string> layer_ops, op_names;
    for (const auto& op : g.ops) {
      EXPECT_TRUE(op_names.insert(op.name).second) << "duplicate op name " << op.name;
      if (op.kind == "linear" || op.kind == "conv2d" || op.kind == "embedding") layer_ops.insert(op.name);
    }
    std::set<std::string> layers;
    for (auto& l : model->layers()) layers.insert(l->layer_name());
    EXPECT_EQ(layer_ops, layers) << family;
    EXPECT_EQ(g.outputs.size(), 1u);
  }
  auto gpt = make_model(spec("gpt"), InputShape{});
  EXPECT_TRUE(gpt->layers().size() == 1 + 2 * 4 + 1);  // tok_emb, 4 per block, lm_head
  EXPECT_EQ(gpt->layers()[1]->layer_name(), "blocks.0.attn.qkv");
}

// Conv+BN in eval mode is the folded conv; in train mode with live BN it normalises by batch.
TEST(Models, ConvBnEvalEqualsConvThenBatchNorm) {
  torch::manual_seed(0);
  ConvBn2d layer("c", 3, 5, 3, 1, 1);
  // Give BN non-trivial statistics and affine parameters.
  layer->train();
  for (int i = 0; i < 5; ++i) layer->forward(torch::randn({8, 3, 6, 6}) * 2 + 1);
  {
    torch::NoGradGuard g;
    layer->bn->weight.uniform_(0.5, 1.5);
    layer->bn->bias.uniform_(-0.5, 0.5);
  }
  layer->eval();
  const torch::Tensor x = torch::randn({2, 3, 6, 6});
  const torch::Tensor folded = layer->forward(x);
  const torch::Tensor reference = layer->bn->forward(layer->conv->forward(x));
  EXPECT_TRUE(torch::allclose(folded, reference, 1e-5, 1e-5)) << (folded - reference).abs().max();
}

}  // namespace
}  // namespace qf::train
