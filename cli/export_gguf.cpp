#include "cli/export_gguf.h"

#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "cli/export_source.h"
#include "core/ggml_blocks.h"
#include "export/gguf_writer.h"
#include "export/llama_gguf.h"
#include "train/layers.h"
#ifdef QFORGE_HAVE_TOKENIZER
#include "tokenizer/tokenizer.h"
#endif

namespace qf::cli {
namespace {

namespace fs = std::filesystem;
using gguf::TensorType;

TensorType parse_type(const std::string& s, const std::string& where) {
  if (s == "f32") return TensorType::kF32;
  if (s == "f16") return TensorType::kF16;
  if (s == "q4_0") return TensorType::kQ4_0;
  if (s == "q8_0") return TensorType::kQ8_0;
  throw std::runtime_error(where + ": unknown GGUF type '" + s + "' (f32, f16, q4_0, q8_0)");
}

TensorType type_of(GgmlFormat f) { return f == GgmlFormat::kQ4_0 ? TensorType::kQ4_0 : TensorType::kQ8_0; }

// The tokenizer the GGUF carries: the folder's tokenizer files, or -- for a model trained on raw
// bytes (vocabulary 256, no tokenizer files, as qforge's Brown models are) -- the byte vocabulary.
tok::TokenVocab source_tokenizer(const std::string& folder, int64_t vocab) {
  const bool has_files = fs::exists(fs::path(folder) / "tokenizer.json") || fs::exists(fs::path(folder) / "tokenizer.model");
  if (has_files) {
#ifdef QFORGE_HAVE_TOKENIZER
    return tok::load_tokenizer(folder)->vocab();
#else
    throw std::runtime_error(folder + ": has tokenizer files, but this qforge was built without tokenizers "
                             "(QFORGE_WITH_TOKENIZER; needs libpcre2-dev, libicu-dev, libsentencepiece-dev)");
#endif
  }
  if (vocab == 256) return gguf::byte_vocab();
  throw std::runtime_error(folder + ": no tokenizer.json or tokenizer.model, and the vocabulary (" + std::to_string(vocab) +
                           ") is not the 256 bytes of a byte-level model: a GGUF needs its tokenizer");
}

gguf::LlamaConfig llama_config(const hf::HfConfig& c, const std::string& name) {
  if (c.arch != hf::Arch::kLlama && c.arch != hf::Arch::kMixtral && c.arch != hf::Arch::kQwen2 &&
      c.arch != hf::Arch::kQwen3)
    throw std::runtime_error(
        "--format gguf writes the llama (and Mixtral), qwen2 and qwen3 architectures; this model is " + c.architecture);
  if (c.arch == hf::Arch::kMixtral && c.layer.at(0).sliding_window > 0)
    throw std::runtime_error("--format gguf: llama.cpp's llama has no sliding window; this Mixtral uses one of " +
                             std::to_string(c.layer.at(0).sliding_window));
  gguf::LlamaConfig g;
  g.architecture = c.arch == hf::Arch::kQwen3 ? "qwen3" : c.arch == hf::Arch::kQwen2 ? "qwen2" : "llama";
  g.num_experts = c.experts;
  g.experts_per_token = c.experts_per_token;
  g.name = name;
  g.vocab_size = c.vocab;
  g.hidden_size = c.hidden;
  g.intermediate_size = c.intermediate;
  g.num_layers = c.layers;
  g.num_heads = c.heads;
  g.num_kv_heads = c.kv_heads;
  g.head_dim = c.head_dim;
  g.max_position_embeddings = c.max_positions;
  g.rms_norm_eps = c.rms_eps;
  g.tie_word_embeddings = c.tied;
  if (c.layer.empty()) throw std::runtime_error("--format gguf: the config has no layers");
  const hf::RopeSpec& r = c.layer[0].rope;
  g.rope_theta = r.theta;
  g.rope_scaling = r.type == "default" ? "none" : r.type;
  g.rope_factor = r.factor;
  g.rope_low_freq_factor = r.low_freq_factor;
  g.rope_high_freq_factor = r.high_freq_factor;
  g.rope_original_max_position = r.original_max_position;
  return g;
}

gguf::FloatTensor to_float(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kFloat).contiguous();
  return {c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())};
}

// The GGUF rows of a Hugging Face matrix: for llama, q / k rows permuted to llama.cpp's RoPE layout.
std::vector<float> gguf_rows(const std::string& gguf_name, const gguf::FloatTensor& t, const hf::HfConfig& c) {
  const int64_t rows = t.shape[0], k = t.shape[1];
  if (c.arch != hf::Arch::kLlama) return t.data;
  if (gguf_name.find(".attn_q.") != std::string::npos) return gguf::permute_rope_rows(t.data, rows, k, c.heads);
  if (gguf_name.find(".attn_k.") != std::string::npos) return gguf::permute_rope_rows(t.data, rows, k, c.kv_heads);
  return t.data;
}

// The bytes of a Hugging Face tensor inside its GGUF tensor: all of it, or for a Mixtral expert
// (model.layers.N.block_sparse_moe.experts.E.wK.weight) expert E's slice of the stacked experts.
std::vector<uint8_t> bytes_of(const std::string& hf_name, const gguf::Tensor& t) {
  const std::string key = ".experts.";
  const size_t pos = hf_name.find(key);
  if (pos == std::string::npos || t.ne.size() != 3) return t.data;
  const int64_t e = std::stoll(hf_name.substr(pos + key.size()));
  const size_t per = t.data.size() / static_cast<size_t>(t.ne[2]);
  return {t.data.begin() + static_cast<std::ptrdiff_t>(e * per),
          t.data.begin() + static_cast<std::ptrdiff_t>((e + 1) * per)};
}

const gguf::Tensor& find_tensor(const gguf::Content& content, const std::string& name) {
  for (const auto& t : content.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("internal: GGUF tensor " + name + " was not written");
}

// A layer trained with a ggml block format: its pre-quantization float weight (mask applied) and
// the weight its forward computed with (fake-quant output).
struct TrainedBlocks {
  GgmlFormat format;
  gguf::FloatTensor float_weight, deployed;
};

}  // namespace

std::string export_to_gguf(const std::string& source, const std::string& output, const GgufExportOptions& options) {
  const ExportSource src = load_export_source(source, "--format gguf");
  train::HfModel& model = *src.model;
  const hf::HfConfig& cfg = model.config();

  // What the run trained: ggml block formats (exported exactly), other weight quantizers (which a
  // GGUF cannot hold), activation quantizers (llama.cpp quantizes activations its own way).
  std::map<std::string, TrainedBlocks> trained;  // by Hugging Face tensor name
  std::vector<std::string> other_quant;
  int64_t act_quant = 0;
  {
    torch::NoGradGuard no_grad;
    for (auto& l : model.layers()) {
      auto wq = std::dynamic_pointer_cast<train::WeightQuantizerHook>(l->hook(train::HookSlot::kWeightQuant));
      auto iq = l->hook(train::HookSlot::kInputQuant);
      if (iq && iq->active()) ++act_quant;
      if (!wq || !wq->active()) continue;
      const std::string name = l->layer_name() + ".weight";
      const GgmlFormat f = wq->weight_scheme().ggml_format;
      if (f == GgmlFormat::kNone) {
        other_quant.push_back(l->layer_name());
        continue;
      }
      torch::Tensor w = l->effective_weight().detach();
      if (auto mask = l->hook(train::HookSlot::kWeightMask); mask && mask->active()) w = mask->forward(w);
      trained[name] = {f, to_float(w), to_float(l->deployed_weight().detach())};
    }
  }

  gguf::LlamaGgufOptions opt;
  std::string summary;
  if (!trained.empty()) {
    // A run trained for a block format: those layers keep it (and --quant must agree); what the
    // run kept float (the embedding, ...) is written F32, the values it trained with.
    const GgmlFormat f = trained.begin()->second.format;
    for (const auto& [n, t] : trained)
      if (t.format != f) throw std::runtime_error(source + ": the run mixes q4_0 and q8_0 layers; use --tensor-type per tensor");
    const TensorType ft = type_of(f);
    if (!options.quant.empty() && parse_type(options.quant, "--quant") != ft && options.quant != "f32")
      throw std::runtime_error(source + ": the run trained its weights as " + ggml_format_name(f) + "; --quant " +
                               options.quant + " would re-quantize them (use " + ggml_format_name(f) +
                               ", or f32 for the trained values unquantized)");
    opt.matrix_type = options.quant == "f32" ? TensorType::kF32 : ft;
    for (const auto& [name, t] : model.hf_tensors(false))
      if (t.dim() == 2 && !trained.count(name)) opt.per_tensor[gguf::llama_gguf_tensor_name(name)] = TensorType::kF32;
  } else {
    opt.matrix_type = options.quant.empty() ? TensorType::kF32 : parse_type(options.quant, "--quant");
    if (!other_quant.empty() && opt.matrix_type != TensorType::kF32)
      throw std::runtime_error(source + ": the run quantized " + std::to_string(other_quant.size()) + " layers (e.g. " +
                               other_quant.front() + ") with a scheme GGUF cannot hold; --quant " + options.quant +
                               " would re-quantize them. Train with `weights: {format: q4_0}` (or q8_0), or export "
                               "--quant f32 (the trained values, fake quantization folded)");
  }
  for (const auto& [name, type] : options.tensor_types) {
    const TensorType t = parse_type(type, "--tensor-type " + name);
    for (const auto& [hf_name, tb] : trained)
      if (gguf::llama_gguf_tensor_name(hf_name) == name && t != type_of(tb.format) && t != TensorType::kF32)
        throw std::runtime_error("--tensor-type " + name + "=" + type + ": the run trained this tensor as " +
                                 ggml_format_name(tb.format) + " (only that or f32 keeps its trained values)");
    opt.per_tensor[name] = t;
  }
  if (act_quant > 0 && !options.quiet)
    std::fprintf(stderr,
                 "qforge export: note: %lld layers fake-quantize their inputs in this run; a GGUF has no place for "
                 "that (llama.cpp rounds activations to Q8_0 blocks before Q4_0 / Q8_0 matmuls, its own way)\n",
                 static_cast<long long>(act_quant));

  gguf::LlamaSource ls;
  ls.config = llama_config(cfg, fs::path(fs::absolute(source)).lexically_normal().filename().string());
  if (ls.config.name.empty()) ls.config.name = "qforge model";
  for (const auto& [name, t] : model.hf_tensors(false)) ls.tensors[name] = to_float(t);
  ls.tokenizer = source_tokenizer(model.folder(), cfg.vocab);
  gguf::Content content = gguf::llama_to_gguf(ls, opt);
  for (const auto& [name, type] : options.tensor_types) {
    bool found = false;
    for (const auto& t : content.tensors) found = found || t.name == name;
    if (!found) throw std::runtime_error("--tensor-type " + name + "=" + type + ": the GGUF has no tensor of that name");
  }

  // The proof that the file holds the trained model: every block-format tensor (a) is byte for
  // byte ggml's quantization of the trained float weight -- the codes and fp16 scales the fake
  // quantizer computed -- and (b) dequantizes to exactly the weight the forward used.
  int64_t checked = 0;
  for (const auto& [hf_name, tb] : trained) {
    const std::string g = gguf::llama_gguf_tensor_name(hf_name);
    const gguf::Tensor& t = find_tensor(content, g);
    if (t.type == TensorType::kF32) continue;  // --quant f32: the deployed values themselves
    const int64_t rows = tb.deployed.shape[0], k = tb.deployed.shape[1];
    const std::vector<float> expect_codes_from = gguf_rows(g, tb.float_weight, cfg);
    const std::vector<uint8_t> stored = bytes_of(hf_name, t);
    if (gguf::encode_tensor(t.type, expect_codes_from.data(), rows, k) != stored)
      throw std::runtime_error("GGUF check: " + g + " is not ggml's " + ggml_format_name(tb.format) +
                               " quantization of the trained weights (refusing to write " + output + ")");
    const std::vector<float> deployed = gguf_rows(g, tb.deployed, cfg);
    std::vector<float> back(deployed.size());
    const int64_t nb = k / kGgmlBlock;
    for (int64_t r = 0; r < rows; ++r) {
      if (t.type == TensorType::kQ4_0)
        dequantize_row_q4_0(reinterpret_cast<const BlockQ4_0*>(stored.data()) + r * nb, k, back.data() + r * k);
      else
        dequantize_row_q8_0(reinterpret_cast<const BlockQ8_0*>(stored.data()) + r * nb, k, back.data() + r * k);
    }
    for (size_t i = 0; i < back.size(); ++i)
      if (!(back[i] == deployed[i]))
        throw std::runtime_error("GGUF check: " + g + " dequantizes to " + std::to_string(back[i]) + " at element " +
                                 std::to_string(i) + ", the trained forward used " + std::to_string(deployed[i]) +
                                 " (refusing to write " + output + ")");
    ++checked;
  }

  gguf::write_gguf(output, content);
  std::map<std::string, int64_t> by_type;
  for (const auto& t : content.tensors) ++by_type[gguf::tensor_type_name(t.type)];
  summary = "wrote " + output + " (" + std::to_string(fs::file_size(output) / 1024) + " KiB, " +
            std::to_string(content.tensors.size()) + " tensors:";
  for (const auto& [n, c] : by_type) summary += " " + std::to_string(c) + " " + n;
  summary += "; tokenizer " + ls.tokenizer.model + ", " + std::to_string(ls.tokenizer.pieces.size()) + " tokens)";
  if (checked > 0)
    summary += "\n" + std::to_string(checked) + " tensors hold the run's trained " +
               ggml_format_name(trained.begin()->second.format) +
               " blocks exactly (codes and scales = ggml's quantizer on the trained weights; dequantized = the "
               "weights the trained forward used)";
  return summary;
}

}  // namespace qf::cli
