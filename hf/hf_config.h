// config.json of a Hugging Face decoder, parsed into the few numbers that define its math
// (std-only). Five architectures: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM,
// Gemma3ForCausalLM (text), MixtralForCausalLM.
// Both spellings of RoPE are read: transformers 4.x (`rope_theta`, `rope_scaling`, Gemma 3's
// `rope_local_base_freq`) and 5.x (`rope_parameters`, per layer type for Gemma 3). Anything that
// would change the computation and is not implemented (another architecture, RoPE type, soft-
// capping, a quantization_config, bidirectional attention, ...) is refused by name: a model is
// never run with a guessed meaning.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qf::hf {

enum class Arch { kLlama, kQwen2, kQwen3, kGemma3, kMixtral };
const char* arch_name(Arch a);

// Rotary embedding of one layer type. Frequencies: inv_freq[i] = theta^(-2i/head_dim), then
//   linear: / factor;  llama3: the three-band rule (low/high_freq_factor, original context).
struct RopeSpec {
  std::string type = "default";  // default | linear | llama3
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
};

// The per-layer differences (Gemma 3 alternates sliding-window and global layers).
struct LayerSpec {
  int64_t sliding_window = 0;  // 0: full causal attention; w: query i sees keys i-w+1 .. i
  RopeSpec rope;
};

struct HfConfig {
  Arch arch = Arch::kLlama;
  std::string architecture;  // as written ("LlamaForCausalLM")
  int64_t vocab = 0, hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
  int64_t max_positions = 0;
  double rms_eps = 1e-6;
  double initializer_range = 0.02;  // std of transformers' normal init (training from scratch)
  bool tied = false;          // lm_head shares the embedding
  std::string activation;     // "silu" | "gelu_tanh"
  bool qkv_bias = false;      // q/k/v projections have biases (Qwen2; Llama attention_bias)
  bool o_bias = false;        // o_proj has a bias (Llama attention_bias)
  bool mlp_bias = false;      // gate/up/down have biases (Llama mlp_bias)
  // Gemma 3 (and Qwen3's q/k norms)
  bool norm_plus_one = false;  // RMSNorm scales by (1 + w)
  bool qk_norm = false;        // per-head RMSNorm of q and k before RoPE (Gemma 3, Qwen3)
  bool sandwich_norms = false; // post-attention and pre/post feed-forward norms
  double embed_scale = 1.0;    // sqrt(hidden) for Gemma
  double attn_scale = 0.0;     // softmax scale: head_dim^-0.5, or query_pre_attn_scalar^-0.5
  int64_t bos_id = -1, eos_id = -1;
  // Mixtral: a routed mixture of `experts` SwiGLU experts (w1 gate, w3 up, w2 down) per layer,
  // softmax router (block_sparse_moe.gate, no bias), top `experts_per_token`, the chosen
  // probabilities renormalized to sum 1. 0 experts: a dense MLP.
  int64_t experts = 0, experts_per_token = 0;
  std::vector<LayerSpec> layer;  // one per layer
};

// Parses config.json's text; `where` names the file in errors. Throws qf::Error.
HfConfig parse_hf_config(const std::string& json_text, const std::string& where);
HfConfig load_hf_config(const std::string& folder);  // folder/config.json

// Inverse frequencies [head_dim / 2] of a RoPE spec, in double (rounded once to float by callers).
std::vector<double> rope_inv_freq(const RopeSpec& r, int64_t head_dim);

}  // namespace qf::hf
