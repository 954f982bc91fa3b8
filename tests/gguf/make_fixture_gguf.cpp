// Writes the Llama fixture as GGUF in F32, F16, Q8_0 and Q4_0 into OUT_DIR (for the llama.cpp
// oracle test, tests/gguf/llama_cpp/oracle.mjs) as llama_*.gguf; with PREFIX (qwen2, qwen3,
// mixtral: those fixtures) as PREFIX_*.gguf, without the tokenizer and byte-vocabulary variants.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <set>
#include <string>

#include "core/ggml_blocks.h"
#include "export/gguf_writer.h"
#include "export/llama_gguf.h"
#include "fixture_llama.h"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s MODEL_DIR TOKENIZER_DIR OUT_DIR [PREFIX]\n", argv[0]);
    return 2;
  }
  const std::string prefix = argc == 5 ? argv[4] : "llama";
  try {
    const auto src = qf::test::load_fixture_llama(argv[1], argv[2]);
    std::filesystem::create_directories(argv[3]);
    const std::pair<const char*, qf::gguf::TensorType> kinds[] = {
        {"f32", qf::gguf::TensorType::kF32}, {"f16", qf::gguf::TensorType::kF16},
        {"q8_0", qf::gguf::TensorType::kQ8_0}, {"q4_0", qf::gguf::TensorType::kQ4_0}};
    for (const auto& [name, type] : kinds) {
      qf::gguf::LlamaGgufOptions opt;
      opt.matrix_type = type;
      const std::string path = std::string(argv[3]) + "/" + prefix + "_" + name + ".gguf";
      qf::gguf::write_gguf(path, qf::gguf::llama_to_gguf(src, opt));
      std::printf("wrote %s\n", path.c_str());
    }
    // The F32 model with the SentencePiece fixture tokenizer (same vocabulary size): llama.cpp's
    // "llama" vocabulary path, checked by tokenizing the SentencePiece probes.
    if (prefix == "llama") {
      auto spm = src;
      spm.tokenizer = qf::test::load_fixture_llama(argv[1], std::string(argv[2]) + "/../tokenizer_spm").tokenizer;
      const std::string path = std::string(argv[3]) + "/llama_f32_spm.gguf";
      qf::gguf::write_gguf(path, qf::gguf::llama_to_gguf(spm, {}));
      std::printf("wrote %s\n", path.c_str());
    }
    // The fixture cut to a vocabulary of 256 with the byte vocabulary (qforge's byte-level models
    // carry no tokenizer files): llama.cpp must tokenize text into exactly its UTF-8 bytes.
    if (prefix == "llama") {
      auto bytes = src;
      bytes.config.vocab_size = 256;
      for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"}) {
        auto& t = bytes.tensors.at(name);
        t.data.resize(static_cast<size_t>(256 * t.shape[1]));
        t.shape[0] = 256;
      }
      bytes.tokenizer = qf::gguf::byte_vocab();
      const std::string path = std::string(argv[3]) + "/llama_bytes_f32.gguf";
      qf::gguf::write_gguf(path, qf::gguf::llama_to_gguf(bytes, {}));
      std::printf("wrote %s\n", path.c_str());
    }
    // The same models with float32 weights that are the Q8_0 / Q4_0 weights dequantized (what
    // QAT's fake quantizer computes; quantizing rows commutes with the q/k row permutation):
    // llama.cpp's F32 run of these is the fake-quant model with float activations, so comparing
    // it with the Q8_0 / Q4_0 run isolates llama.cpp's Q8_0 rounding of the activations.
    for (const auto& [name, fmt] : {std::pair<const char*, qf::GgmlFormat>{"q8_0", qf::GgmlFormat::kQ8_0},
                                    {"q4_0", qf::GgmlFormat::kQ4_0}}) {
      // Exactly the tensors the quantized file stores quantized (Mixtral's router, for one, stays F32).
      qf::gguf::LlamaGgufOptions opt;
      opt.matrix_type = fmt == qf::GgmlFormat::kQ8_0 ? qf::gguf::TensorType::kQ8_0 : qf::gguf::TensorType::kQ4_0;
      std::set<std::string> quantized;
      for (const auto& t : qf::gguf::llama_to_gguf(src, opt).tensors)
        if (t.type != qf::gguf::TensorType::kF32) quantized.insert(t.name);
      auto fq = src;
      for (auto& [tname, t] : fq.tensors)
        if (quantized.count(qf::gguf::llama_gguf_tensor_name(tname))) {
          std::vector<float> y(t.data.size());
          qf::fake_quantize_ggml(fmt, t.data.data(), t.shape[0], t.shape[1], y.data());
          t.data = std::move(y);
        }
      const std::string path = std::string(argv[3]) + "/" + prefix + "_" + name + "_as_f32.gguf";
      qf::gguf::write_gguf(path, qf::gguf::llama_to_gguf(fq, {}));
      std::printf("wrote %s\n", path.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_fixture_gguf: %s\n", e.what());
    return 1;
  }
  return 0;
}
