// Test-only: a transformers Llama, Qwen2, Qwen3 or Mixtral fixture (tests/hf/fixtures/llama, qwen2,
// qwen3, mixtral) as a gguf::LlamaSource.
// A minimal safetensors parse (bf16/f16/f32) lives here on purpose: the product's safetensors
// reader belongs to the Hugging Face import (hf/), which these tests must not duplicate.
#pragma once

#include <string>

#include "export/llama_gguf.h"

namespace qf::test {

gguf::LlamaSource load_fixture_llama(const std::string& model_dir, const std::string& tokenizer_dir);

}  // namespace qf::test
