// Writes a GGUF v3 file (core/gguf_format.h) from metadata and already-encoded tensor bytes.
// Std-only. The llama-architecture content (names, layouts, quantization) is made by
// export/llama_gguf.h; this file only lays bytes out: header, key/values, tensor infos, padding
// to the alignment, data with every tensor at an aligned offset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/gguf_format.h"

namespace qf::gguf {

struct Tensor {
  std::string name;
  std::vector<int64_t> ne;  // ggml order (ne[0] innermost)
  TensorType type = TensorType::kF32;
  std::vector<uint8_t> data;  // exactly tensor_bytes(type, ne) bytes
};

struct Content {
  std::vector<KeyValue> metadata;  // written in this order; keys must be unique
  std::vector<Tensor> tensors;     // written in this order; names must be unique
  uint64_t alignment = kDefaultAlignment;  // must equal general.alignment when that key is set
};

// Validates (unique keys and names, data sizes, alignment a power of two) and writes to
// path + ".tmp", then renames. Throws qf::Error naming the offending key or tensor.
void write_gguf(const std::string& path, const Content& content);

// Encoders for tensor data: float32 values [rows, k] -> bytes of the given type (k = ne[0]).
std::vector<uint8_t> encode_tensor(TensorType type, const float* x, int64_t rows, int64_t k);

}  // namespace qf::gguf
