#include "train/hf_model.h"

#include <cmath>
#include <set>
#include <stdexcept>

#include "hf/hf_graph.h"
#include "core/kv_cache_attrs.h"
#include "hf/safetensors.h"
#include "train/kv_fake_quant.h"
#include "train/moe.h"

namespace qf::train {

namespace F = torch::nn::functional;

// RMSNorm over the last dimension in float32: x * rsqrt(mean(x^2) + eps) * w, or * (1 + w) for
// Gemma. `chunk` > 0 normalises each run of `chunk` values separately (per-head q/k norms).
struct HfModel::Norm : torch::nn::Module {
  Norm(std::string name, int64_t dim, double eps, bool plus_one)
      : name(std::move(name)), eps(eps), plus_one(plus_one) {
    weight = register_parameter("weight", torch::full({dim}, plus_one ? 0.0 : 1.0));
  }
  torch::Tensor forward(const torch::Tensor& x) const {
    const int64_t d = weight.size(0);
    auto shape = x.sizes().vec();
    torch::Tensor v = x.reshape({-1, d});
    torch::Tensor y = v * torch::rsqrt(v.pow(2).mean(-1, true) + eps);
    y = y * (plus_one ? weight + 1.0 : weight);
    return y.reshape(shape);
  }
  std::string name;
  double eps;
  bool plus_one;
  torch::Tensor weight;
};

namespace {

// lm_head of a tied model: a linear layer over the embedding's weight, with its own slots, so a
// recipe can quantize the output projection and the embedding differently (the exporter then
// writes both weights).
class TiedLinearImpl : public QuantizableLayer {
 public:
  TiedLinearImpl(std::string name, Embedding emb) : QuantizableLayer(std::move(name), "linear"), emb_(std::move(emb)) {}
  torch::Tensor forward(const torch::Tensor& x) { return F::linear(apply_input_hook(x), deployed_weight()); }
  torch::Tensor& raw_weight() override { return emb_->weight; }
  torch::Tensor effective_weight() override { return emb_->weight; }
  torch::Tensor effective_bias() override { return {}; }

 private:
  Embedding emb_;  // not registered: the parameter belongs to the embedding
};

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

torch::Tensor call_linear(const std::shared_ptr<QuantizableLayer>& l, const torch::Tensor& x) {
  if (auto lin = std::dynamic_pointer_cast<LinearImpl>(l)) return lin->forward(x);
  return std::static_pointer_cast<TiedLinearImpl>(l)->forward(x);
}

}  // namespace

struct HfModel::Block : torch::nn::Module {
  Block(const hf::HfConfig& c, int64_t i, std::shared_ptr<std::optional<KvCacheScheme>> kv)
      : cfg(c), index(i), prefix("model.layers." + std::to_string(i)), kv_scheme(std::move(kv)) {
    const std::string a = prefix + ".self_attn.", m = prefix + ".mlp.";
    const int64_t H = c.hidden, hd = c.head_dim;
    auto norm = [&](const std::string& key, int64_t dim) {
      return register_module(key, std::make_shared<Norm>(prefix + "." + key, dim, c.rms_eps, c.norm_plus_one));
    };
    input_norm = norm("input_layernorm", H);
    post_attn_norm = norm("post_attention_layernorm", H);
    if (c.sandwich_norms) {
      pre_ff_norm = norm("pre_feedforward_layernorm", H);
      post_ff_norm = norm("post_feedforward_layernorm", H);
    }
    q = register_module("q_proj", Linear(a + "q_proj", H, c.heads * hd, c.qkv_bias));
    k = register_module("k_proj", Linear(a + "k_proj", H, c.kv_heads * hd, c.qkv_bias));
    v = register_module("v_proj", Linear(a + "v_proj", H, c.kv_heads * hd, c.qkv_bias));
    o = register_module("o_proj", Linear(a + "o_proj", c.heads * hd, H, c.o_bias));
    if (c.qk_norm) {
      q_norm = register_module("q_norm", std::make_shared<Norm>(a + "q_norm", hd, c.rms_eps, c.norm_plus_one));
      k_norm = register_module("k_norm", std::make_shared<Norm>(a + "k_norm", hd, c.rms_eps, c.norm_plus_one));
    }
    if (c.experts > 0) {  // Mixtral's block_sparse_moe: gate (router) + experts.<e>.w1 / w3 / w2
      MoeOptions o;
      o.dim = H;
      o.experts = c.experts;
      o.top_k = c.experts_per_token;
      o.expert_hidden = c.intermediate;
      o.normalize = true;
      o.activation = "silu_gated";
      o.router = "softmax";
      o.router_name = prefix + ".block_sparse_moe.gate";
      o.experts_name = prefix + ".block_sparse_moe.experts";
      moe = register_module("block_sparse_moe", MoeFeedForward(o));
      return;
    }
    gate = register_module("gate_proj", Linear(m + "gate_proj", H, c.intermediate, c.mlp_bias));
    up = register_module("up_proj", Linear(m + "up_proj", H, c.intermediate, c.mlp_bias));
    down = register_module("down_proj", Linear(m + "down_proj", c.intermediate, H, c.mlp_bias));
  }

  torch::Tensor attention(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    const int64_t B = x.size(0), T = x.size(1), hd = cfg.head_dim, nh = cfg.heads, nkv = cfg.kv_heads;
    torch::Tensor qh = q->forward(x).view({B, T, nh, hd});
    torch::Tensor kh = k->forward(x).view({B, T, nkv, hd});
    torch::Tensor vh = v->forward(x).view({B, T, nkv, hd}).transpose(1, 2);
    if (q_norm) {
      qh = q_norm->forward(qh);
      kh = k_norm->forward(kh);
    }
    qh = qh.transpose(1, 2);  // [B, nh, T, hd]
    kh = kh.transpose(1, 2);
    qh = qh * cos + rotate_half(qh) * sin;
    kh = kh * cos + rotate_half(kh) * sin;
    if (*kv_scheme) {  // K (rotated) and V as the runtime's cache holds them: rows [B, T, nkv * hd]
      auto cache_rows = [&](const torch::Tensor& t) {
        return kv_fake_quantize(t.transpose(1, 2).reshape({B, T, nkv * hd}), **kv_scheme, hd)
            .view({B, T, nkv, hd})
            .transpose(1, 2);
      };
      kh = cache_rows(kh);
      vh = cache_rows(vh);
    }
    if (nh != nkv) {  // grouped-query attention: query head h reads key/value head h / (nh / nkv)
      kh = kh.repeat_interleave(nh / nkv, 1);
      vh = vh.repeat_interleave(nh / nkv, 1);
    }
    torch::Tensor att = torch::matmul(qh, kh.transpose(-2, -1)) * cfg.attn_scale;
    auto pos = torch::arange(T, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
    auto diff = pos.unsqueeze(1) - pos.unsqueeze(0);  // query - key
    torch::Tensor hidden = diff < 0;
    const int64_t w = cfg.layer[index].sliding_window;
    if (w > 0) hidden = hidden | (diff >= w);
    att = torch::softmax(att.masked_fill(hidden, -std::numeric_limits<float>::infinity()), -1);
    torch::Tensor y = torch::matmul(att, vh).transpose(1, 2).reshape({B, T, nh * hd});
    return o->forward(y);
  }

  torch::Tensor mlp(const torch::Tensor& x) {
    if (moe) return moe->forward(x);
    torch::Tensor g = gate->forward(x);
    g = cfg.activation == "silu" ? torch::silu(g) : torch::gelu(g, "tanh");
    return down->forward(g * up->forward(x));
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    torch::Tensor h = attention(input_norm->forward(x), cos, sin);
    if (cfg.sandwich_norms) {
      h = x + post_attn_norm->forward(h);
      return h + post_ff_norm->forward(mlp(pre_ff_norm->forward(h)));
    }
    h = x + h;
    return h + mlp(post_attn_norm->forward(h));
  }

  const hf::HfConfig& cfg;
  int64_t index;
  std::string prefix;
  std::shared_ptr<std::optional<KvCacheScheme>> kv_scheme;
  std::shared_ptr<Norm> input_norm, post_attn_norm, pre_ff_norm, post_ff_norm, q_norm, k_norm;
  Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr}, gate{nullptr}, up{nullptr}, down{nullptr};
  MoeFeedForward moe{nullptr};
};

HfModel::HfModel(const hf::HfConfig& config, const std::string& folder, bool load_weights)
    : cfg_(config), folder_(folder) {
  embed_ = register_module("embed_tokens", Embedding("model.embed_tokens", cfg_.vocab, cfg_.hidden));
  for (int64_t i = 0; i < cfg_.layers; ++i)
    blocks_.push_back(register_module("layers_" + std::to_string(i), std::make_shared<Block>(cfg_, i, kv_scheme_)));
  norm_ = register_module("norm", std::make_shared<Norm>("model.norm", cfg_.hidden, cfg_.rms_eps, cfg_.norm_plus_one));
  if (cfg_.tied)
    head_ = register_module("lm_head", std::make_shared<TiedLinearImpl>("lm_head", embed_));
  else
    head_ = register_module("lm_head", Linear("lm_head", cfg_.hidden, cfg_.vocab, false));
  for (const hf::LayerSpec& l : cfg_.layer) {
    const auto f = hf::rope_inv_freq(l.rope, cfg_.head_dim);
    std::vector<float> f32(f.begin(), f.end());
    inv_freq_.push_back(torch::tensor(f32));
  }
  if (folder.empty() || !load_weights) return;

  // Every parameter from the folder, by its Hugging Face name; shapes must match, and every
  // tensor of the folder must be used (an unknown tensor means an architecture we do not know).
  auto tensors = hf::load_safetensors_folder(folder);
  std::map<std::string, torch::Tensor*> slots;
  slots["model.embed_tokens.weight"] = &embed_->weight;
  if (!cfg_.tied) slots["lm_head.weight"] = &std::static_pointer_cast<LinearImpl>(head_)->weight;
  slots["model.norm.weight"] = &norm_->weight;
  for (auto& b : blocks_) {
    const std::string p = b->prefix + ".";
    for (auto [key, norm] : {std::pair{"input_layernorm", b->input_norm}, {"post_attention_layernorm", b->post_attn_norm},
                             {"pre_feedforward_layernorm", b->pre_ff_norm}, {"post_feedforward_layernorm", b->post_ff_norm},
                             {"self_attn.q_norm", b->q_norm}, {"self_attn.k_norm", b->k_norm}})
      if (norm) slots[p + key + ".weight"] = &norm->weight;
    std::vector<Linear*> linears = {&b->q, &b->k, &b->v, &b->o};
    if (b->moe) {
      for (Linear& l : b->moe->router_layers()) linears.push_back(&l);
      for (auto& ex : b->moe->experts())
        for (Linear& l : ex) linears.push_back(&l);
    } else {
      linears.insert(linears.end(), {&b->gate, &b->up, &b->down});
    }
    for (Linear* l : linears) {
      slots[(*l)->layer_name() + ".weight"] = &(*l)->weight;
      if ((*l)->bias.defined()) slots[(*l)->layer_name() + ".bias"] = &(*l)->bias;
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : tensors) {
    if (name == "lm_head.weight" && cfg_.tied) continue;  // tied: the embedding is the head
    auto it = slots.find(name);
    if (it == slots.end())
      throw std::runtime_error(folder + ": tensor '" + name + "' has no place in " + cfg_.architecture +
                               " as configured (unsupported feature?)");
    torch::Tensor& dst = *it->second;
    if (dst.sizes().vec() != t.shape)
      throw std::runtime_error(folder + ": tensor '" + name + "' has shape " + torch::str(t.shape) +
                               ", config.json implies " + torch::str(dst.sizes()));
    dst.copy_(torch::from_blob(t.data.data(), t.shape, torch::kFloat32));
    slots.erase(it);
  }
  if (!slots.empty()) throw std::runtime_error(folder + ": tensor '" + slots.begin()->first + "' is missing");
}

torch::Tensor HfModel::forward(const torch::Tensor& ids) { return forward_hidden(ids, nullptr); }

torch::Tensor HfModel::forward_hidden(const torch::Tensor& ids, std::vector<torch::Tensor>* hidden) {
  const int64_t T = ids.size(1);
  torch::Tensor x = embed_->forward(ids);
  if (cfg_.embed_scale != 1.0) x = x * cfg_.embed_scale;
  if (hidden) hidden->push_back(x);
  // cos / sin [T, head_dim] per layer, the frequencies repeated for both halves (rotate-half).
  auto pos = torch::arange(T, torch::TensorOptions().dtype(torch::kFloat32).device(ids.device()));
  for (size_t i = 0; i < blocks_.size(); ++i) {
    torch::Tensor f = torch::outer(pos, inv_freq_[i].to(ids.device()));
    f = torch::cat({f, f}, -1);
    x = blocks_[i]->forward(x, f.cos(), f.sin());
    if (hidden && i + 1 < blocks_.size()) hidden->push_back(x);
  }
  x = norm_->forward(x);
  if (hidden) hidden->push_back(x);
  return call_linear(head_, x);
}

std::map<std::string, std::map<std::string, torch::Tensor>> HfModel::float_params() {
  std::map<std::string, std::map<std::string, torch::Tensor>> p;
  auto add_norm = [&](const std::shared_ptr<Norm>& n) {
    if (n) p[n->name]["weight"] = n->weight;
  };
  for (auto& b : blocks_) {
    for (auto& n : {b->input_norm, b->post_attn_norm, b->pre_ff_norm, b->post_ff_norm, b->q_norm, b->k_norm})
      add_norm(n);
    p[b->prefix + ".self_attn.q_rope"]["weight"] = inv_freq_[b->index];
    p[b->prefix + ".self_attn.k_rope"]["weight"] = inv_freq_[b->index];
  }
  add_norm(norm_);
  return p;
}

std::map<std::string, torch::Tensor> HfModel::hf_tensors(bool with_tied_head) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> t;
  for (auto& l : layers()) {
    if (l->layer_name() == "lm_head" && cfg_.tied && !with_tied_head) continue;
    t[l->layer_name() + ".weight"] = l->deployed_weight().detach();
    if (torch::Tensor b = l->effective_bias(); b.defined()) t[l->layer_name() + ".bias"] = b.detach();
  }
  for (auto& [op, params] : float_params())
    if (op.find("_rope") == std::string::npos) t[op + ".weight"] = params.at("weight").detach();
  return t;
}

Graph HfModel::describe() const {
  Graph g = hf::describe_hf_graph(cfg_);
  if (*kv_scheme_)
    for (Op& op : g.ops)
      if (op.kind == "gqa_attention") set_kv_cache_attrs(op, **kv_scheme_, cfg_.head_dim);
  return g;
}

void HfModel::init_like_transformers() {
  // transformers' PreTrainedModel._init_weights for these decoders: every Linear and the
  // Embedding ~ normal(0, initializer_range), biases 0; RMSNorm weights at identity (1, or 0 for
  // Gemma's (1 + w) form, which the Norm constructor already sets). A tied head is the embedding.
  torch::NoGradGuard no_grad;
  const double std = cfg_.initializer_range;
  embed_->weight.normal_(0.0, std);
  for (auto& l : layers()) {
    auto lin = std::dynamic_pointer_cast<LinearImpl>(l);
    if (!lin) continue;  // the tied head
    lin->weight.normal_(0.0, std);
    if (lin->bias.defined()) lin->bias.zero_();
  }
}

std::shared_ptr<ZooModel> make_hf_model(const std::string& folder, bool load_weights) {
  try {
    return std::make_shared<HfModel>(hf::load_hf_config(folder), folder, load_weights);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(e.what());
  }
}

std::shared_ptr<ZooModel> make_hf_model_from_scratch(const std::string& folder) {
  auto m = std::make_shared<HfModel>(hf::load_hf_config(folder), folder, /*load_weights=*/false);
  m->init_like_transformers();
  return m;
}

}  // namespace qf::train
