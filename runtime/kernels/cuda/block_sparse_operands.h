// What the block-sparse GEMMs on the kSteps layout (block_sparse_gemm.h) read besides their own
// copy of the kept steps: the activations and their quantization, the slice and step lists and the
// epilogue's operands. block_sparse_gemm.cu fills it once per call for whichever kernel runs.
// Plain C++ (no CUDA headers). Device pointers.
#pragma once

#include <cstdint>

namespace qf::cuda {

struct BSStepOperands {
  int64_t m = 0;
  const void* x = nullptr;  // [m, k] codes: uint8 (x_unsigned, zero point zx) or int8
  bool x_unsigned = true;
  int32_t zx = 0;
  const float* sx = nullptr;
  int64_t sx_stride = 0;
  const int32_t* slice_ptr = nullptr;  // [slices + 1]: slice s owns steps [slice_ptr[s], slice_ptr[s+1])
  const int32_t* step_k = nullptr;     // [steps]: first k of each step
  const float* sw = nullptr;           // [n, groups] weight scales
  const int32_t* rowsums = nullptr;    // [n, groups] code sums (qu8's zero-point term)
  const float* bias = nullptr;         // may be null
  float* y = nullptr;                  // [m, n]
  int64_t n = 0, k = 0, slices = 0;
};

}  // namespace qf::cuda
