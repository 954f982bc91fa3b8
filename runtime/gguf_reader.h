// A strict GGUF v3 reader (core/gguf_format.h) for checking what qforge writes and for reading
// GGUF models: every count, length and offset is bounded by the file before it is used, keys and
// tensor names are unique, tensors lie inside the data section at aligned, non-overlapping
// offsets with exactly the bytes their type and shape need. Errors are qf::Error naming the file,
// the byte offset and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/gguf_format.h"

namespace qf::gguf {

struct File {
  uint32_t version = 0;
  std::vector<KeyValue> metadata;
  std::vector<TensorInfo> tensors;
  uint64_t alignment = kDefaultAlignment;
  uint64_t data_offset = 0;    // file offset of the data section
  std::vector<uint8_t> bytes;  // the whole file

  const Value* find(const std::string& key) const;  // null when absent
  const Value& at(const std::string& key) const;    // qf::Error "missing key"
  const TensorInfo* tensor(const std::string& name) const;
  const uint8_t* data(const TensorInfo& t) const { return bytes.data() + data_offset + t.offset; }
};

File read_gguf(const std::string& path);
File parse_gguf(std::vector<uint8_t> bytes, const std::string& name = "<memory>");

// The tensor's values as float32 (F32 copied, F16 widened, Q4_0 / Q8_0 dequantized with ggml's
// arithmetic), in ggml order: ne[0] fastest.
std::vector<float> dequantize(const File& f, const TensorInfo& t);

}  // namespace qf::gguf
