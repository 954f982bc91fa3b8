// A plain host tensor (shape + contiguous row-major data) used at library boundaries:
// golden inputs/outputs of a checkpoint, runtime inputs and outputs. Two dtypes only:
// float32 (activations, weights) and int64 (token ids, the input of `embedding`).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qf {

enum class DType { kFloat32, kInt64 };

inline const char* dtype_name(DType t) { return t == DType::kFloat32 ? "float32" : "int64"; }

inline int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape);

struct Tensor {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  std::vector<float> f32;    // used when dtype == kFloat32
  std::vector<int64_t> i64;  // used when dtype == kInt64

  int64_t numel() const { return shape_numel(shape); }

  static Tensor floats(std::vector<int64_t> shape, std::vector<float> data) {
    Tensor t;
    t.dtype = DType::kFloat32;
    t.shape = std::move(shape);
    t.f32 = std::move(data);
    return t;
  }
  static Tensor ids(std::vector<int64_t> shape, std::vector<int64_t> data) {
    Tensor t;
    t.dtype = DType::kInt64;
    t.shape = std::move(shape);
    t.i64 = std::move(data);
    return t;
  }
};

// One golden batch: the graph inputs (by graph input name) and the outputs of the checkpoint's
// contract (FORMAT.md, "The quantization contract") computed from the trained parameters, by
// graph output name. The runtime's `validate` reruns these.
struct Golden {
  std::map<std::string, Tensor> inputs;
  std::map<std::string, Tensor> outputs;  // always float32
  // Optional: what the trained (fake-quant) model's own forward produced for the same inputs. It
  // differs from `outputs` by float summation order only; validate reports the agreement.
  std::map<std::string, Tensor> model_outputs;
  // Optional: every op's output (float32) by tensor name, as the reference that produced
  // `outputs` computed it; `validate` runs each op alone on its traced inputs against them.
  std::map<std::string, Tensor> trace;
};

}  // namespace qf
