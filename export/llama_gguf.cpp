#include "export/llama_gguf.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <tuple>

#include "core/error.h"
#include "tokenizer/token_vocab.h"

namespace qf::gguf {
namespace {

// The split regexes of the tokenizers llama.cpp recognises (as tokenizer.json writes them).
const char* const kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// llama_ftype of the file (general.file_type): what most matrices are.
uint32_t file_type(TensorType t) {
  switch (t) {
    case TensorType::kF32: return 0;   // LLAMA_FTYPE_ALL_F32
    case TensorType::kF16: return 1;   // LLAMA_FTYPE_MOSTLY_F16
    case TensorType::kQ4_0: return 2;  // LLAMA_FTYPE_MOSTLY_Q4_0
    case TensorType::kQ8_0: return 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
  }
  return 0;
}

}  // namespace

std::string llama_cpp_pre_tokenizer(const std::string& regex) {
  if (regex == kLlama3Regex) return "llama-bpe";
  if (regex == kQwen2Regex) return "qwen2";
  if (regex.empty()) return "gpt-2";
  throw Error("byte-level BPE split regex not known to llama.cpp (tokenizer.ggml.pre): " + regex);
}

tok::TokenVocab byte_vocab() {
  tok::TokenVocab v;
  v.model = "sentencepiece";
  for (int b = 0; b < 256; ++b) {
    char piece[8];
    std::snprintf(piece, sizeof piece, "<0x%02X>", b);
    // The space is the one byte that needs a normal piece: llama.cpp's SentencePiece path
    // rewrites every ' ' of the text as U+2581 before matching pieces, so "<0x20>" would never be
    // reached (a space would come out as the three bytes of U+2581).
    const bool space = b == ' ';
    v.pieces.emplace_back(space ? "\xE2\x96\x81" : piece);  // U+2581
    v.scores.push_back(0.0f);
    v.types.push_back(space ? tok::TokenType::kNormal : tok::TokenType::kByte);
  }
  return v;
}

std::string llama_gguf_tensor_name(const std::string& hf) {
  static const std::pair<const char*, const char*> kTop[] = {{"model.embed_tokens.weight", "token_embd.weight"},
                                                             {"model.norm.weight", "output_norm.weight"},
                                                             {"lm_head.weight", "output.weight"}};
  for (const auto& [from, to] : kTop)
    if (hf == from) return to;
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},    {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},       {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},       {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},          {"self_attn.v_proj.bias", "attn_v.bias"}};
  const std::string prefix = "model.layers.";
  auto is_number = [](const std::string& v) {
    return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
  };
  if (hf.compare(0, prefix.size(), prefix) == 0) {
    const size_t dot = hf.find('.', prefix.size());
    const std::string n = hf.substr(prefix.size(), dot == std::string::npos ? std::string::npos : dot - prefix.size());
    if (is_number(n) && dot != std::string::npos) {
      const std::string rest = hf.substr(dot + 1);
      for (const auto& [from, to] : kLayer)
        if (rest == from) return "blk." + n + "." + to;
      // Mixtral: the router, and each expert's w1 / w3 / w2 as one slice of the stacked tensors.
      const std::string moe = "block_sparse_moe.", experts = moe + "experts.";
      if (rest == moe + "gate.weight") return "blk." + n + ".ffn_gate_inp.weight";
      if (rest.compare(0, experts.size(), experts) == 0) {
        const size_t e_end = rest.find('.', experts.size());
        const std::string e =
            rest.substr(experts.size(), e_end == std::string::npos ? std::string::npos : e_end - experts.size());
        const std::string w = e_end == std::string::npos ? "" : rest.substr(e_end + 1);
        if (is_number(e) && w == "w1.weight") return "blk." + n + ".ffn_gate_exps.weight";
        if (is_number(e) && w == "w3.weight") return "blk." + n + ".ffn_up_exps.weight";
        if (is_number(e) && w == "w2.weight") return "blk." + n + ".ffn_down_exps.weight";
      }
    }
  }
  throw Error("llama GGUF: tensor '" + hf + "' has no place in llama.cpp's llama architecture");
}

std::vector<float> permute_rope_rows(const std::vector<float>& w, int64_t rows, int64_t k, int64_t n_heads) {
  if (n_heads <= 0 || rows % n_heads != 0 || (rows / n_heads) % 2 != 0)
    throw Error("q/k permutation: " + std::to_string(rows) + " rows are not " + std::to_string(n_heads) +
                " heads of an even dimension");
  const int64_t d = rows / n_heads, half = d / 2;
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        const float* src = w.data() + (h * d + j * half + i) * k;
        std::copy(src, src + k, out.data() + (h * d + 2 * i + j) * k);
      }
  return out;
}

Content llama_to_gguf(const LlamaSource& src, const LlamaGgufOptions& options) {
  const LlamaConfig& c = src.config;
  const bool qwen2 = c.architecture == "qwen2", qwen3 = c.architecture == "qwen3", neox = qwen2 || qwen3;
  if (c.architecture != "llama" && !neox)
    throw Error("llama GGUF: architecture '" + c.architecture + "' is not written (llama, qwen2, qwen3)");
  auto need = [](int64_t v, const char* what) {
    if (v <= 0) throw Error(std::string("llama GGUF: config ") + what + " must be > 0");
  };
  need(c.vocab_size, "vocab_size");
  need(c.hidden_size, "hidden_size");
  need(c.intermediate_size, "intermediate_size");
  need(c.num_layers, "num_hidden_layers");
  need(c.num_heads, "num_attention_heads");
  need(c.num_kv_heads, "num_key_value_heads");
  need(c.max_position_embeddings, "max_position_embeddings");
  const int64_t hd = c.head_dim > 0 ? c.head_dim : c.hidden_size / c.num_heads;
  if (c.num_heads % c.num_kv_heads != 0) throw Error("llama GGUF: num_attention_heads is not a multiple of num_key_value_heads");
  const tok::TokenVocab& tv = src.tokenizer;
  if (static_cast<int64_t>(tv.pieces.size()) != c.vocab_size)
    throw Error("llama GGUF: the tokenizer has " + std::to_string(tv.pieces.size()) +
                " tokens, the model's vocab_size is " + std::to_string(c.vocab_size));

  Content out;
  auto kv = [&](const std::string& k, Value v) { out.metadata.push_back({k, std::move(v)}); };
  const auto u32 = [](int64_t v) { return Value::u32(static_cast<uint32_t>(v)); };
  kv("general.architecture", Value::str(c.architecture));
  const std::string a = c.architecture + ".";
  kv("general.name", Value::str(c.name));
  kv("general.alignment", Value::u32(static_cast<uint32_t>(out.alignment)));
  kv("general.file_type", Value::u32(file_type(options.matrix_type)));
  if (options.matrix_type == TensorType::kQ4_0 || options.matrix_type == TensorType::kQ8_0)
    kv("general.quantization_version", Value::u32(2));  // GGML_QNT_VERSION
  kv(a + "vocab_size", u32(c.vocab_size));
  kv(a + "context_length", u32(c.max_position_embeddings));
  kv(a + "embedding_length", u32(c.hidden_size));
  kv(a + "block_count", u32(c.num_layers));
  kv(a + "feed_forward_length", u32(c.intermediate_size));
  kv(a + "attention.head_count", u32(c.num_heads));
  kv(a + "attention.head_count_kv", u32(c.num_kv_heads));
  kv(a + "rope.freq_base", Value::f32(static_cast<float>(c.rope_theta)));
  kv(a + "attention.layer_norm_rms_epsilon", Value::f32(static_cast<float>(c.rms_norm_eps)));
  kv(a + "rope.dimension_count", u32(hd));
  if (c.num_experts > 0) {  // Mixtral: llama.cpp's llama with a softmax router over the experts, top k renormalised
    if (c.architecture != "llama") throw Error("llama GGUF: experts are written for the llama architecture only");
    if (c.experts_per_token < 1 || c.experts_per_token > c.num_experts)
      throw Error("llama GGUF: experts_per_token must be in [1, num_experts]");
    kv(a + "expert_count", u32(c.num_experts));
    kv(a + "expert_used_count", u32(c.experts_per_token));
  }
  if (hd != c.hidden_size / c.num_heads) {
    kv(a + "attention.key_length", u32(hd));
    kv(a + "attention.value_length", u32(hd));
  }
  if (c.rope_scaling == "linear") {
    kv(a + "rope.scaling.type", Value::str("linear"));
    kv(a + "rope.scaling.factor", Value::f32(static_cast<float>(c.rope_factor)));
  } else if (c.rope_scaling != "none" && c.rope_scaling != "llama3" && c.rope_scaling != "default") {
    throw Error("llama GGUF: rope scaling '" + c.rope_scaling + "' is not supported (none, linear, llama3)");
  } else if (neox && c.rope_scaling == "llama3") {
    throw Error("llama GGUF: rope scaling 'llama3' is written for the llama architecture only");
  }

  // Tokenizer.
  if (tv.model == "bpe") {
    kv("tokenizer.ggml.model", Value::str("gpt2"));
    kv("tokenizer.ggml.pre", Value::str(llama_cpp_pre_tokenizer(tv.pre_tokenizer_regex)));
  } else if (tv.model == "sentencepiece") {
    kv("tokenizer.ggml.model", Value::str("llama"));
    kv("tokenizer.ggml.pre", Value::str("default"));
  } else {
    throw Error("llama GGUF: tokenizer model '" + tv.model + "' is neither bpe nor sentencepiece");
  }
  kv("tokenizer.ggml.tokens", Value::strings(tv.pieces));
  if (tv.model == "sentencepiece") kv("tokenizer.ggml.scores", Value::f32s(tv.scores));
  std::vector<int32_t> types;
  for (tok::TokenType t : tv.types) types.push_back(static_cast<int32_t>(t));
  kv("tokenizer.ggml.token_type", Value::i32s(types));
  if (tv.model == "bpe") kv("tokenizer.ggml.merges", Value::strings(tv.merges));
  if (tv.bos_id >= 0) kv("tokenizer.ggml.bos_token_id", u32(tv.bos_id));
  if (tv.eos_id >= 0) kv("tokenizer.ggml.eos_token_id", u32(tv.eos_id));
  if (tv.unk_id >= 0) kv("tokenizer.ggml.unknown_token_id", u32(tv.unk_id));
  if (tv.pad_id >= 0) kv("tokenizer.ggml.padding_token_id", u32(tv.pad_id));
  kv("tokenizer.ggml.add_bos_token", Value::boolean(tv.add_bos));
  kv("tokenizer.ggml.add_eos_token", Value::boolean(false));
  if (tv.model == "sentencepiece") kv("tokenizer.ggml.add_space_prefix", Value::boolean(tv.add_space_prefix));

  // Tensors.
  std::set<std::string> used;
  auto take = [&](const std::string& hf, const std::vector<int64_t>& shape) -> const FloatTensor& {
    auto it = src.tensors.find(hf);
    if (it == src.tensors.end()) throw Error("llama GGUF: missing tensor '" + hf + "'");
    if (it->second.shape != shape) {
      std::string want, got;
      for (int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (int64_t d : it->second.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      throw Error("llama GGUF: tensor '" + hf + "' has shape [" + got + "], expected [" + want + "]");
    }
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (static_cast<int64_t>(it->second.data.size()) != n)
      throw Error("llama GGUF: tensor '" + hf + "' has " + std::to_string(it->second.data.size()) + " values for its shape");
    used.insert(hf);
    return it->second;
  };
  auto type_for = [&](const std::string& name, bool matrix) {
    auto it = options.per_tensor.find(name);
    if (it != options.per_tensor.end()) return it->second;
    return matrix ? options.matrix_type : TensorType::kF32;
  };
  // ne: ggml's dimensions, ne[0] = k the row length; the data are prod(ne[1..]) rows of k. `t` its type.
  auto add_ne = [&](const std::string& name, const std::vector<float>& data, std::vector<int64_t> ne, TensorType t) {
    const int64_t k = ne[0];
    int64_t rows = 1;
    for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
    if (block_elements(t) > 1 && k % block_elements(t) != 0)
      throw Error("llama GGUF: " + name + " has rows of " + std::to_string(k) + " elements, not a multiple of " +
                  std::to_string(block_elements(t)) + " as " + tensor_type_name(t) + " needs");
    Tensor g;
    g.name = name;
    g.ne = std::move(ne);
    g.type = t;
    g.data = encode_tensor(t, data.data(), rows, k);
    out.tensors.push_back(std::move(g));
  };
  auto add = [&](const std::string& name, const std::vector<float>& data, int64_t rows, int64_t k, bool matrix) {
    add_ne(name, data, matrix ? std::vector<int64_t>{k, rows} : std::vector<int64_t>{k}, type_for(name, matrix));
  };
  const int64_t H = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  add("token_embd.weight", take("model.embed_tokens.weight", {V, H}).data, V, H, true);
  if (c.rope_scaling == "llama3") {
    // Per rotary frequency, the divisor llama.cpp applies (rope_freqs.weight), from the llama3 rule:
    // 1 above the high-frequency band, `factor` below the low-frequency band, smooth in between.
    std::vector<float> f;
    const double lo_wl = c.rope_original_max_position / c.rope_low_freq_factor;
    const double hi_wl = c.rope_original_max_position / c.rope_high_freq_factor;
    for (int64_t i = 0; i < hd; i += 2) {
      const double freq = 1.0 / std::pow(c.rope_theta, static_cast<double>(i) / static_cast<double>(hd));
      const double wl = 2.0 * M_PI / freq;
      if (wl < hi_wl) {
        f.push_back(1.0f);
      } else if (wl > lo_wl) {
        f.push_back(static_cast<float>(c.rope_factor));
      } else {
        const double smooth = (c.rope_original_max_position / wl - c.rope_low_freq_factor) /
                              (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f.push_back(static_cast<float>(1.0 / ((1.0 - smooth) / c.rope_factor + smooth)));
      }
    }
    add("rope_freqs.weight", f, 1, static_cast<int64_t>(f.size()), false);
  }
  const int64_t q_rows = c.num_heads * hd, kv_rows = c.num_kv_heads * hd;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", b = "blk." + std::to_string(l) + ".";
    add(b + "attn_norm.weight", take(p + "input_layernorm.weight", {H}).data, 1, H, false);
    // llama.cpp's llama rotates interleaved pairs (q/k rows permuted to match); its qwen2 / qwen3
    // rotate halves, as Hugging Face does.
    const auto& q = take(p + "self_attn.q_proj.weight", {q_rows, H}).data;
    const auto& k = take(p + "self_attn.k_proj.weight", {kv_rows, H}).data;
    add(b + "attn_q.weight", neox ? q : permute_rope_rows(q, q_rows, H, c.num_heads), q_rows, H, true);
    add(b + "attn_k.weight", neox ? k : permute_rope_rows(k, kv_rows, H, c.num_kv_heads), kv_rows, H, true);
    if (qwen2) {
      add(b + "attn_q.bias", take(p + "self_attn.q_proj.bias", {q_rows}).data, 1, q_rows, false);
      add(b + "attn_k.bias", take(p + "self_attn.k_proj.bias", {kv_rows}).data, 1, kv_rows, false);
      add(b + "attn_v.bias", take(p + "self_attn.v_proj.bias", {kv_rows}).data, 1, kv_rows, false);
    }
    if (qwen3) {
      add(b + "attn_q_norm.weight", take(p + "self_attn.q_norm.weight", {hd}).data, 1, hd, false);
      add(b + "attn_k_norm.weight", take(p + "self_attn.k_norm.weight", {hd}).data, 1, hd, false);
    }
    add(b + "attn_v.weight", take(p + "self_attn.v_proj.weight", {kv_rows, H}).data, kv_rows, H, true);
    add(b + "attn_output.weight", take(p + "self_attn.o_proj.weight", {H, q_rows}).data, H, q_rows, true);
    add(b + "ffn_norm.weight", take(p + "post_attention_layernorm.weight", {H}).data, 1, H, false);
    if (c.num_experts == 0) {
      add(b + "ffn_gate.weight", take(p + "mlp.gate_proj.weight", {F, H}).data, F, H, true);
      add(b + "ffn_up.weight", take(p + "mlp.up_proj.weight", {F, H}).data, F, H, true);
      add(b + "ffn_down.weight", take(p + "mlp.down_proj.weight", {H, F}).data, H, F, true);
      continue;
    }
    // Mixtral: the router stays F32 (as llama.cpp's converter and quantizer keep it); each of w1 (gate),
    // w3 (up) and w2 (down) is one tensor of the experts stacked, ne = [in, out, experts].
    const std::string m = p + "block_sparse_moe.";
    const int64_t E = c.num_experts;
    add_ne(b + "ffn_gate_inp.weight", take(m + "gate.weight", {E, H}).data, {H, E},
           type_for(b + "ffn_gate_inp.weight", false));
    for (const auto& [w, g, out_rows, in_k] :
         {std::tuple<const char*, const char*, int64_t, int64_t>{"w1", "ffn_gate_exps", F, H},
          {"w3", "ffn_up_exps", F, H},
          {"w2", "ffn_down_exps", H, F}}) {
      std::vector<float> stacked;
      for (int64_t e = 0; e < E; ++e) {
        const auto& d = take(m + "experts." + std::to_string(e) + "." + w + ".weight", {out_rows, in_k}).data;
        stacked.insert(stacked.end(), d.begin(), d.end());
      }
      add_ne(b + g + ".weight", stacked, {in_k, out_rows, E}, type_for(b + g + ".weight", true));
    }
  }
  add("output_norm.weight", take("model.norm.weight", {H}).data, 1, H, false);
  if (!c.tie_word_embeddings) add("output.weight", take("lm_head.weight", {V, H}).data, V, H, true);
  for (const auto& [name, t] : src.tensors)
    if (!used.count(name) && !(c.tie_word_embeddings && name == "lm_head.weight"))
      throw Error("llama GGUF: tensor '" + name + "' has no place in llama.cpp's " + c.architecture + " architecture");
  return out;
}

}  // namespace qf::gguf
