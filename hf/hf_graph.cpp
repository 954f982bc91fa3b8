#include "hf/hf_graph.h"

namespace qf::hf {

Graph describe_hf_graph(const HfConfig& c) {
  Graph g;
  g.family = "hf";
  g.inputs.push_back({"ids", "int64", {-1, -1}});
  std::string cur = "ids";
  // One op with a single output named after it; its first input is `cur` unless given.
  auto op = [&](const std::string& kind, const std::string& name, std::vector<std::string> inputs = {}) -> Op& {
    Op o;
    o.kind = kind;
    o.name = name;
    o.inputs = inputs.empty() ? std::vector<std::string>{cur} : std::move(inputs);
    o.outputs = {name};
    cur = name;
    g.ops.push_back(std::move(o));
    return g.ops.back();
  };
  auto norm = [&](const std::string& name, const std::string& input = "") {
    Op& o = op("rms_norm", name, input.empty() ? std::vector<std::string>{} : std::vector<std::string>{input});
    o.floats["eps"] = c.rms_eps;
    o.ints["plus_one"] = {c.norm_plus_one ? 1 : 0};
  };
  op("embedding", "model.embed_tokens");
  if (c.embed_scale != 1.0) op("scale", "model.embed_scale").floats["factor"] = c.embed_scale;
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i), a = p + ".self_attn.", m = p + ".mlp.";
    const std::string residual = cur;
    norm(p + ".input_layernorm");
    const std::string normed = cur;
    op("linear", a + "q_proj", {normed});
    if (c.qk_norm) norm(a + "q_norm");
    op("rotary_embedding", a + "q_rope");
    const std::string q = cur;
    op("linear", a + "k_proj", {normed});
    if (c.qk_norm) norm(a + "k_norm");
    op("rotary_embedding", a + "k_rope");
    const std::string k = cur;
    op("linear", a + "v_proj", {normed});
    Op& att = op("gqa_attention", a + "attn", {q, k, cur});
    att.ints["heads"] = {c.heads};
    att.ints["kv_heads"] = {c.kv_heads};
    att.ints["window"] = {c.layer[i].sliding_window};
    att.floats["scale"] = c.attn_scale;
    op("linear", a + "o_proj");
    if (c.sandwich_norms) norm(p + ".post_attention_layernorm");
    op("add", a + "add", {cur, residual});
    const std::string residual2 = cur;
    norm(c.sandwich_norms ? p + ".pre_feedforward_layernorm" : p + ".post_attention_layernorm");
    const std::string normed2 = cur;
    if (c.experts > 0) {  // Mixtral: router linear, then the routed SwiGLU experts
      const std::string moe = p + ".block_sparse_moe.";
      op("linear", moe + "gate", {normed2});
      Op& e = op("moe_experts", moe + "experts", {normed2, cur});
      e.ints["experts"] = {c.experts};
      e.ints["top_k"] = {c.experts_per_token};
      e.ints["normalize"] = {1};
      e.strings["activation"] = "silu_gated";
    } else {
      op("linear", m + "gate_proj", {normed2});
      const std::string gate = cur;
      op("linear", m + "up_proj", {normed2});
      op("gated_activation", m + "act", {gate, cur}).strings["activation"] = c.activation;
      op("linear", m + "down_proj");
    }
    if (c.sandwich_norms) norm(p + ".post_feedforward_layernorm");
    op("add", m + "add", {cur, residual2});
  }
  norm("model.norm");
  op("linear", "lm_head");
  g.outputs.push_back(cur);
  return g;
}

}  // namespace qf::hf
