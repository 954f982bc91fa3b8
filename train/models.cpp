#include "train/models.h"

#include "train/hf_model.h"
#include "train/moe.h"

#include "core/kv_cache_attrs.h"
#include "train/kv_fake_quant.h"

#include <cmath>
#include <stdexcept>

namespace qf::train {
namespace {

namespace F = torch::nn::functional;

// Appends ops to a graph while threading the "current tensor" through them.
class GraphBuilder {
 public:
  explicit GraphBuilder(std::string family) { g_.family = std::move(family); }
  void input(std::string name, std::string dtype, std::vector<int64_t> shape) {
    g_.inputs.push_back({name, std::move(dtype), std::move(shape)});
    cur_ = std::move(name);
  }
  Op& op(std::string kind, std::string name, std::vector<std::string> extra_inputs = {}) {
    Op o;
    o.kind = std::move(kind);
    o.name = std::move(name);
    o.inputs.push_back(cur_);
    for (auto& in : extra_inputs) o.inputs.push_back(std::move(in));
    cur_ = o.name;  // an op's single output tensor carries the op's name
    o.outputs.push_back(cur_);
    g_.ops.push_back(std::move(o));
    return g_.ops.back();
  }
  const std::string& current() const { return cur_; }
  void set_current(std::string t) { cur_ = std::move(t); }
  Graph finish(std::string output) {
    g_.outputs.push_back(std::move(output));
    return std::move(g_);
  }

 private:
  Graph g_;
  std::string cur_;
};

class Mlp : public ZooModel {
 public:
  Mlp(const ModelSpec& spec, const InputShape& in) : in_(in) {
    int64_t width = in.channels * in.height * in.width;
    for (size_t i = 0; i < spec.mlp_hidden.size(); ++i) {
      hidden_.push_back(register_module("fc" + std::to_string(i),
                                        Linear("fc" + std::to_string(i), width, spec.mlp_hidden[i])));
      width = spec.mlp_hidden[i];
    }
    head_ = register_module("head", Linear("head", width, in.classes));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor h = x.flatten(1);
    for (auto& fc : hidden_) h = torch::relu(fc->forward(h));
    return head_->forward(h);
  }
  Graph describe() const override {
    GraphBuilder b("mlp");
    b.input("image", "float32", {-1, in_.channels, in_.height, in_.width});
    b.op("flatten", "flatten").ints["start_dim"] = {1};
    for (auto& fc : hidden_) {
      b.op("linear", fc->layer_name());
      b.op("relu", fc->layer_name() + ".relu");
    }
    b.op("linear", "head");
    return b.finish(b.current());
  }

 private:
  InputShape in_;
  std::vector<Linear> hidden_;
  Linear head_{nullptr};
};

class Cnn : public ZooModel {
 public:
  Cnn(const ModelSpec& spec, const InputShape& in) : in_(in) {
    int64_t ch = in.channels, h = in.height, w = in.width;
    for (size_t i = 0; i < spec.channels.size(); ++i) {
      const std::string name = "features." + std::to_string(i);
      blocks_.push_back(register_module("features_" + std::to_string(i),
                                        ConvBn2d(name, ch, spec.channels[i], 3, 1, 1)));
      ch = spec.channels[i];
      h /= 2;
      w /= 2;
    }
    if (h < 1 || w < 1) throw std::invalid_argument("cnn: too many pooling blocks for the input size");
    fc_ = register_module("fc", Linear("fc", ch * h * w, spec.cnn_hidden));
    head_ = register_module("head", Linear("head", spec.cnn_hidden, in.classes));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor h = x;
    for (auto& block : blocks_) h = F::max_pool2d(torch::relu(block->forward(h)), F::MaxPool2dFuncOptions(2));
    h = torch::relu(fc_->forward(h.flatten(1)));
    return head_->forward(h);
  }
  Graph describe() const override {
    GraphBuilder b("cnn");
    b.input("image", "float32", {-1, in_.channels, in_.height, in_.width});
    for (auto& block : blocks_) {
      const std::string& name = block->layer_name();
      Op& conv = b.op("conv2d", name);
      conv.ints["kernel"] = {block->kernel, block->kernel};
      conv.ints["stride"] = {block->stride, block->stride};
      conv.ints["padding"] = {block->padding, block->padding};
      conv.ints["groups"] = {1};
      b.op("relu", name + ".relu");
      Op& pool = b.op("maxpool2d", name + ".pool");
      pool.ints["kernel"] = {2, 2};
      pool.ints["stride"] = {2, 2};
      pool.ints["padding"] = {0, 0};
    }
    b.op("flatten", "flatten").ints["start_dim"] = {1};
    b.op("linear", "fc");
    b.op("relu", "fc.relu");
    b.op("linear", "head");
    return b.finish(b.current());
  }

 private:
  InputShape in_;
  std::vector<ConvBn2d> blocks_;
  Linear fc_{nullptr}, head_{nullptr};
};

// A pre-LayerNorm decoder block: x + attn(ln1(x)), then x + mlp(ln2(x)).
struct GptBlock : torch::nn::Module {
  GptBlock(const std::string& prefix, const ModelSpec& s, std::shared_ptr<std::optional<KvCacheScheme>> kv)
      : prefix(prefix), heads(s.heads), dropout(s.dropout), kv_scheme(std::move(kv)) {
    ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.dim})));
    qkv = register_module("qkv", Linear(prefix + ".attn.qkv", s.dim, 3 * s.dim));
    proj = register_module("proj", Linear(prefix + ".attn.proj", s.dim, s.dim));
    ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.dim})));
    if (s.moe.enabled) {
      MoeOptions o;
      o.dim = s.dim;
      o.experts = s.moe.experts;
      o.top_k = s.moe.top_k;
      o.expert_hidden = s.moe.expert_hidden;
      o.normalize = s.moe.normalize != 0;
      o.fallback_threshold = s.moe.fallback_threshold;
      o.aux_loss_weight = s.moe.aux_loss_weight;
      o.activation = "gelu_tanh";
      o.router = s.moe.router;
      o.router_hidden = s.moe.router_hidden;
      o.router_bias = s.moe.router == "mlp";
      o.expert_bias = true;
      o.router_name = prefix + ".mlp.router";
      o.experts_name = prefix + ".mlp.experts";
      moe = register_module("moe", MoeFeedForward(o));
    } else {
      fc1 = register_module("fc1", Linear(prefix + ".mlp.fc1", s.dim, s.mlp_ratio * s.dim));
      fc2 = register_module("fc2", Linear(prefix + ".mlp.fc2", s.mlp_ratio * s.dim, s.dim));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), d = C / heads;
    auto qkv_out = qkv->forward(ln1->forward(x)).view({B, T, 3, heads, d}).permute({2, 0, 3, 1, 4});
    auto q = qkv_out[0], k = qkv_out[1], v = qkv_out[2];  // [B, h, T, d]
    if (kv_sum.defined()) {  // center_kv: measuring; channel order (head, i) like qkv's rows
      kv_sum[0] += k.sum(std::vector<int64_t>{0, 2}).reshape({C}).to(torch::kDouble);
      kv_sum[1] += v.sum(std::vector<int64_t>{0, 2}).reshape({C}).to(torch::kDouble);
      kv_count += B * T;
    }
    if (*kv_scheme) {  // K and V as the runtime's cache holds them: rows [B, T, C]
      auto cache_rows = [&](const torch::Tensor& t) {
        return kv_fake_quantize(t.transpose(1, 2).reshape({B, T, C}), **kv_scheme, d)
            .view({B, T, heads, d})
            .transpose(1, 2);
      };
      k = cache_rows(k);
      v = cache_rows(v);
    }
    auto att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
    auto causal = torch::ones({T, T}, torch::dtype(torch::kBool).device(x.device())).triu(1);
    att = torch::softmax(att.masked_fill(causal, -std::numeric_limits<float>::infinity()), -1);
    auto y = torch::matmul(att, v).transpose(1, 2).reshape({B, T, C});
    torch::Tensor h = x + F::dropout(proj->forward(y), F::DropoutFuncOptions().p(dropout).training(is_training()));
    auto m = moe ? moe->forward(ln2->forward(h)) : fc2->forward(torch::gelu(fc1->forward(ln2->forward(h))));
    return h + F::dropout(m, F::DropoutFuncOptions().p(dropout).training(is_training()));
  }
  // ZooModel::rotate_attention_heads for this block. qkv's rows are (part, head, i), proj's
  // columns (head, i); computed in double, written back in the weights' dtype.
  void rotate_heads(const torch::Tensor& r) {
    torch::NoGradGuard no_grad;
    const int64_t C = qkv->weight.size(1), d = r.size(0);
    const torch::Tensor rd = r.to(qkv->weight.device(), torch::kDouble);
    auto w = qkv->weight.view({3, heads, d, C});
    w.copy_(torch::matmul(rd, w.to(torch::kDouble)));
    auto b = qkv->bias.view({3, heads, d});
    b.copy_(torch::matmul(b.to(torch::kDouble), rd.t()));
    auto p = proj->weight.view({C, heads, d});
    p.copy_(torch::matmul(p.to(torch::kDouble), rd.t()));
  }
  // ZooModel::center_attention_kv for this block: measure (begin, then forwards), then fold.
  void begin_center_kv() {
    kv_sum = torch::zeros({2, qkv->weight.size(1)}, qkv->weight.options().dtype(torch::kDouble));
    kv_count = 0;
  }
  void fold_center_kv() {
    torch::NoGradGuard no_grad;
    if (kv_count == 0) throw std::invalid_argument("gpt: center_attention_kv needs at least one input");
    const torch::Tensor mean = kv_sum / static_cast<double>(kv_count);  // [2, C]: K, V
    auto b = qkv->bias.view({3, -1});
    b[1].copy_(b[1].to(torch::kDouble) - mean[0]);
    b[2].copy_(b[2].to(torch::kDouble) - mean[1]);
    proj->bias.copy_(proj->bias.to(torch::kDouble) + proj->weight.to(torch::kDouble).matmul(mean[1]));
    kv_sum = torch::Tensor();
  }
  std::string prefix;
  int64_t heads;
  double dropout;
  std::shared_ptr<std::optional<KvCacheScheme>> kv_scheme;
  torch::Tensor kv_sum;  // defined while center_attention_kv measures
  int64_t kv_count = 0;
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  Linear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
  MoeFeedForward moe{nullptr};
};

class Gpt : public ZooModel {
 public:
  explicit Gpt(const ModelSpec& s) : spec_(s) {
    if (s.dim % s.heads != 0) throw std::invalid_argument("gpt: dim must be divisible by heads");
    tok_ = register_module("tok_emb", Embedding("tok_emb", kVocab, s.dim));
    pos_ = register_parameter("pos_emb", torch::randn({s.context, s.dim}) * 0.02);
    for (int64_t i = 0; i < s.layers; ++i)
      blocks_.push_back(register_module("blocks_" + std::to_string(i),
                                        std::make_shared<GptBlock>("blocks." + std::to_string(i), s, kv_scheme_)));
    ln_f_ = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.dim})));
    head_ = register_module("lm_head", Linear("lm_head", s.dim, kVocab));
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    const int64_t T = ids.size(1);
    if (T > spec_.context) throw std::invalid_argument("gpt: sequence longer than the model's context");
    torch::Tensor x = tok_->forward(ids) + pos_.narrow(0, 0, T);
    for (auto& block : blocks_) x = block->forward(x);
    return head_->forward(ln_f_->forward(x));
  }
  Graph describe() const override {
    GraphBuilder b("gpt");
    b.input("ids", "int64", {-1, -1});
    b.op("embedding", "tok_emb");
    b.op("positional_embedding", "pos_emb");
    for (auto& block : blocks_) {
      const std::string& p = block->prefix;
      const std::string residual = b.current();
      b.op("layernorm", p + ".ln1").floats["eps"] = 1e-5;
      b.op("linear", p + ".attn.qkv");
      Op& att = b.op("causal_attention", p + ".attn");
      att.ints["heads"] = {spec_.heads};
      if (*kv_scheme_) set_kv_cache_attrs(att, **kv_scheme_, spec_.dim / spec_.heads);
      b.op("linear", p + ".attn.proj");
      b.op("add", p + ".attn.add", {residual});
      const std::string residual2 = b.current();
      b.op("layernorm", p + ".ln2").floats["eps"] = 1e-5;
      if (block->moe) {
        // Router linears (their own layers), then the routed experts over (normed x, logits).
        const MoeOptions& o = block->moe->options();
        const std::string normed = b.current();
        if (o.router == "mlp") {
          b.op("linear", o.router_name + ".fc1");
          b.op("gelu", o.router_name + ".gelu");
          b.op("linear", o.router_name + ".fc2");
        } else {
          b.op("linear", o.router_name);
        }
        const std::string logits = b.current();
        b.set_current(normed);
        Op& m = b.op("moe_experts", o.experts_name, {logits});
        m.ints["experts"] = {o.experts};
        m.ints["top_k"] = {o.top_k};
        m.ints["normalize"] = {o.normalize ? 1 : 0};
        m.floats["fallback_threshold"] = o.fallback_threshold;
        m.strings["activation"] = o.activation;
      } else {
        b.op("linear", p + ".mlp.fc1");
        b.op("gelu", p + ".mlp.gelu");
        b.op("linear", p + ".mlp.fc2");
      }
      b.op("add", p + ".mlp.add", {residual2});
    }
    b.op("layernorm", "ln_f").floats["eps"] = 1e-5;
    b.op("linear", "lm_head");
    return b.finish(b.current());
  }
  std::map<std::string, std::map<std::string, torch::Tensor>> float_params() override {
    std::map<std::string, std::map<std::string, torch::Tensor>> p;
    p["pos_emb"]["weight"] = pos_;
    for (auto& block : blocks_) {
      p[block->prefix + ".ln1"] = {{"weight", block->ln1->weight}, {"bias", block->ln1->bias}};
      p[block->prefix + ".ln2"] = {{"weight", block->ln2->weight}, {"bias", block->ln2->bias}};
    }
    p["ln_f"] = {{"weight", ln_f_->weight}, {"bias", ln_f_->bias}};
    return p;
  }
  bool is_language_model() const override { return true; }
  bool has_kv_cache() const override { return true; }
  int64_t kv_head_dim() const override { return spec_.dim / spec_.heads; }
  // Learned absolute positions: scores q . k are invariant under any orthogonal r of the heads.
  void rotate_attention_heads(const torch::Tensor& r) override {
    const int64_t d = kv_head_dim();
    if (r.dim() != 2 || r.size(0) != d || r.size(1) != d)
      throw std::invalid_argument("gpt: a head rotation must be [" + std::to_string(d) + ", " + std::to_string(d) + "]");
    for (auto& block : blocks_) block->rotate_heads(r);
  }
  void center_attention_kv(const std::vector<torch::Tensor>& inputs) override {
    torch::NoGradGuard no_grad;
    const bool was_training = is_training();
    eval();
    for (auto& block : blocks_) block->begin_center_kv();
    for (const torch::Tensor& x : inputs) forward(x);
    for (auto& block : blocks_) block->fold_center_kv();
    train(was_training);
  }
  torch::Tensor auxiliary_loss() override {
    torch::Tensor total;
    for (auto& block : blocks_)
      if (block->moe) {
        const torch::Tensor a = block->moe->last_aux_loss();
        if (a.defined()) total = total.defined() ? total + a : a;
      }
    return total;
  }

  static constexpr int64_t kVocab = 256;  // byte-level

 private:
  ModelSpec spec_;
  Embedding tok_{nullptr};
  torch::Tensor pos_;
  std::vector<std::shared_ptr<GptBlock>> blocks_;
  torch::nn::LayerNorm ln_f_{nullptr};
  Linear head_{nullptr};
};

}  // namespace

void ZooModel::rotate_attention_heads(const torch::Tensor&) {
  throw std::runtime_error("this model family cannot fold a rotation into its attention (only gpt can: attention without "
                           "rotary position embeddings)");
}

void ZooModel::center_attention_kv(const std::vector<torch::Tensor>&) {
  throw std::runtime_error("this model family cannot fold K and V means into its attention biases (only gpt can)");
}

std::shared_ptr<ZooModel> make_model(const ModelSpec& spec, const InputShape& input) {
  if (spec.family == "mlp") return std::make_shared<Mlp>(spec, input);
  if (spec.family == "cnn") return std::make_shared<Cnn>(spec, input);
  if (spec.family == "gpt") return std::make_shared<Gpt>(spec);
  if (spec.family == "hf")
    return spec.hf_init_random ? make_hf_model_from_scratch(spec.path) : make_hf_model(spec.path, /*load_weights=*/true);
  throw std::invalid_argument("unknown model family '" + spec.family + "' (expected mlp, cnn, gpt or hf)");
}

}  // namespace qf::train
