#include "hf/hf_config.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#include "core/error.h"
#include "core/json.h"

namespace qf::hf {
namespace {

class Reader {
 public:
  Reader(const Json& j, std::string where) : j_(j), where_(std::move(where)) {}
  [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + ": " + what); }
  bool has(const std::string& k) const { return j_.contains(k) && !j_.at(k).is_null(); }
  int64_t integer(const std::string& k) const {
    if (!has(k)) fail("missing key '" + k + "'");
    if (!j_.at(k).is_number()) fail("key '" + k + "' must be a number");
    return j_.at(k).as_int();
  }
  int64_t integer(const std::string& k, int64_t dflt) const { return has(k) ? integer(k) : dflt; }
  double number(const std::string& k, double dflt) const {
    if (!has(k)) return dflt;
    if (!j_.at(k).is_number()) fail("key '" + k + "' must be a number");
    return j_.at(k).as_double();
  }
  bool boolean(const std::string& k, bool dflt) const {
    if (!has(k)) return dflt;
    if (!j_.at(k).is_bool()) fail("key '" + k + "' must be true or false");
    return j_.at(k).as_bool();
  }
  std::string string(const std::string& k, const std::string& dflt) const {
    if (!has(k)) return dflt;
    if (!j_.at(k).is_string()) fail("key '" + k + "' must be a string");
    return j_.at(k).as_string();
  }
  const Json& at(const std::string& k) const { return j_.at(k); }

 private:
  const Json& j_;
  std::string where_;
};

// One RoPE parameter dict (4.x rope_scaling or a 5.x rope_parameters entry) over `base`.
RopeSpec parse_rope(const Json& d, const RopeSpec& base, const Reader& r, const std::string& key) {
  if (!d.is_object()) r.fail("'" + key + "' must be an object");
  Reader rr(d, "");
  RopeSpec s = base;
  auto sub_fail = [&](const std::string& what) { r.fail("'" + key + "': " + what); };
  std::string type = d.contains("rope_type") && d.at("rope_type").is_string() ? d.at("rope_type").as_string()
                     : d.contains("type") && d.at("type").is_string()     ? d.at("type").as_string()
                                                                          : "default";
  if (type != "default" && type != "linear" && type != "llama3")
    sub_fail("RoPE type '" + type + "' is not supported (default, linear and llama3 are)");
  s.type = type;
  static const std::set<std::string> known = {"rope_type", "type", "rope_theta", "factor", "low_freq_factor",
                                              "high_freq_factor", "original_max_position_embeddings"};
  for (const auto& kv : d.as_object())
    if (!known.count(kv.first) && !kv.second.is_null())
      sub_fail("key '" + kv.first + "' changes the rotary embedding and is not supported");
  try {
    if (d.contains("rope_theta")) s.theta = d.at("rope_theta").as_double();
    if (d.contains("factor")) s.factor = d.at("factor").as_double();
    if (d.contains("low_freq_factor")) s.low_freq_factor = d.at("low_freq_factor").as_double();
    if (d.contains("high_freq_factor")) s.high_freq_factor = d.at("high_freq_factor").as_double();
    if (d.contains("original_max_position_embeddings"))
      s.original_max_position = d.at("original_max_position_embeddings").as_int();
  } catch (const Error& e) {
    sub_fail(e.what());
  }
  if (type == "default" && d.contains("factor") && s.factor != 1.0) sub_fail("a factor needs a scaling type");
  if (type == "default") s.factor = 1.0;
  if (!(s.theta > 0) || !(s.factor > 0)) sub_fail("rope_theta and factor must be > 0");
  if (type == "llama3" && !(s.high_freq_factor > s.low_freq_factor))
    sub_fail("llama3 needs high_freq_factor > low_freq_factor");
  return s;
}

}  // namespace

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::kLlama: return "LlamaForCausalLM";
    case Arch::kQwen2: return "Qwen2ForCausalLM";
    case Arch::kQwen3: return "Qwen3ForCausalLM";
    case Arch::kMixtral: return "MixtralForCausalLM";
    default: return "Gemma3ForCausalLM";
  }
}

std::vector<double> rope_inv_freq(const RopeSpec& r, int64_t head_dim) {
  std::vector<double> f(head_dim / 2);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    double inv = 1.0 / std::pow(r.theta, static_cast<double>(2 * i) / head_dim);
    if (r.type == "linear") inv /= r.factor;
    if (r.type == "llama3") {
      // Llama 3.1's rule: long wavelengths are slowed by `factor`, short ones kept, the band
      // between interpolated smoothly.
      const double pi = 3.14159265358979323846;
      const double old = static_cast<double>(r.original_max_position);
      const double low_wavelen = old / r.low_freq_factor, high_wavelen = old / r.high_freq_factor;
      const double wavelen = 2 * pi / inv;
      if (wavelen > low_wavelen) {
        inv /= r.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        inv = (1 - smooth) * inv / r.factor + smooth * inv;
      }
    }
    f[i] = inv;
  }
  return f;
}

HfConfig parse_hf_config(const std::string& text, const std::string& where) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  if (!j.is_object()) throw Error(where + ": must be a JSON object");
  Reader r(j, where);
  HfConfig c;
  if (!r.has("architectures") || !r.at("architectures").is_array() || r.at("architectures").as_array().size() != 1 ||
      !r.at("architectures").as_array()[0].is_string())
    r.fail("'architectures' must list exactly one architecture");
  c.architecture = r.at("architectures").as_array()[0].as_string();
  if (c.architecture == "LlamaForCausalLM") c.arch = Arch::kLlama;
  else if (c.architecture == "Qwen2ForCausalLM") c.arch = Arch::kQwen2;
  else if (c.architecture == "Qwen3ForCausalLM") c.arch = Arch::kQwen3;
  else if (c.architecture == "Gemma3ForCausalLM") c.arch = Arch::kGemma3;
  else if (c.architecture == "MixtralForCausalLM") c.arch = Arch::kMixtral;
  else
    r.fail("architecture '" + c.architecture +
           "' is not supported (LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM and "
           "MixtralForCausalLM are)");
  const std::string model_type = r.string("model_type", "");
  const bool gemma = c.arch == Arch::kGemma3;
  if (gemma && model_type != "gemma3_text")
    r.fail("Gemma3ForCausalLM with model_type '" + model_type + "': only the text model (gemma3_text) is supported");

  // Keys whose presence alone changes the math.
  for (const char* k : {"quantization_config", "attn_logit_softcapping", "final_logit_softcapping",
                        "partial_rotary_factor", "rope_local_base_freq_scaling"})
    if (r.has(k)) r.fail(std::string("key '") + k + "' is not supported (it changes the computation)");
  if (r.boolean("use_bidirectional_attention", false)) r.fail("use_bidirectional_attention: true is not supported");
  if (r.boolean("use_sliding_window", false))
    r.fail("use_sliding_window: true is not supported for " + c.architecture);
  if (r.integer("pretraining_tp", 1) != 1 && false) r.fail("pretraining_tp");  // slicing only: same math

  c.vocab = r.integer("vocab_size");
  c.hidden = r.integer("hidden_size");
  c.intermediate = r.integer("intermediate_size");
  c.layers = r.integer("num_hidden_layers");
  c.heads = r.integer("num_attention_heads");
  c.kv_heads = r.integer("num_key_value_heads", c.heads);
  c.head_dim = r.integer("head_dim", c.heads > 0 ? c.hidden / c.heads : 0);
  c.max_positions = r.integer("max_position_embeddings", 0);
  c.rms_eps = r.number("rms_norm_eps", 1e-6);
  c.initializer_range = r.number("initializer_range", 0.02);  // used only to train from scratch
  if (!(c.initializer_range > 0.0)) r.fail("'initializer_range' must be > 0");
  c.tied = r.boolean("tie_word_embeddings", gemma);
  for (auto [v, name] : {std::pair{c.vocab, "vocab_size"}, {c.hidden, "hidden_size"},
                         {c.intermediate, "intermediate_size"}, {c.layers, "num_hidden_layers"},
                         {c.heads, "num_attention_heads"}, {c.kv_heads, "num_key_value_heads"}, {c.head_dim, "head_dim"}})
    if (v <= 0 || v > (int64_t{1} << 24)) r.fail(std::string("'") + name + "' must be in [1, 2^24]");
  if (c.heads % c.kv_heads != 0) r.fail("num_attention_heads must be a multiple of num_key_value_heads");
  if (c.head_dim % 2 != 0) r.fail("head_dim must be even (rotary embeddings rotate pairs)");

  const std::string act = gemma ? r.string("hidden_activation", r.string("hidden_act", "gelu_pytorch_tanh"))
                                 : r.string("hidden_act", "silu");
  if (act == "silu") c.activation = "silu";
  else if (act == "gelu_pytorch_tanh") c.activation = "gelu_tanh";
  else r.fail("activation '" + act + "' is not supported (silu, gelu_pytorch_tanh)");

  if (c.arch == Arch::kLlama) {
    c.qkv_bias = c.o_bias = r.boolean("attention_bias", false);
    c.mlp_bias = r.boolean("mlp_bias", false);
  } else if (c.arch == Arch::kQwen2) {
    c.qkv_bias = true;
  } else if (c.arch == Arch::kQwen3) {  // Llama's attention with a per-head RMSNorm (w, not 1 + w) of q and k
    c.qkv_bias = c.o_bias = r.boolean("attention_bias", false);
    c.qk_norm = true;
  } else if (c.arch == Arch::kMixtral) {
    c.experts = r.integer("num_local_experts", 8);
    c.experts_per_token = r.integer("num_experts_per_tok", 2);
    if (c.experts < 1 || c.experts > 1024) r.fail("'num_local_experts' must be in [1, 1024]");
    if (c.experts_per_token < 1 || c.experts_per_token > c.experts)
      r.fail("'num_experts_per_tok' must be in [1, num_local_experts]");
    if (c.activation != "silu") r.fail("Mixtral experts with activation '" + act + "' are not supported (silu)");
  } else {
    if (r.boolean("attention_bias", false)) r.fail("attention_bias: true is not supported for Gemma 3");
    c.norm_plus_one = c.qk_norm = c.sandwich_norms = true;
    c.embed_scale = std::sqrt(static_cast<double>(c.hidden));
  }
  c.attn_scale = 1.0 / std::sqrt(gemma ? r.number("query_pre_attn_scalar", static_cast<double>(c.head_dim))
                                       : static_cast<double>(c.head_dim));
  c.bos_id = r.has("bos_token_id") && r.at("bos_token_id").is_int() ? r.at("bos_token_id").as_int() : -1;
  c.eos_id = r.has("eos_token_id") && r.at("eos_token_id").is_int() ? r.at("eos_token_id").as_int() : -1;

  // Layer types: Gemma 3 alternates sliding and full attention.
  std::vector<std::string> types(c.layers, "full_attention");
  if (gemma) {
    if (r.has("layer_types")) {
      const auto& a = r.at("layer_types");
      if (!a.is_array() || static_cast<int64_t>(a.as_array().size()) != c.layers)
        r.fail("'layer_types' must list one type per layer");
      for (int64_t i = 0; i < c.layers; ++i) types[i] = a.as_array()[i].is_string() ? a.as_array()[i].as_string() : "";
    } else {
      const int64_t pattern = r.integer("sliding_window_pattern", r.integer("_sliding_window_pattern", 6));
      for (int64_t i = 0; i < c.layers; ++i)
        types[i] = (pattern > 0 && (i + 1) % pattern == 0) ? "full_attention" : "sliding_attention";
    }
  } else if (r.has("layer_types")) {
    for (const Json& t : r.at("layer_types").as_array())
      if (!t.is_string() || t.as_string() != "full_attention")
        r.fail("'layer_types' other than full_attention are not supported for " + c.architecture);
  }
  for (const std::string& t : types)
    if (t != "full_attention" && t != "sliding_attention") r.fail("layer type '" + t + "' is not supported");
  const bool mixtral_window = c.arch == Arch::kMixtral && r.has("sliding_window");  // Mixtral: every layer
  const int64_t window = gemma ? r.integer("sliding_window", 4096) : mixtral_window ? r.integer("sliding_window") : 0;
  if ((gemma || mixtral_window) && window <= 0) r.fail("'sliding_window' must be > 0");
  if (mixtral_window)
    for (std::string& t : types) t = "sliding_attention";

  // RoPE per layer type.
  RopeSpec full, sliding;
  if (r.has("rope_parameters")) {
    const Json& p = r.at("rope_parameters");
    if (!p.is_object()) r.fail("'rope_parameters' must be an object");
    const bool per_type = p.contains("full_attention") || p.contains("sliding_attention");
    if (per_type) {
      for (const auto& kv : p.as_object())
        if (kv.first != "full_attention" && kv.first != "sliding_attention")
          r.fail("'rope_parameters' has unknown layer type '" + kv.first + "'");
      if (p.contains("full_attention")) full = parse_rope(p.at("full_attention"), full, r, "rope_parameters.full_attention");
      if (p.contains("sliding_attention"))
        sliding = parse_rope(p.at("sliding_attention"), sliding, r, "rope_parameters.sliding_attention");
    } else {
      full = sliding = parse_rope(p, full, r, "rope_parameters");
    }
  } else {
    full.theta = r.number("rope_theta", gemma ? 1e6 : 10000.0);
    sliding.theta = gemma ? r.number("rope_local_base_freq", 10000.0) : full.theta;
    if (r.has("rope_scaling")) full = parse_rope(r.at("rope_scaling"), full, r, "rope_scaling");
    if (!gemma) sliding = full;  // Gemma 3's scaling applies to the global layers only
  }
  for (int64_t i = 0; i < c.layers; ++i) {
    LayerSpec l;
    const bool slide = types[i] == "sliding_attention";
    l.sliding_window = slide ? window : 0;
    l.rope = slide ? sliding : full;
    c.layer.push_back(l);
  }
  return c;
}

HfConfig load_hf_config(const std::string& folder) {
  const std::string path = folder + "/config.json";
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open (not a Hugging Face model folder?)");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_hf_config(text, path);
}

}  // namespace qf::hf
