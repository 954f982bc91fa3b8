// The block-sparse GEMM on Hopper's asynchronous tensor cores (wgmma, sm_90a), for the kSteps
// layout (block_sparse_gemm.h) at larger M. Plain C++ (no CUDA headers): block_sparse_gemm.cu
// calls it; the kernel lives in block_sparse_wgmma.cu (the sm_90a library).
//
// Why a second copy of the kept steps: wgmma reads B from shared memory in a K-major swizzled
// layout, not the mma.sync fragment order of step_data. BSLayout::wg_data holds every step as the
// 32 x 32 int8 tile [slice row][k] (natural k order, int4 codes widened to int8) with the 32-byte
// swizzle already applied, so a plain bulk copy lands it where the wgmma descriptor expects it:
// row r at byte 32 r, its 16-byte halves swapped when r % 8 >= 4 (CUTLASS's Swizzle<1,4,3>, the
// pattern the tensor copy engine writes for the activation tile). Built at load where wgmma can
// run; the memory of the kept blocks grows by 1 KB per step (int8: 2x, int4: 3x the nibbles).
//
// The kernel: a CTA per slice of 32 outputs and BM (64 or 128) rows of M. One producer warp walks
// the slice's steps: per ring stage up to G steps (4 per channel, 1 per group), the activation
// tile [BM rows, 32 k] at each step's k by the tensor copy engine (rows past M and k past K come
// as zeros) and the steps' weight tiles in one bulk copy, completing on the stage's mbarrier.
// BM / 64 consumer warpgroups each run one wgmma m64n32k32 (s8 or u8 x s8 -> s32, exact) per
// step into registers (one accumulator per step slot of a stage), releasing a stage when its
// wgmmas are done. The epilogue is the mma kernel's: the reference's float operations in its
// order (per group: a flush per group in increasing g, empty groups included).
//
// Speed (H100, docs/RESULTS.md, run bswg): 1.2-1.4x the mma kernel at M = 128, slower at M = 16
// (the table picks it at M >= kBSWgmmaDefaultMinM); about 160 ns per kept step of a slice
// whatever M, which our reading puts on the one narrow activation box per step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kernels/cuda/block_sparse_operands.h"

namespace qf::cuda {

constexpr int kBSWgStepBytes = 1024;  // one step of wg_data: 32 rows x 32 int8 codes

// Byte offset of code (r, c), r, c < 32, inside a step of wg_data (the 32-byte swizzle).
constexpr int bs_wg_offset(int r, int c) { return r * 32 + (c ^ (((r >> 2) & 1) << 4)); }

struct BSWgArgs : BSStepOperands {
  const void* wg_data = nullptr;  // [steps][1024] (null when no step is kept)
  int64_t groups = 1, group_size = 0;  // group_size 0: per channel
  int bm = 0;        // rows of M per CTA: 64 or 128 (0: by M)
  bool pdl = false;  // launch with programmatic dependent launch (launch_util.cuh's contract)
};

// Whether this process's GPU runs the kernel (a compute capability 9.0 device and the driver's
// tensor-map encoder); why not otherwise.
bool bs_wgmma_available(std::string* why = nullptr);
// Whether the kernel applies to these operands: the copy engine reads the activations, so their
// base must be 16-byte aligned and K a multiple of 16 (its row stride rule); K < 2^31.
bool bs_wgmma_applies(const void* x, int64_t k);
// Runs it; false (nothing launched) where it does not apply or the device cannot run it.
bool bs_wgmma_gemm(const BSWgArgs& a);
// Launches so far (tests check that a forced choice really ran the kernel).
int64_t bs_wgmma_launches();

}  // namespace qf::cuda
