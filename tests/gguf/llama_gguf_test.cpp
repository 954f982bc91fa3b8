// The transformers Llama fixture as llama.cpp's converter would write it: metadata, tokenizer,
// tensor names and ggml shapes, the q/k row permutation, llama3 rope_freqs, and Q8_0 / Q4_0 data
// equal to core's ggml block quantizers. (Whether llama.cpp computes the fixture's logits from
// these files is tests/gguf/llama_cpp/oracle.mjs.)
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/ggml_blocks.h"
#include "export/llama_gguf.h"
#include "fixture_llama.h"
#include "runtime/gguf_reader.h"

namespace qf::gguf {
namespace {

const LlamaSource& fixture() {
  static const LlamaSource s =
      test::load_fixture_llama(QF_HF_FIXTURES "/llama", QF_HF_FIXTURES "/tokenizer_bpe");
  return s;
}

File write_and_read(const LlamaSource& src, TensorType type) {
  LlamaGgufOptions opt;
  opt.matrix_type = type;
  const std::string p = (std::filesystem::temp_directory_path() /
                         ("qf_llama_" + std::string(tensor_type_name(type)) + ".gguf")).string();
  write_gguf(p, llama_to_gguf(src, opt));
  File f = read_gguf(p);
  std::filesystem::remove(p);
  return f;
}

TEST(LlamaGguf, MetadataIsWhatLlamaCppReads) {
  const File f = write_and_read(fixture(), TensorType::kF32);
  EXPECT_EQ(f.at("general.architecture").as_string(), "llama");
  EXPECT_EQ(f.at("general.file_type").as_uint(), 0u);
  EXPECT_EQ(f.at("llama.context_length").as_uint(), 256u);
  EXPECT_EQ(f.at("llama.embedding_length").as_uint(), 64u);
  EXPECT_EQ(f.at("llama.block_count").as_uint(), 2u);
  EXPECT_EQ(f.at("llama.feed_forward_length").as_uint(), 128u);
  EXPECT_EQ(f.at("llama.attention.head_count").as_uint(), 4u);
  EXPECT_EQ(f.at("llama.attention.head_count_kv").as_uint(), 2u);
  EXPECT_EQ(f.at("llama.rope.dimension_count").as_uint(), 16u);
  EXPECT_EQ(f.at("llama.vocab_size").as_uint(), 512u);
  EXPECT_EQ(f.at("llama.rope.freq_base").as_float(), 500000.0);
  EXPECT_EQ(f.at("llama.attention.layer_norm_rms_epsilon").as_float(), static_cast<double>(1e-5f));
  EXPECT_EQ(f.find("llama.rope.scaling.type"), nullptr);  // llama3 scaling travels as rope_freqs
  EXPECT_EQ(f.at("tokenizer.ggml.model").as_string(), "gpt2");
  EXPECT_EQ(f.at("tokenizer.ggml.pre").as_string(), "llama-bpe");
  ASSERT_EQ(f.at("tokenizer.ggml.tokens").arr.size(), 512u);
  EXPECT_EQ(f.at("tokenizer.ggml.tokens").arr[0].s, "<|begin_of_text|>");
  EXPECT_EQ(f.at("tokenizer.ggml.token_type").arr[0].i, 3);  // control
  EXPECT_EQ(f.at("tokenizer.ggml.token_type").arr[100].i, 1);
  ASSERT_EQ(f.at("tokenizer.ggml.merges").arr.size(), 254u);
  EXPECT_EQ(f.at("tokenizer.ggml.merges").arr[0].s, "a n");
  EXPECT_EQ(f.at("tokenizer.ggml.bos_token_id").as_uint(), 0u);
  EXPECT_EQ(f.at("tokenizer.ggml.eos_token_id").as_uint(), 1u);
}

TEST(LlamaGguf, TensorNamesShapesAndLayouts) {
  const LlamaSource& src = fixture();
  const File f = write_and_read(src, TensorType::kF32);
  std::set<std::string> names;
  for (const TensorInfo& t : f.tensors) names.insert(t.name);
  std::set<std::string> want = {"token_embd.weight", "rope_freqs.weight", "output_norm.weight", "output.weight"};
  for (const char* b : {"blk.0.", "blk.1."})
    for (const char* n : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                          "ffn_up", "ffn_down"})
      want.insert(std::string(b) + n + ".weight");
  EXPECT_EQ(names, want);
  EXPECT_EQ(f.tensor("token_embd.weight")->ne, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(f.tensor("blk.0.attn_k.weight")->ne, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(f.tensor("blk.0.ffn_down.weight")->ne, (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(f.tensor("blk.0.attn_norm.weight")->ne, (std::vector<int64_t>{64}));
  EXPECT_EQ(dequantize(f, *f.tensor("token_embd.weight")), src.tensors.at("model.embed_tokens.weight").data);
  EXPECT_EQ(dequantize(f, *f.tensor("blk.1.ffn_down.weight")), src.tensors.at("model.layers.1.mlp.down_proj.weight").data);
  // q/k: GGUF row h*16 + 2i + j is Hugging Face row h*16 + 8j + i (rotate-half -> interleaved).
  for (const char* which : {"q", "k"}) {
    const auto& hf = src.tensors.at(std::string("model.layers.1.self_attn.") + which + "_proj.weight");
    const auto g = dequantize(f, *f.tensor(std::string("blk.1.attn_") + which + ".weight"));
    const int64_t rows = hf.shape[0], k = hf.shape[1];
    for (int64_t h = 0; h < rows / 16; ++h)
      for (int64_t i = 0; i < 8; ++i)
        for (int64_t j = 0; j < 2; ++j)
          for (int64_t c = 0; c < k; ++c)
            ASSERT_EQ(g[(h * 16 + 2 * i + j) * k + c], hf.data[(h * 16 + 8 * j + i) * k + c]) << which;
  }
  // V is not permuted.
  EXPECT_EQ(dequantize(f, *f.tensor("blk.0.attn_v.weight")), src.tensors.at("model.layers.0.self_attn.v_proj.weight").data);
  // llama3 (theta 5e5, original context 64, factors 1 / 4, x32): rotary pair 0 is high-frequency
  // (divisor 1), pair 1 is in the smooth band, pairs 2..7 low-frequency (divisor 32).
  const auto rf = dequantize(f, *f.tensor("rope_freqs.weight"));
  ASSERT_EQ(rf.size(), 8u);
  EXPECT_EQ(rf[0], 1.0f);
  EXPECT_GT(rf[1], 1.0f);
  EXPECT_LT(rf[1], 32.0f);
  for (int i = 2; i < 8; ++i) EXPECT_EQ(rf[i], 32.0f);
}

TEST(LlamaGguf, QuantizedTensorsAreGgmlsBlocks) {
  const LlamaSource& src = fixture();
  for (TensorType t : {TensorType::kQ8_0, TensorType::kQ4_0}) {
    const File f = write_and_read(src, t);
    EXPECT_EQ(f.at("general.file_type").as_uint(), t == TensorType::kQ8_0 ? 7u : 2u);
    EXPECT_EQ(f.at("general.quantization_version").as_uint(), 2u);
    EXPECT_EQ(f.tensor("blk.0.attn_norm.weight")->type, TensorType::kF32);
    const GgmlFormat g = t == TensorType::kQ8_0 ? GgmlFormat::kQ8_0 : GgmlFormat::kQ4_0;
    for (const auto& [gguf_name, hf_name, permute_heads] :
         {std::tuple<std::string, std::string, int>{"blk.0.ffn_up.weight", "model.layers.0.mlp.up_proj.weight", 0},
          {"output.weight", "lm_head.weight", 0},
          {"blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight", 4}}) {
      const TensorInfo& ti = *f.tensor(gguf_name);
      EXPECT_EQ(ti.type, t) << gguf_name;
      const auto& hf = src.tensors.at(hf_name);
      std::vector<float> w = hf.data;
      if (permute_heads) w = permute_rope_rows(w, hf.shape[0], hf.shape[1], permute_heads);
      std::vector<float> want(w.size());
      fake_quantize_ggml(g, w.data(), hf.shape[0], hf.shape[1], want.data());
      EXPECT_EQ(dequantize(f, ti), want) << gguf_name;
    }
  }
}

std::string convert_error(const LlamaSource& src, LlamaGgufOptions opt = {}) {
  try {
    llama_to_gguf(src, opt);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LlamaGguf, BadSourcesAreRefusedByName) {
  LlamaSource s = fixture();
  s.tensors.erase("model.layers.1.mlp.up_proj.weight");
  EXPECT_NE(convert_error(s).find("missing tensor 'model.layers.1.mlp.up_proj.weight'"), std::string::npos);
  s = fixture();
  s.tensors["model.layers.0.self_attn.q_proj.bias"] = FloatTensor{{64}, std::vector<float>(64)};
  EXPECT_NE(convert_error(s).find("'model.layers.0.self_attn.q_proj.bias' has no place"), std::string::npos);
  s = fixture();
  s.tensors["model.norm.weight"].shape = {32, 2};
  EXPECT_NE(convert_error(s).find("'model.norm.weight' has shape [32, 2], expected [64]"), std::string::npos);
  s = fixture();
  s.tokenizer.pieces.pop_back();
  EXPECT_NE(convert_error(s).find("the tokenizer has 511 tokens"), std::string::npos);
  s = fixture();
  s.tokenizer.pre_tokenizer_regex = "\\s+";
  EXPECT_NE(convert_error(s).find("not known to llama.cpp"), std::string::npos);
  s = fixture();
  s.config.rope_scaling = "yarn";
  EXPECT_NE(convert_error(s).find("rope scaling 'yarn'"), std::string::npos);
}

TEST(LlamaGguf, PermutationIsItsOwnLayoutChangeNotAReshuffleOfColumns) {
  // 2 heads of dimension 4, K = 1: rows [0 1 2 3 | 4 5 6 7] -> [0 2 1 3 | 4 6 5 7].
  const std::vector<float> w = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(permute_rope_rows(w, 8, 1, 2), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_THROW(permute_rope_rows(w, 8, 1, 3), Error);
}

// The CLI maps a run's Hugging Face tensor names to GGUF names with this function: it must agree
// with every tensor llama_to_gguf writes and refuse names outside the architecture.
TEST(LlamaGguf, TensorNameMappingAgreesWithTheWriter) {
  const Content c = llama_to_gguf(fixture(), {});
  std::set<std::string> written;
  for (const auto& t : c.tensors) written.insert(t.name);
  std::set<std::string> mapped;
  for (const auto& [hf, t] : fixture().tensors) mapped.insert(llama_gguf_tensor_name(hf));
  written.erase("rope_freqs.weight");  // made from the config, no Hugging Face tensor
  EXPECT_EQ(mapped, written);
  EXPECT_EQ(llama_gguf_tensor_name("model.layers.12.mlp.down_proj.weight"), "blk.12.ffn_down.weight");
  for (const char* bad : {"model.layers.0.self_attn.o_proj.bias", "model.layers.x.mlp.up_proj.weight",
                          "model.layers.0.mlp.up_proj.weight.extra", "model.layers..mlp.up_proj.weight", "lm_head"})
    EXPECT_THROW(llama_gguf_tensor_name(bad), Error) << bad;
}

// The Qwen3 fixture: qwen3.* keys, key / value length 32 (4 heads x 32 over hidden 64), per-layer
// attn_q_norm / attn_k_norm, q / k rows as Hugging Face stores them (llama.cpp's qwen3 rotates
// halves), no output tensor (tied). llama.cpp's logits from it: oracle.mjs --prefix qwen3.
TEST(LlamaGguf, Qwen3KeysNormsAndUnpermutedRows) {
  const LlamaSource src = test::load_fixture_llama(QF_HF_FIXTURES "/qwen3", QF_HF_FIXTURES "/tokenizer_bpe");
  const File f = write_and_read(src, TensorType::kF32);
  EXPECT_EQ(f.at("general.architecture").as_string(), "qwen3");
  EXPECT_EQ(f.find("llama.block_count"), nullptr);
  EXPECT_EQ(f.at("qwen3.block_count").as_uint(), 2u);
  EXPECT_EQ(f.at("qwen3.attention.key_length").as_uint(), 32u);
  EXPECT_EQ(f.at("qwen3.attention.value_length").as_uint(), 32u);
  EXPECT_EQ(f.at("qwen3.rope.freq_base").as_float(), 1000000.0);
  EXPECT_EQ(f.tensor("output.weight"), nullptr);
  for (const char* n : {"blk.1.attn_q_norm.weight", "blk.1.attn_k_norm.weight"}) {
    ASSERT_NE(f.tensor(n), nullptr) << n;
    EXPECT_EQ(f.tensor(n)->type, TensorType::kF32);
  }
  EXPECT_EQ(dequantize(f, *f.tensor("blk.1.attn_q_norm.weight")),
            src.tensors.at("model.layers.1.self_attn.q_norm.weight").data);
  EXPECT_EQ(dequantize(f, *f.tensor("blk.1.attn_q.weight")),
            src.tensors.at("model.layers.1.self_attn.q_proj.weight").data);
  EXPECT_EQ(dequantize(f, *f.tensor("blk.0.attn_k.weight")),
            src.tensors.at("model.layers.0.self_attn.k_proj.weight").data);
  auto llama3 = src;
  llama3.config.rope_scaling = "llama3";
  EXPECT_THROW(llama_to_gguf(llama3, {}), Error);  // rope_freqs exist for the llama architecture only
  auto other = src;
  other.config.architecture = "gemma3";
  EXPECT_THROW(llama_to_gguf(other, {}), Error);
  other.config.architecture = "qwen2";  // the norms have no place there, and the biases are missing
  EXPECT_THROW(llama_to_gguf(other, {}), Error);
}

// The Qwen2 fixture: qwen2.* keys, attn_q / attn_k / attn_v biases (F32), q / k rows unpermuted.
TEST(LlamaGguf, Qwen2KeysBiasesAndUnpermutedRows) {
  const LlamaSource src = test::load_fixture_llama(QF_HF_FIXTURES "/qwen2", QF_HF_FIXTURES "/tokenizer_bpe");
  const File f = write_and_read(src, TensorType::kF32);
  EXPECT_EQ(f.at("general.architecture").as_string(), "qwen2");
  EXPECT_EQ(f.at("qwen2.block_count").as_uint(), 2u);
  EXPECT_EQ(f.find("qwen2.attention.key_length"), nullptr);  // 4 heads x 16 = hidden 64
  for (const char* n : {"q", "k", "v"}) {
    const std::string g = std::string("blk.1.attn_") + n + ".bias";
    ASSERT_NE(f.tensor(g), nullptr) << g;
    EXPECT_EQ(f.tensor(g)->type, TensorType::kF32);
    EXPECT_EQ(dequantize(f, *f.tensor(g)),
              src.tensors.at(std::string("model.layers.1.self_attn.") + n + "_proj.bias").data);
  }
  EXPECT_EQ(dequantize(f, *f.tensor("blk.0.attn_q.weight")),
            src.tensors.at("model.layers.0.self_attn.q_proj.weight").data);
  EXPECT_EQ(f.tensor("blk.0.attn_q_norm.weight"), nullptr);
}

// The Mixtral fixture: llama.cpp's llama with expert_count / expert_used_count, the router
// (ffn_gate_inp, F32 even in a Q4_0 file) and each of w1 / w3 / w2 as one tensor of the 8 experts
// stacked (ne [in, out, experts], expert e's rows after expert e - 1's).
TEST(LlamaGguf, MixtralExpertsStacked) {
  const LlamaSource src = test::load_fixture_llama(QF_HF_FIXTURES "/mixtral", QF_HF_FIXTURES "/tokenizer_bpe");
  const File f = write_and_read(src, TensorType::kQ4_0);
  EXPECT_EQ(f.at("general.architecture").as_string(), "llama");
  EXPECT_EQ(f.at("llama.expert_count").as_uint(), 8u);
  EXPECT_EQ(f.at("llama.expert_used_count").as_uint(), 2u);
  const TensorInfo& router = *f.tensor("blk.1.ffn_gate_inp.weight");
  EXPECT_EQ(router.type, TensorType::kF32);
  EXPECT_EQ(router.ne, (std::vector<int64_t>{64, 8}));
  EXPECT_EQ(dequantize(f, router), src.tensors.at("model.layers.1.block_sparse_moe.gate.weight").data);
  const TensorInfo& down = *f.tensor("blk.1.ffn_down_exps.weight");
  EXPECT_EQ(down.type, TensorType::kQ4_0);
  EXPECT_EQ(down.ne, (std::vector<int64_t>{128, 64, 8}));
  std::vector<float> want;
  for (int e = 0; e < 8; ++e) {
    const auto& w = src.tensors.at("model.layers.1.block_sparse_moe.experts." + std::to_string(e) + ".w2.weight");
    std::vector<float> q(w.data.size());
    fake_quantize_ggml(GgmlFormat::kQ4_0, w.data.data(), 64, 128, q.data());
    want.insert(want.end(), q.begin(), q.end());
  }
  EXPECT_EQ(dequantize(f, down), want);
  EXPECT_EQ(f.tensor("blk.0.ffn_gate.weight"), nullptr);
  EXPECT_EQ(llama_gguf_tensor_name("model.layers.3.block_sparse_moe.experts.7.w3.weight"), "blk.3.ffn_up_exps.weight");
  EXPECT_THROW(llama_gguf_tensor_name("model.layers.3.block_sparse_moe.experts.x.w3.weight"), Error);
  auto qwen = src;
  qwen.config.architecture = "qwen2";
  EXPECT_THROW(llama_to_gguf(qwen, {}), Error);  // experts are written for llama only
}

// The byte vocabulary: id = byte; every piece a BYTE piece <0xNN> except the space, which is the
// normal piece U+2581 (llama.cpp's SentencePiece path escapes spaces before matching); no
// special tokens, no BOS. llama.cpp's encoding of text into bytes is checked in oracle.mjs.
TEST(LlamaGguf, ByteVocabularyIsTheBytes) {
  const tok::TokenVocab v = byte_vocab();
  ASSERT_EQ(v.pieces.size(), 256u);
  ASSERT_EQ(v.types.size(), 256u);
  ASSERT_EQ(v.scores.size(), 256u);
  EXPECT_EQ(v.model, "sentencepiece");
  EXPECT_FALSE(v.add_bos);
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_EQ(v.bos_id, -1);
  EXPECT_EQ(v.eos_id, -1);
  EXPECT_EQ(v.pieces[32], "\xE2\x96\x81");
  EXPECT_EQ(v.types[32], tok::TokenType::kNormal);
  EXPECT_EQ(v.pieces[0], "<0x00>");
  EXPECT_EQ(v.pieces[0x41], "<0x41>");
  EXPECT_EQ(v.pieces[255], "<0xFF>");
  for (int b = 0; b < 256; ++b)
    if (b != 32) {
      EXPECT_EQ(v.types[b], tok::TokenType::kByte) << b;
    }
  std::set<std::string> unique(v.pieces.begin(), v.pieces.end());
  EXPECT_EQ(unique.size(), 256u);
}

}  // namespace
}  // namespace qf::gguf
