// The `cuda` kernel table: every entry the Brown GPT graph needs (embedding gather, positional
// rows, layernorm, the quantized and float GEMMs, gelu, causal attention with the float KV
// cache, softmax, activation quantization, data movement), running on the GPU's own memory
// (cuda_memory()). Plain C++ (no CUDA headers): runtime/kernels/device_select.cpp hands it out
// for `--device cuda`.
//
// Exactness (tests/runtime_cuda/cuda_table_test.cpp checks each entry against the ref table):
//  * bit-identical to ref: the integer GEMMs (int32 sums, the contract's float epilogue in its
//    order), f32_gemm (one thread per output, k in order, no FMA), activation quantization,
//    data movement, relu, add;
//  * within float rounding: layernorm (statistics in double, reduced in another order), softmax
//    and attention (float sums in another order; CUDA's expf within 2 ulp), gelu (CUDA's erff
//    within 2 ulp); the Hugging Face decoder entries (rms_norm, rope, gqa_attention, gated_act:
//    double inside, rounded once, like the contract) within an ulp or two; scale exact;
//    quantize_kv_rows bit-identical, and the qkv_* attention kernels equal to the float ones on
//    the dequantized cache (the same kernels, reading through kv_rows.cuh). Bounds in the tests.
// im2col (all four), the pools and the block-sparse GEMMs are bit-identical too. FP8 E4M3
// (fp8_kernels.cu): the quantizers bit-identical; qf8_gemm on Hopper runs the FP8 tensor cores,
// within kernels::kFp8TensorCoreRelBound of the exact sum (declared in qf8_gemm_rel_bound),
// elsewhere an exact kernel, bit-identical. Entries left null (the fused conv + pool epilogue
// qconv_pool: the conv op composes it) make the
// ops that need them refuse to load, naming the table, or take their unfused path.
//
// No stream argument in the table: every kernel runs on the default stream in issue order, and
// MemoryOps::to_host (a synchronous copy) is where the host waits.
#pragma once

#include "runtime/buffer.h"
#include "runtime/kernels/kernels.h"

namespace qf::cuda {

// cudaMalloc / cudaFree / cudaMemcpy on the current device (device index 0).
const MemoryOps& cuda_memory();
// The table. Callers check cuda::device_available() first (kernel_table_for_device does).
const kernels::KernelTable& cuda_kernel_table();

}  // namespace qf::cuda
