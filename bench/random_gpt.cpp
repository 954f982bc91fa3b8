// random_gpt OUT.qf.h5 --layers L --dim D --context T [--heads H] [--w4a8] [--kv-int4] [--seed S]: a byte-level
// GPT (vocabulary 256, the zoo's graph: pre-LN blocks, GELU MLP of 4 x dim) with random weights.
// Timing only (docs/RESULTS.md, "Generation"): a step's cost does not depend on the weights'
// values, so sizes that cannot be trained on the shared machine can still be timed.
#include <cmath>
#include <cstdio>
#include <exception>
#include <random>
#include <stdexcept>
#include <string>

#include "core/kv_cache_attrs.h"
#include "export/checkpoint_writer.h"

namespace {

qf::Op make_op(const std::string& kind, const std::string& name, std::vector<std::string> in, const std::string& out) {
  qf::Op o;
  o.kind = kind;
  o.name = name;
  o.inputs = std::move(in);
  o.outputs = {out};
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  int64_t layers = 2, dim = 128, context = 64, heads = 4;
  bool w4a8 = false, kv_int4 = false;  // --kv-int4: the attention ops keep an int4 KV cache (group 32, symmetric)
  unsigned seed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::stoll(argv[++i]) : throw std::runtime_error(a + " needs a value"); };
    if (a == "--layers") layers = next();
    else if (a == "--dim") dim = next();
    else if (a == "--context") context = next();
    else if (a == "--heads") heads = next();
    else if (a == "--seed") seed = static_cast<unsigned>(next());
    else if (a == "--w4a8") w4a8 = true;
    else if (a == "--kv-int4") kv_int4 = true;
    else if (a == "--help") {
      std::printf("usage: random_gpt OUT.qf.h5 --layers L --dim D --context T [--heads H] [--w4a8] [--kv-int4] [--seed S]\n");
      return 0;
    } else out = a;
  }
  if (out.empty()) {
    std::fprintf(stderr, "random_gpt: no output file (--help)\n");
    return 2;
  }
  try {
    std::mt19937 gen(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    auto tensor = [&](std::vector<int64_t> shape, float stddev) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      std::vector<float> v(static_cast<size_t>(n));
      for (float& x : v) x = stddev * nd(gen);
      return qf::Tensor::floats(std::move(shape), std::move(v));
    };
    qf::CheckpointContent c;
    c.graph.family = "gpt";
    c.graph.inputs.push_back({"ids", "int64", {-1, -1}});
    auto layer = [&](const std::string& name, const std::string& kind, qf::Tensor w) {
      qf::LayerContent L;
      L.name = name;
      L.kind = kind;
      L.weight = std::move(w);
      c.layers.push_back(std::move(L));
      return &c.layers.back();
    };
    c.graph.ops = {make_op("embedding", "tok", {"ids"}, "e"), make_op("positional_embedding", "pos", {"e"}, "h0")};
    layer("tok", "embedding", tensor({256, dim}, 1.f));
    layer("pos", "positional_embedding", tensor({context, dim}, 0.1f));
    auto ln = [&](const std::string& name, const std::string& in, const std::string& o) {
      qf::Op op = make_op("layernorm", name, {in}, o);
      op.floats["eps"] = 1e-5;
      c.graph.ops.push_back(op);
      qf::LayerContent* L = layer(name, "layernorm", tensor({dim}, 0.f));
      for (float& g : L->weight.f32) g = 1.f;
      L->extra["bias"] = tensor({dim}, 0.f);
    };
    auto linear = [&](const std::string& name, const std::string& in, const std::string& o, int64_t rows, int64_t cols) {
      c.graph.ops.push_back(make_op("linear", name, {in}, o));
      qf::LayerContent* L = layer(name, "linear", tensor({rows, cols}, 1.f / std::sqrt(static_cast<float>(cols))));
      L->extra["bias"] = tensor({rows}, 0.01f);
      if (w4a8) {
        L->weight_scheme = qf::WeightScheme{4, qf::Granularity::kGroup, 64, true};
        L->input_act = qf::ActScheme{qf::ActMode::kDynamicPerToken, 8, true, 1.f, 0};
      }
    };
    std::string h = "h0";
    for (int64_t l = 0; l < layers; ++l) {
      const std::string p = "blocks." + std::to_string(l) + ".";
      ln(p + "ln1", h, p + "n1");
      linear(p + "attn.qkv", p + "n1", p + "qkv", 3 * dim, dim);
      qf::Op att = make_op("causal_attention", p + "attn.sdpa", {p + "qkv"}, p + "att");
      att.ints["heads"] = {heads};
      if (kv_int4) {
        qf::KvCacheScheme kv;
        kv.bits = 4;
        kv.group_size = 32;
        qf::set_kv_cache_attrs(att, kv, dim / heads);
      }
      c.graph.ops.push_back(att);
      linear(p + "attn.proj", p + "att", p + "pr", dim, dim);
      c.graph.ops.push_back(make_op("add", p + "res1", {h, p + "pr"}, p + "h1"));
      ln(p + "ln2", p + "h1", p + "n2");
      linear(p + "mlp.fc1", p + "n2", p + "f1", 4 * dim, dim);
      c.graph.ops.push_back(make_op("gelu", p + "mlp.act", {p + "f1"}, p + "g"));
      linear(p + "mlp.fc2", p + "g", p + "f2", dim, 4 * dim);
      c.graph.ops.push_back(make_op("add", p + "res2", {p + "h1", p + "f2"}, p + "h2"));
      h = p + "h2";
    }
    ln("ln_f", h, "nf");
    linear("lm_head", "nf", "logits", 256, dim);
    c.graph.outputs = {"logits"};
    c.provenance["random_gpt"] = "random weights, timing only";
    qf::write_checkpoint(out, c);
    std::printf("%s: %lld layers, dim %lld, context %lld, %s, random weights\n", out.c_str(),
                static_cast<long long>(layers), static_cast<long long>(dim), static_cast<long long>(context),
                w4a8 ? (kv_int4 ? "w4a8, int4 KV cache" : "w4a8") : (kv_int4 ? "float32, int4 KV cache" : "float32"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "random_gpt: %s\n", e.what());
    return 1;
  }
  return 0;
}
