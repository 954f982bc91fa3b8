#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "hf/hf_config.h"
#include "hf_fixtures.h"

namespace qf::hf {
namespace {

std::string config_error(const std::string& json) {
  try {
    parse_hf_config(json, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char* kLlama4x = R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":32,
  "hidden_size":16,"intermediate_size":32,"num_hidden_layers":2,"num_attention_heads":4,
  "num_key_value_heads":2,"rms_norm_eps":1e-5,"rope_theta":500000.0,
  "rope_scaling":{"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
  "original_max_position_embeddings":64},"tie_word_embeddings":false %s})";

std::string llama4x(const std::string& extra = "") {
  std::string s = kLlama4x;
  return s.replace(s.find("%s"), 2, extra);
}

TEST(HfConfig, ReadsTheFixtures) {
  HfConfig l = load_hf_config(kFix + "/llama");
  EXPECT_EQ(l.arch, Arch::kLlama);
  EXPECT_EQ(l.heads, 4);
  EXPECT_EQ(l.kv_heads, 2);
  EXPECT_EQ(l.head_dim, 16);
  EXPECT_FALSE(l.tied);
  EXPECT_EQ(l.activation, "silu");
  EXPECT_EQ(l.layer[1].rope.type, "llama3");
  EXPECT_EQ(l.layer[1].rope.original_max_position, 64);
  EXPECT_DOUBLE_EQ(l.attn_scale, 0.25);

  HfConfig q = load_hf_config(kFix + "/qwen2");
  EXPECT_EQ(q.arch, Arch::kQwen2);
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_FALSE(q.o_bias);
  EXPECT_TRUE(q.tied);
  EXPECT_DOUBLE_EQ(q.layer[0].rope.theta, 1e6);

  HfConfig q3 = load_hf_config(kFix + "/qwen3");  // per-head q/k norms (w, not 1 + w), no biases
  EXPECT_EQ(q3.arch, Arch::kQwen3);
  EXPECT_TRUE(q3.qk_norm);
  EXPECT_FALSE(q3.norm_plus_one || q3.sandwich_norms || q3.qkv_bias || q3.o_bias);
  EXPECT_EQ(q3.head_dim, 32);  // heads x head_dim = 128, not hidden 64
  EXPECT_DOUBLE_EQ(q3.attn_scale, 1.0 / std::sqrt(32.0));
  EXPECT_TRUE(q3.tied);

  HfConfig g = load_hf_config(kFix + "/gemma3");
  EXPECT_EQ(g.arch, Arch::kGemma3);
  EXPECT_TRUE(g.norm_plus_one && g.qk_norm && g.sandwich_norms && g.tied);
  EXPECT_EQ(g.activation, "gelu_tanh");
  EXPECT_DOUBLE_EQ(g.embed_scale, 8.0);
  EXPECT_DOUBLE_EQ(g.attn_scale, 1.0 / std::sqrt(24.0));
  EXPECT_EQ(g.layer[0].sliding_window, 8);
  EXPECT_EQ(g.layer[0].rope.type, "default");
  EXPECT_DOUBLE_EQ(g.layer[0].rope.theta, 1e4);
  EXPECT_EQ(g.layer[1].sliding_window, 0);
  EXPECT_EQ(g.layer[1].rope.type, "linear");
  EXPECT_DOUBLE_EQ(g.layer[1].rope.factor, 8.0);
  EXPECT_EQ(g.bos_id, 2);
}

TEST(HfConfig, Transformers4SpellingMatches5) {
  HfConfig a = parse_hf_config(llama4x(), "config.json");
  EXPECT_EQ(a.layer[0].rope.type, "llama3");
  EXPECT_DOUBLE_EQ(a.layer[0].rope.theta, 5e5);
  EXPECT_DOUBLE_EQ(a.layer[0].rope.factor, 32.0);
  EXPECT_EQ(a.head_dim, 4);  // hidden / heads when head_dim is absent
  // Gemma 3 in 4.x: rope_theta + rope_local_base_freq, rope_scaling for global layers only.
  HfConfig g = parse_hf_config(R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text",
    "vocab_size":32,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":6,"num_attention_heads":2,
    "num_key_value_heads":1,"head_dim":8,"query_pre_attn_scalar":8,"sliding_window":4,"sliding_window_pattern":6,
    "rope_theta":1000000.0,"rope_local_base_freq":10000.0,"rope_scaling":{"rope_type":"linear","factor":8.0}})",
                               "config.json");
  EXPECT_EQ(g.layer[0].sliding_window, 4);
  EXPECT_EQ(g.layer[5].sliding_window, 0);
  EXPECT_EQ(g.layer[0].rope.type, "default");
  EXPECT_DOUBLE_EQ(g.layer[0].rope.theta, 1e4);
  EXPECT_EQ(g.layer[5].rope.type, "linear");
  EXPECT_DOUBLE_EQ(g.layer[5].rope.theta, 1e6);
}

TEST(HfConfig, RopeFrequencies) {
  RopeSpec d;
  d.theta = 10000;
  auto f = rope_inv_freq(d, 8);
  EXPECT_DOUBLE_EQ(f[0], 1.0);
  EXPECT_NEAR(f[1], std::pow(10000.0, -0.25), 1e-15);
  RopeSpec lin = d;
  lin.type = "linear";
  lin.factor = 4;
  EXPECT_NEAR(rope_inv_freq(lin, 8)[1], f[1] / 4, 1e-15);
  // llama3 (original 64, factors 1 / 4, x32): wavelength < 16 kept, > 64 divided, between blended.
  RopeSpec l3;
  l3.type = "llama3";
  l3.theta = 5e5;
  l3.factor = 32;
  l3.original_max_position = 64;
  auto base = rope_inv_freq([] { RopeSpec r; r.theta = 5e5; return r; }(), 16);
  auto g = rope_inv_freq(l3, 16);
  const double pi = 3.14159265358979323846;
  int kept = 0, divided = 0, blended = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double wl = 2 * pi / base[i];
    if (wl < 16) { EXPECT_DOUBLE_EQ(g[i], base[i]); ++kept; }
    else if (wl > 64) { EXPECT_DOUBLE_EQ(g[i], base[i] / 32); ++divided; }
    else { EXPECT_LT(g[i], base[i]); EXPECT_GT(g[i], base[i] / 32); ++blended; }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(blended, 0);  // the fixture's settings exercise all three bands
}

TEST(HfConfig, UnsupportedFeaturesAreRefusedByName) {
  EXPECT_EQ(config_error(llama4x()), "");
  EXPECT_NE(config_error(llama4x(R"(,"quantization_config":{"bits":4})")).find("quantization_config"), std::string::npos);
  std::string yarn = llama4x();
  yarn.replace(yarn.find("\"llama3\""), 8, "\"yarn\"");
  EXPECT_NE(config_error(yarn).find("RoPE type 'yarn' is not supported"), std::string::npos);
  EXPECT_NE(config_error(llama4x(R"(,"hidden_act":"relu")")).find("activation 'relu'"), std::string::npos);
  EXPECT_NE(config_error(llama4x(R"(,"final_logit_softcapping":30.0)")).find("final_logit_softcapping"), std::string::npos);
  std::string bad_heads = llama4x();
  bad_heads.replace(bad_heads.find("\"num_key_value_heads\":2"), 23, "\"num_key_value_heads\":3");
  EXPECT_NE(config_error(bad_heads).find("multiple"), std::string::npos);
  std::string missing = llama4x();
  missing.replace(missing.find("\"vocab_size\":32,"), 16, "");
  EXPECT_NE(config_error(missing).find("missing key 'vocab_size'"), std::string::npos);
  EXPECT_NE(config_error(R"({"architectures":["BertModel"]})").find("'BertModel' is not supported"), std::string::npos);
}

TEST(HfConfig, MixtralIsAMixtureOfExperts) {
  const HfConfig c = load_hf_config(kFix + "/mixtral");
  EXPECT_EQ(c.arch, Arch::kMixtral);
  EXPECT_EQ(c.experts, 8);
  EXPECT_EQ(c.experts_per_token, 2);
  EXPECT_EQ(c.intermediate, 128);
  EXPECT_EQ(c.activation, "silu");
  for (const LayerSpec& l : c.layer) EXPECT_EQ(l.sliding_window, 0);  // "sliding_window": null
  const std::string base =
      R"({"architectures":["MixtralForCausalLM"],"vocab_size":32,"hidden_size":16,"intermediate_size":32,)"
      R"("num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"num_local_experts":4,)";
  EXPECT_EQ(config_error(base + R"("num_experts_per_tok":2})"), "");
  EXPECT_NE(config_error(base + R"("num_experts_per_tok":5})").find("num_experts_per_tok"), std::string::npos);
  EXPECT_NE(config_error(base + R"("num_experts_per_tok":2,"hidden_act":"gelu_pytorch_tanh"})").find("Mixtral experts"),
            std::string::npos);
  EXPECT_EQ(parse_hf_config(base + R"("num_experts_per_tok":1,"sliding_window":8})", "m.json").layer[0].sliding_window, 8);
}

}  // namespace
}  // namespace qf::hf
