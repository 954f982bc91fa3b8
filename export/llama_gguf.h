// A Llama-architecture model (or Qwen2 / Qwen3, Llama with q/k/v biases / q/k norms) -> GGUF content
// the way llama.cpp's convert_hf_to_gguf.py lays it out (export/GGUF.md): llama.* (qwen2.*, qwen3.*) hyper-parameters,
// tokenizer.ggml.* vocabulary, tensor names (token_embd, blk.N.attn_q, ...), ggml dimension order,
// for llama the q/k row permutation from Hugging Face's rotate-half RoPE layout to llama.cpp's
// interleaved one, rope_freqs for llama3 scaling, and Q4_0 / Q8_0 / F16 / F32 tensor data.
//
// The input is neutral -- named float tensors with Hugging Face names and shapes, a config and a
// tokenizer description -- so any source (a safetensors folder, a trained run) can feed it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "export/gguf_writer.h"
#include "tokenizer/token_vocab.h"

namespace qf::gguf {

struct FloatTensor {
  std::vector<int64_t> shape;  // row-major, Hugging Face / PyTorch order ([out, in] for weights)
  std::vector<float> data;
};

struct LlamaConfig {
  // "llama"; "qwen2": Llama's decoder with q/k/v biases; "qwen3": with a per-head RMSNorm of q and
  // k (attn_q_norm / attn_k_norm). llama.cpp runs both Qwens with the NEOX rotary layout, which is
  // Hugging Face's: their q/k rows are not permuted.
  std::string architecture = "llama";
  std::string name = "qforge model";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // 0: hidden_size / num_heads
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  std::string rope_scaling = "none";  // none | linear | llama3
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0, rope_high_freq_factor = 4.0;  // llama3
  int64_t rope_original_max_position = 8192;                         // llama3
  bool tie_word_embeddings = false;
  // Mixtral (llama only): experts per layer (0: a dense MLP) and how many each token uses; the
  // tensors model.layers.N.block_sparse_moe.gate.weight and .experts.E.{w1,w2,w3}.weight.
  int64_t num_experts = 0, experts_per_token = 0;
};

struct LlamaSource {
  LlamaConfig config;
  // Hugging Face names: model.embed_tokens.weight, model.layers.N.{input_layernorm,
  // post_attention_layernorm}.weight, model.layers.N.self_attn.{q,k,v,o}_proj.weight,
  // model.layers.N.mlp.{gate,up,down}_proj.weight, model.norm.weight, lm_head.weight (untied);
  // qwen2 also model.layers.N.self_attn.{q,k,v}_proj.bias; qwen3 model.layers.N.self_attn.{q,k}_norm.weight.
  std::map<std::string, FloatTensor> tensors;
  tok::TokenVocab tokenizer;
};

struct LlamaGgufOptions {
  // Type of the 2-D weight matrices (embedding, projections, output); norms and rope_freqs stay
  // F32, as llama.cpp's converter keeps 1-D tensors.
  TensorType matrix_type = TensorType::kF32;
  std::map<std::string, TensorType> per_tensor;  // by GGUF name, e.g. {"output.weight", kQ8_0}
};

// Throws qf::Error naming the missing / unexpected / misshaped tensor or config field.
Content llama_to_gguf(const LlamaSource& src, const LlamaGgufOptions& options = {});

// Hugging Face q/k rows (per head: first half, second half of the rotary dims) -> llama.cpp's
// interleaved pairs: out row h*D + 2*i + j = in row h*D + j*D/2 + i, for a [n_heads * D, K] matrix.
std::vector<float> permute_rope_rows(const std::vector<float>& w, int64_t rows, int64_t k, int64_t n_heads);

// A byte vocabulary (token id = byte value, 256 tokens), for models trained on raw bytes with no
// tokenizer files (qforge's Brown corpus models): written as a SentencePiece-style vocabulary of
// the byte pieces `<0x00>` .. `<0xFF>` (type BYTE, score 0, no special tokens, no BOS, no space
// prefix), except id 32, the space, which is the normal piece U+2581 (llama.cpp writes spaces
// as U+2581 before matching pieces). llama.cpp's "llama" tokenizer then encodes text byte for
// byte: no other piece matches a character, so every byte falls back to its `<0xNN>` piece.
// (A literal U+2581 in the text also becomes id 32.)
tok::TokenVocab byte_vocab();

// The GGUF tensor name llama.cpp's converter gives a Hugging Face Llama (or Qwen2 / Qwen3) tensor
// ("model.layers.3.mlp.up_proj.weight" -> "blk.3.ffn_up.weight"); throws qf::Error for names
// outside those architectures.
std::string llama_gguf_tensor_name(const std::string& hf_name);

// llama.cpp's pre-tokenizer name (tokenizer.ggml.pre) for a byte-level BPE split regex.
std::string llama_cpp_pre_tokenizer(const std::string& regex);

}  // namespace qf::gguf
