#include "fixture_llama.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/fp16.h"
#include "core/json.h"
#include "tokenizer/tokenizer.h"

namespace qf::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::ostringstream b;
  b << in.rdbuf();
  return b.str();
}

}  // namespace

gguf::LlamaSource load_fixture_llama(const std::string& model_dir, const std::string& tokenizer_dir) {
  gguf::LlamaSource src;
  const std::string st = slurp(model_dir + "/model.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, st.data(), 8);
  const Json header = Json::parse(st.substr(8, n));
  const char* base = st.data() + 8 + n;
  for (const auto& [name, info] : header.as_object()) {
    if (name == "__metadata__") continue;
    gguf::FloatTensor t;
    for (const Json& d : info.at("shape").as_array()) t.shape.push_back(d.as_int());
    const int64_t b = info.at("data_offsets").as_array()[0].as_int();
    const int64_t e = info.at("data_offsets").as_array()[1].as_int();
    const std::string& dt = info.at("dtype").as_string();
    const int64_t width = dt == "F32" ? 4 : 2;
    for (int64_t i = 0; i < (e - b) / width; ++i) {
      const char* p = base + b + i * width;
      if (dt == "F32") {
        float f;
        std::memcpy(&f, p, 4);
        t.data.push_back(f);
      } else {
        uint16_t h;
        std::memcpy(&h, p, 2);
        if (dt == "BF16") {
          const uint32_t u = static_cast<uint32_t>(h) << 16;
          float f;
          std::memcpy(&f, &u, 4);
          t.data.push_back(f);
        } else if (dt == "F16") {
          t.data.push_back(fp16_to_fp32(h));
        } else {
          throw std::runtime_error("fixture dtype " + dt);
        }
      }
    }
    src.tensors[name] = std::move(t);
  }
  const Json cfg = Json::parse(slurp(model_dir + "/config.json"));
  gguf::LlamaConfig& c = src.config;
  const std::string arch = cfg.at("architectures").as_array()[0].as_string();
  if (arch != "LlamaForCausalLM" && arch != "Qwen2ForCausalLM" && arch != "Qwen3ForCausalLM" &&
      arch != "MixtralForCausalLM")
    throw std::runtime_error("fixture architecture " + arch);
  c.architecture = arch == "Qwen3ForCausalLM" ? "qwen3" : arch == "Qwen2ForCausalLM" ? "qwen2" : "llama";
  if (arch == "MixtralForCausalLM") {  // llama.cpp's llama with experts
    c.num_experts = cfg.at("num_local_experts").as_int();
    c.experts_per_token = cfg.at("num_experts_per_tok").as_int();
  }
  c.name = "qforge fixture " + c.architecture;
  c.vocab_size = cfg.at("vocab_size").as_int();
  c.hidden_size = cfg.at("hidden_size").as_int();
  c.intermediate_size = cfg.at("intermediate_size").as_int();
  c.num_layers = cfg.at("num_hidden_layers").as_int();
  c.num_heads = cfg.at("num_attention_heads").as_int();
  c.num_kv_heads = cfg.at("num_key_value_heads").as_int();
  c.head_dim = cfg.at("head_dim").as_int();
  c.max_position_embeddings = cfg.at("max_position_embeddings").as_int();
  c.rms_norm_eps = cfg.at("rms_norm_eps").as_double();
  c.tie_word_embeddings = cfg.at("tie_word_embeddings").as_bool();
  const Json& rope = cfg.at("rope_parameters");
  c.rope_theta = rope.at("rope_theta").as_double();
  c.rope_scaling = rope.at("rope_type").as_string();
  if (c.rope_scaling == "llama3") {
    c.rope_factor = rope.at("factor").as_double();
    c.rope_low_freq_factor = rope.at("low_freq_factor").as_double();
    c.rope_high_freq_factor = rope.at("high_freq_factor").as_double();
    c.rope_original_max_position = rope.at("original_max_position_embeddings").as_int();
  }
  src.tokenizer = tok::load_tokenizer(tokenizer_dir)->vocab();
  return src;
}

}  // namespace qf::test
