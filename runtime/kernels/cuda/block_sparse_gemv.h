// The `cuda` table's block-sparse GEMV for decode steps (M <= 8, per-channel scales): dp4a over
// the kept k32 steps of block_sparse_gemm.h's tensor-core layout (kSteps), read as it is (no
// second copy of the weight). Bit-identical to the reference kernels.
//
// Why a second kernel for small M: the mma kernel is latency-bound there (each warp walks 2-3
// steps behind a chain of dependent loads: slice range, step list, weights, then the epilogue's
// operands). This one puts everything that does not depend on a load in the first round trip
// (the slice range, the epilogue's operands, the activation rows, staged in shared memory),
// then the steps of its slice, four in flight per warp (the step list and the weights both
// depend only on the slice range): two dependent trips to memory, plus the reduction.
// Plain C++ (no CUDA headers). Device pointers.
#pragma once

#include <cstdint>

#include "runtime/kernels/cuda/block_sparse_operands.h"

namespace qf::cuda {

// The largest M the GEMV takes (its accumulators are M x 4 int32 per lane).
constexpr int64_t kBSGemvMaxM = 8;

// The GEMV reads the int8 / int4 steps as they are (step_data) and per-channel scales (sw [n]).
struct BSGemvArgs : BSStepOperands {
  bool int4 = false;              // step_data holds int4 steps (512 B) or int8 steps (1024 B)
  const void* step_data = nullptr;  // [steps][512 | 1024 B], block_sparse_gemm.h's fragment order
};

// Measurement knob (bench/cuda; 0 = default): warps per CTA (1..16, default 16, at least M).
struct BSGemvConfig {
  int warps = 0;
};
void set_bs_gemv_config(BSGemvConfig c);

// Whether the GEMV takes M rows of K: 1 <= M <= kBSGemvMaxM and the activation rows fit the
// shared memory it stages them in (M x K rounded up to 32 <= 32 KB: M = 8 at K = 4096, M = 2 at
// K = 11008).
bool bs_gemv_applies(int64_t m, int64_t k);

// y = the contract for the kSteps layout above with per-channel scales. Returns false, launching
// nothing, where it does not apply (the caller runs the mma kernel).
bool bs_gemv(const BSGemvArgs& a);

}  // namespace qf::cuda
