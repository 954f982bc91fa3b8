// A strict reader of Hugging Face safetensors files (std-only). The file is untrusted: the header
// size is bounded, every tensor's byte range must lie inside the data section, ranges may neither
// overlap nor leave gaps (the format writes them back to back), and each range's length must be
// exactly dtype size x shape. Tensors are read lazily, one at a time, and widened to float32 from
// BF16, F16 or F32; other dtypes are named and refused. Errors are qf::Error naming file and tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qf::hf {

struct SafetensorsEntry {
  std::string dtype;            // "BF16", "F16", "F32"
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

class SafetensorsFile {
 public:
  // Parses and checks the header against the file's size. Throws qf::Error.
  explicit SafetensorsFile(std::string path);
  const std::string& path() const { return path_; }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  // The tensor widened to float32, row-major.
  std::vector<float> read_f32(const std::string& name) const;

  // The header bound: the reference implementation's 100 MB.
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;

 private:
  std::string path_;
  uint64_t data_start_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// One float32 tensor of a model folder.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Every tensor of a model folder: model.safetensors, or the shards model.safetensors.index.json
// names (each tensor in exactly the shard the index says; a tensor in two shards is an error).
std::map<std::string, HostTensor> load_safetensors_folder(const std::string& folder);

// Writes `tensors` as one F32 safetensors file (names sorted, back to back, metadata
// {"format": "pt"}), to `path`.tmp then renamed.
void write_safetensors_f32(const std::string& path, const std::map<std::string, HostTensor>& tensors);

// bf16 / f16 bit patterns to float32 (exact: both are subsets of float32).
float bf16_to_f32(uint16_t bits);
float f16_to_f32(uint16_t bits);

}  // namespace qf::hf
