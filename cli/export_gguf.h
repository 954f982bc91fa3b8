// `qforge export SOURCE --format gguf [--quant T] [--tensor-type NAME=T] -o model.gguf`: a Llama
// model as llama.cpp's GGUF (export/llama_gguf.h, export/GGUF.md). SOURCE is a Hugging Face
// folder (float; --quant quantizes it round-to-nearest with ggml's own reference quantizer, as
// llama.cpp's converter does) or a run directory of model family hf. A run whose weights were
// trained with `format: q4_0` / `q8_0` is written with exactly the codes and scales it trained
// with: the exporter checks, tensor by tensor, that the GGUF blocks are ggml's quantization of
// the trained float weights and that they dequantize to the very values the forward used.
#pragma once

#include <map>
#include <string>

namespace qf::cli {

struct GgufExportOptions {
  std::string quant;  // "" (default: the run's block format, else f32) | f32 | f16 | q4_0 | q8_0
  std::map<std::string, std::string> tensor_types;  // GGUF tensor name -> type, overrides
  bool quiet = false;
};

// Writes `output` (via output.tmp, renamed). Returns a one-paragraph summary of what was written.
std::string export_to_gguf(const std::string& source, const std::string& output, const GgufExportOptions& options);

}  // namespace qf::cli
