#include "fixture_models.h"

#include "test_util.h"

namespace qf::test {

Op with_ints(Op o, std::map<std::string, std::vector<int64_t>> ints) {
  o.ints = std::move(ints);
  return o;
}

CheckpointContent mlp() {
  CheckpointContent c;
  c.graph.family = "mlp";
  c.graph.inputs.push_back({"x", "float32", {-1, 12}});
  c.graph.ops = {op("linear", "fc1", {"x"}, "h1"), op("relu", "r1", {"h1"}, "a1"), op("linear", "fc2", {"a1"}, "h2"),
                 op("relu", "r2", {"h2"}, "a2"), op("linear", "fc3", {"a2"}, "logits")};
  c.graph.outputs = {"logits"};
  LayerContent fc1 = layer("fc1", "linear", random_tensor({16, 12}, 1, 0.3f));
  fc1.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  fc1.input_act = ActScheme{ActMode::kStatic, 8, false, 4.0f / 255, 128};
  fc1.extra["bias"] = random_tensor({16}, 2, 0.1f);
  LayerContent fc2 = layer("fc2", "linear", random_tensor({12, 16}, 3, 0.3f));
  fc2.weight_scheme = WeightScheme{4, Granularity::kGroup, 4, true};
  fc2.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
  LayerContent fc3 = layer("fc3", "linear", random_tensor({10, 12}, 4, 0.3f));
  test::prune_nm(fc3.weight, 2, 4);
  fc3.weight_scheme = WeightScheme{8, Granularity::kTensor, 0, true};
  fc3.sparsity = "2:4";
  fc3.input_act = ActScheme{ActMode::kStatic, 8, false, 3.0f / 255, 0};
  fc3.extra["bias"] = random_tensor({10}, 5, 0.1f);
  c.layers = {fc1, fc2, fc3};
  return c;
}

CheckpointContent shared_input_mlp() {
  CheckpointContent c;
  c.graph.family = "mlp";
  c.graph.inputs.push_back({"x", "float32", {-1, 12}});
  c.graph.ops = {op("linear", "q", {"x"}, "hq"),    op("linear", "k", {"x"}, "hk"),
                 op("linear", "v", {"x"}, "hv"),    op("linear", "g", {"x"}, "hg"),
                 op("add", "s1", {"hq", "hk"}, "a1"), op("add", "s2", {"a1", "hv"}, "a2"),
                 op("add", "s3", {"a2", "hg"}, "a3"), op("linear", "o", {"a3"}, "y")};
  c.graph.outputs = {"y"};
  const ActScheme per_token{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
  LayerContent q = layer("q", "linear", random_tensor({10, 12}, 41, 0.3f));
  q.weight_scheme = WeightScheme{4, Granularity::kGroup, 4, true};
  q.input_act = per_token;
  LayerContent k = layer("k", "linear", random_tensor({10, 12}, 42, 0.3f));
  k.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  k.input_act = per_token;
  k.extra["bias"] = random_tensor({10}, 43, 0.1f);
  LayerContent v = layer("v", "linear", random_tensor({10, 12}, 44, 0.3f));
  v.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  v.input_act = ActScheme{ActMode::kStatic, 8, false, 4.0f / 255, 128};
  LayerContent g = layer("g", "linear", random_tensor({10, 12}, 45, 0.3f));
  test::prune_nm(g.weight, 2, 4);
  g.weight_scheme = WeightScheme{8, Granularity::kTensor, 0, true};
  g.sparsity = "2:4";
  g.input_act = per_token;
  LayerContent o = layer("o", "linear", random_tensor({6, 10}, 46, 0.3f));
  o.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  o.input_act = per_token;
  c.layers = {q, k, v, g, o};
  return c;
}

CheckpointContent cnn() {
  CheckpointContent c;
  c.graph.family = "cnn";
  c.graph.inputs.push_back({"x", "float32", {-1, 2, 9, 8}});
  c.graph.ops = {with_ints(op("conv2d", "conv1", {"x"}, "c1"), {{"kernel", {3, 3}}, {"padding", {1, 1}}}),
                 op("relu", "r1", {"c1"}, "a1"),
                 with_ints(op("maxpool2d", "p1", {"a1"}, "m1"), {{"kernel", {2}}, {"stride", {2}}}),
                 with_ints(op("conv2d", "conv2", {"m1"}, "c2"),
                           {{"kernel", {3, 2}}, {"stride", {1, 2}}, {"padding", {1, 0}}, {"groups", {2}}}),
                 op("relu", "r2", {"c2"}, "a2"),
                 with_ints(op("avgpool2d", "p2", {"a2"}, "m2"), {{"kernel", {3}}, {"stride", {1}}, {"padding", {1}}}),
                 op("flatten", "flat", {"m2"}, "f"), op("linear", "fc", {"f"}, "logits")};
  c.graph.outputs = {"logits"};
  LayerContent conv1 = layer("conv1", "conv2d", random_tensor({4, 2, 3, 3}, 11, 0.3f));
  conv1.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  conv1.input_act = ActScheme{ActMode::kStatic, 8, false, 6.0f / 255, 100};
  conv1.extra["bias"] = random_tensor({4}, 12, 0.1f);
  LayerContent conv2 = layer("conv2", "conv2d", random_tensor({6, 2, 3, 2}, 13, 0.3f));  // K = 12
  conv2.weight_scheme = WeightScheme{4, Granularity::kGroup, 6, true};
  conv2.input_act = ActScheme{ActMode::kStatic, 8, true, 3.0f / 127, 0};
  // conv1 out: [4, 9, 8] -> pool -> [4, 4, 4] -> conv2 -> [6, 4, 2] -> avgpool -> [6, 4, 2] -> 48
  LayerContent fc = layer("fc", "linear", random_tensor({5, 48}, 14, 0.2f));
  fc.extra["bias"] = random_tensor({5}, 15, 0.1f);
  c.layers = {conv1, conv2, fc};
  return c;
}

// The deployed CNN's shape in miniature, integer end to end: conv -> relu -> maxpool -> conv
// (int4 + 2:4, so the channels-last hand-off decodes N:M codes) -> relu -> maxpool -> flatten ->
// linear -> relu -> linear. The runtime fuses the relu / pool / flatten chains into the convs
// and hands conv1's output to conv2 as channels-last codes; a third conv (stride 2, asymmetric
// padding, int8 per tensor, symmetric input) takes the hand-off with s8 codes.
CheckpointContent cnn_chain() {
  CheckpointContent c;
  c.graph.family = "cnn";
  c.graph.inputs.push_back({"x", "float32", {-1, 1, 10, 11}});
  c.graph.ops = {with_ints(op("conv2d", "conv1", {"x"}, "c1"), {{"kernel", {3, 3}}, {"padding", {1, 1}}}),
                 op("relu", "r1", {"c1"}, "a1"),
                 with_ints(op("maxpool2d", "p1", {"a1"}, "m1"), {{"kernel", {2}}, {"stride", {2}}}),
                 with_ints(op("conv2d", "conv2", {"m1"}, "c2"), {{"kernel", {3, 3}}, {"padding", {1, 1}}}),
                 op("relu", "r2", {"c2"}, "a2"),
                 with_ints(op("conv2d", "conv3", {"a2"}, "c3"), {{"kernel", {3, 2}}, {"stride", {2, 1}}, {"padding", {1, 0}}}),
                 with_ints(op("maxpool2d", "p3", {"c3"}, "m3"), {{"kernel", {2}}, {"stride", {1}}}),
                 op("relu", "r3", {"m3"}, "a3"),
                 op("flatten", "flat", {"a3"}, "f"),
                 op("linear", "fc", {"f"}, "h"),
                 op("relu", "r4", {"h"}, "a4"),
                 op("linear", "head", {"a4"}, "logits")};
  c.graph.outputs = {"logits"};
  // x [1, 10, 11] -> conv1 [8, 10, 11] -> pool [8, 5, 5] -> conv2 [16, 5, 5] -> conv3 [12, 3, 4]
  // -> pool (stride 1) [12, 2, 3] -> 72
  LayerContent conv1 = layer("conv1", "conv2d", random_tensor({8, 1, 3, 3}, 21, 0.5f));
  conv1.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  conv1.input_act = ActScheme{ActMode::kStatic, 8, false, 6.0f / 255, 73};
  conv1.extra["bias"] = random_tensor({8}, 22, 0.1f);
  LayerContent conv2 = layer("conv2", "conv2d", random_tensor({16, 8, 3, 3}, 23, 0.3f));  // K = 72
  test::prune_nm(conv2.weight, 2, 4);
  conv2.weight_scheme = WeightScheme{4, Granularity::kChannel, 0, true};
  conv2.sparsity = "2:4";
  conv2.input_act = ActScheme{ActMode::kStatic, 8, false, 2.0f / 255, 0};
  conv2.extra["bias"] = random_tensor({16}, 24, 0.1f);
  LayerContent conv3 = layer("conv3", "conv2d", random_tensor({12, 16, 3, 2}, 25, 0.2f));
  conv3.weight_scheme = WeightScheme{8, Granularity::kTensor, 0, true};
  conv3.input_act = ActScheme{ActMode::kStatic, 8, true, 3.0f / 127, 0};
  LayerContent fc = layer("fc", "linear", random_tensor({20, 72}, 26, 0.2f));
  fc.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  fc.input_act = ActScheme{ActMode::kStatic, 8, false, 4.0f / 255, 0};
  fc.extra["bias"] = random_tensor({20}, 27, 0.1f);
  LayerContent head = layer("head", "linear", random_tensor({7, 20}, 28, 0.3f));
  head.weight_scheme = WeightScheme{4, Granularity::kChannel, 0, true};
  head.input_act = ActScheme{ActMode::kStatic, 8, false, 3.0f / 255, 0};
  c.layers = {conv1, conv2, conv3, fc, head};
  return c;
}

// The Fashion CNN's shape of chain, where the fused conv + relu + 2x2 pool kernel applies:
// x [1, 24, 26] -> conv1 [8, 24, 26] -> pool [8, 12, 13] -> conv2 [16, 12, 13] -> pool [16, 6, 6]
// -> conv3 [8, 6, 6] (no pool) -> conv4 [12, 6, 6] -> pool [12, 3, 3] -> 108. conv2 and conv4
// read their input codes in place from padded images (implicit GEMM), written by a fused
// producer (conv1) and by an unfused one (conv3); conv2 takes s8 codes, conv4 u8 with a zero
// point; conv4 hands fc its input codes channels-last (K permuted over 9 pixels x 12 channels).
CheckpointContent cnn_pool_chain() {
  CheckpointContent c;
  c.graph.family = "cnn";
  c.graph.inputs.push_back({"x", "float32", {-1, 1, 24, 26}});
  auto conv = [](const char* name, const char* in, const char* out) {
    return with_ints(op("conv2d", name, {in}, out), {{"kernel", {3, 3}}, {"padding", {1, 1}}});
  };
  auto pool = [](const char* name, const char* in, const char* out) {
    return with_ints(op("maxpool2d", name, {in}, out), {{"kernel", {2}}, {"stride", {2}}});
  };
  c.graph.ops = {conv("conv1", "x", "c1"),   op("relu", "r1", {"c1"}, "a1"),  pool("p1", "a1", "m1"),
                 conv("conv2", "m1", "c2"),  op("relu", "r2", {"c2"}, "a2"),  pool("p2", "a2", "m2"),
                 conv("conv3", "m2", "c3"),  op("relu", "r3", {"c3"}, "a3"),  conv("conv4", "a3", "c4"),
                 op("relu", "r4", {"c4"}, "a4"), pool("p4", "a4", "m4"),      op("flatten", "flat", {"m4"}, "f"),
                 op("linear", "fc", {"f"}, "h"),  op("relu", "r5", {"h"}, "a5"), op("linear", "head", {"a5"}, "logits")};
  c.graph.outputs = {"logits"};
  LayerContent conv1 = layer("conv1", "conv2d", random_tensor({8, 1, 3, 3}, 41, 0.5f));
  conv1.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  conv1.input_act = ActScheme{ActMode::kStatic, 8, false, 6.0f / 255, 73};
  conv1.extra["bias"] = random_tensor({8}, 42, 0.1f);
  LayerContent conv2 = layer("conv2", "conv2d", random_tensor({16, 8, 3, 3}, 43, 0.3f));  // K = 72
  conv2.weight_scheme = WeightScheme{4, Granularity::kChannel, 0, true};
  conv2.input_act = ActScheme{ActMode::kStatic, 8, true, 2.0f / 127, 0};
  conv2.extra["bias"] = random_tensor({16}, 44, 0.1f);
  LayerContent conv3 = layer("conv3", "conv2d", random_tensor({8, 16, 3, 3}, 45, 0.2f));
  conv3.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  conv3.input_act = ActScheme{ActMode::kStatic, 8, false, 3.0f / 255, 0};
  LayerContent conv4 = layer("conv4", "conv2d", random_tensor({12, 8, 3, 3}, 46, 0.3f));
  conv4.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  conv4.input_act = ActScheme{ActMode::kStatic, 8, false, 2.0f / 255, 100};
  conv4.extra["bias"] = random_tensor({12}, 47, 0.2f);
  LayerContent fc = layer("fc", "linear", random_tensor({10, 108}, 48, 0.1f));
  fc.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  fc.input_act = ActScheme{ActMode::kStatic, 8, false, 4.0f / 255, 0};
  LayerContent head = layer("head", "linear", random_tensor({5, 10}, 49, 0.3f));
  head.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  head.input_act = ActScheme{ActMode::kStatic, 8, false, 3.0f / 255, 0};
  c.layers = {conv1, conv2, conv3, conv4, fc, head};
  return c;
}

// embedding -> positional -> [ln -> qkv -> attention -> proj -> add] -> [ln -> fc -> gelu -> fc -> add] -> ln -> head
CheckpointContent gpt() {
  const int64_t v = 11, d = 8, tmax = 16;
  CheckpointContent c;
  c.graph.family = "gpt";
  c.graph.inputs.push_back({"ids", "int64", {-1, -1}});
  Op ln1 = op("layernorm", "ln1", {"h0"}, "n1");
  ln1.floats["eps"] = 1e-5;
  c.graph.ops = {op("embedding", "tok", {"ids"}, "e"),
                 op("positional_embedding", "pos", {"e"}, "h0"),
                 ln1,
                 op("linear", "qkv", {"n1"}, "qkv_out"),
                 with_ints(op("causal_attention", "attn", {"qkv_out"}, "att"), {{"heads", {2}}}),
                 op("linear", "proj", {"att"}, "pr"),
                 op("add", "res1", {"h0", "pr"}, "h1"),
                 op("layernorm", "ln2", {"h1"}, "n2"),
                 op("linear", "fc1", {"n2"}, "f1"),
                 op("gelu", "act", {"f1"}, "g"),
                 op("linear", "fc2", {"g"}, "f2"),
                 op("add", "res2", {"h1", "f2"}, "h2"),
                 op("layernorm", "lnf", {"h2"}, "nf"),
                 op("linear", "head", {"nf"}, "logits")};
  c.graph.outputs = {"logits"};
  LayerContent tok = layer("tok", "embedding", random_tensor({v, d}, 21));
  tok.weight_scheme = WeightScheme{4, Granularity::kChannel, 0, true};
  LayerContent pos = layer("pos", "positional_embedding", random_tensor({tmax, d}, 22, 0.1f));
  auto ln = [&](const std::string& name, unsigned seed) {
    LayerContent L = layer(name, "layernorm", random_tensor({d}, seed, 0.1f));
    for (float& g : L.weight.f32) g += 1.f;
    L.extra["bias"] = random_tensor({d}, seed + 1, 0.1f);
    return L;
  };
  LayerContent qkv = layer("qkv", "linear", random_tensor({3 * d, d}, 23, 0.4f));
  qkv.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  qkv.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
  qkv.extra["bias"] = random_tensor({3 * d}, 24, 0.1f);
  LayerContent proj = layer("proj", "linear", random_tensor({d, d}, 25, 0.3f));
  proj.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  proj.input_act = ActScheme{ActMode::kStatic, 8, false, 4.0f / 255, 128};
  LayerContent fc1 = layer("fc1", "linear", random_tensor({16, d}, 26, 0.3f));
  test::prune_nm(fc1.weight, 2, 4);
  fc1.weight_scheme = WeightScheme{8, Granularity::kGroup, 4, true};
  fc1.sparsity = "2:4";
  fc1.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
  LayerContent fc2 = layer("fc2", "linear", random_tensor({d, 16}, 27, 0.3f));
  fc2.weight_scheme = WeightScheme{4, Granularity::kGroup, 8, true};  // weight-only (act none)
  LayerContent head = layer("head", "linear", random_tensor({v, d}, 28, 0.3f));
  c.layers = {tok, pos, ln("ln1", 30), qkv, proj, ln("ln2", 32), fc1, fc2, ln("lnf", 34), head};
  return c;
}

// Zeroes the blocks of w viewed as [O, K] whose (R + C) % 3 == 1 (and block row `zero_row`
// entirely when >= 0): a block pattern with partial edge blocks.
namespace {
void prune_blocks(Tensor& w, int br, int bc, int64_t zero_row = -1) {
  const int64_t o = w.shape[0], k = w.numel() / o;
  for (int64_t r = 0; r < o; ++r)
    for (int64_t kk = 0; kk < k; ++kk)
      if ((r / br + kk / bc) % 3 == 1 || r / br == zero_row) w.f32[static_cast<size_t>(r * k + kk)] = 0.0f;
}

}  // namespace

// A tiny model with block-sparse layers: linear 8-bit 32x32 with partial edge blocks and an empty
// block row, linear 4-bit per group 16x16, a conv2d with 8x8 blocks (int4, channels-last hand-off
// from the first conv decodes its blocks), and a dense head.
CheckpointContent block_sparse_cnn() {
  CheckpointContent c;
  c.graph.family = "cnn";
  c.graph.inputs.push_back({"x", "float32", {-1, 2, 6, 6}});
  c.graph.ops = {with_ints(op("conv2d", "conv1", {"x"}, "c1"), {{"kernel", {3, 3}}, {"padding", {1, 1}}}),
                 op("relu", "r1", {"c1"}, "a1"),
                 with_ints(op("conv2d", "conv2", {"a1"}, "c2"), {{"kernel", {3, 3}}, {"padding", {1, 1}}}),
                 op("relu", "r2", {"c2"}, "a2"),
                 op("flatten", "flat", {"a2"}, "f"),
                 op("linear", "fc1", {"f"}, "h1"),
                 op("relu", "r3", {"h1"}, "a3"),
                 op("linear", "fc2", {"a3"}, "h2"),
                 op("relu", "r4", {"h2"}, "a4"),
                 op("linear", "head", {"a4"}, "logits")};
  c.graph.outputs = {"logits"};
  LayerContent conv1 = layer("conv1", "conv2d", random_tensor({8, 2, 3, 3}, 41, 0.4f));
  conv1.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  conv1.input_act = ActScheme{ActMode::kStatic, 8, false, 6.0f / 255, 90};
  conv1.extra["bias"] = random_tensor({8}, 42, 0.1f);
  LayerContent conv2 = layer("conv2", "conv2d", random_tensor({16, 8, 3, 3}, 43, 0.3f));  // K = 72
  prune_blocks(conv2.weight, 8, 8);
  conv2.weight_scheme = WeightScheme{4, Granularity::kChannel, 0, true};
  conv2.sparsity = "block:8x8";
  conv2.input_act = ActScheme{ActMode::kStatic, 8, false, 2.0f / 255, 0};
  conv2.extra["bias"] = random_tensor({16}, 44, 0.1f);
  LayerContent fc1 = layer("fc1", "linear", random_tensor({70, 576}, 45, 0.1f));  // K = 16*6*6
  prune_blocks(fc1.weight, 32, 32, /*zero_row=*/1);
  fc1.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  fc1.sparsity = "block:32x32";
  fc1.input_act = ActScheme{ActMode::kStatic, 8, false, 4.0f / 255, 0};
  fc1.extra["bias"] = random_tensor({70}, 46, 0.1f);
  LayerContent fc2 = layer("fc2", "linear", random_tensor({40, 70}, 47, 0.2f));
  prune_blocks(fc2.weight, 16, 16);
  fc2.weight_scheme = WeightScheme{4, Granularity::kGroup, 35, true};
  fc2.sparsity = "block:16x16";
  fc2.input_act = ActScheme{ActMode::kDynamicPerToken, 8, true, 1.f, 0};
  LayerContent head = layer("head", "linear", random_tensor({5, 40}, 48, 0.3f));
  head.weight_scheme = WeightScheme{8, Granularity::kChannel, 0, true};
  head.input_act = ActScheme{ActMode::kStatic, 8, false, 3.0f / 255, 0};
  c.layers = {conv1, conv2, fc1, fc2, head};
  return c;
}

std::map<std::string, Tensor> ids_input(int64_t b, int64_t t, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<int64_t> ids(static_cast<size_t>(b * t));
  for (auto& i : ids) i = static_cast<int64_t>(gen() % 11);
  return {{"ids", Tensor::ids({b, t}, ids)}};
}

}  // namespace qf::test
