// Assembles the `cuda` kernel table from the entries of this folder (cuda_table_kernels.h).
// Entries are set by name on a zeroed table, so a slot without a CUDA kernel stays null and
// the op needing it refuses to load (runtime/ops/registry.cpp names the table and the entry).
#include "runtime/kernels/cuda/cuda_table.h"
#include "runtime/kernels/cuda/cuda_table_kernels.h"

namespace qf::cuda {

const kernels::KernelTable& cuda_kernel_table() {
  static const kernels::KernelTable t = [] {
    kernels::KernelTable k{};
    k.name = "cuda";
    k.memory = &cuda_memory();
    // [activation: 0 = qu8, 1 = qs8][QWeightKind]: int8, int4, N:M, block-sparse int8 / int4
    k.qgemm[0][0] = qu8_qs8w_gemm_f32__cuda;
    k.qgemm[1][0] = qs8_qs8w_gemm_f32__cuda;
    k.qgemm[0][1] = qu8_qs4w_gemm_f32__cuda;
    k.qgemm[1][1] = qs8_qs4w_gemm_f32__cuda;
    k.qgemm[0][2] = qu8_qs8nmw_gemm_f32__cuda;
    k.qgemm[1][2] = qs8_qs8nmw_gemm_f32__cuda;
    k.qgemm[0][3] = qu8_qs8bsw_gemm_f32__cuda;  // block_sparse_gemm.cu
    k.qgemm[1][3] = qs8_qs8bsw_gemm_f32__cuda;
    k.qgemm[0][4] = qu8_qs4bsw_gemm_f32__cuda;
    k.qgemm[1][4] = qs8_qs4bsw_gemm_f32__cuda;
    k.prepare_qweights = prepare_qweights__cuda;
    k.f32_gemm = f32_gemm__cuda;
    k.relu = f32_relu__cuda;
    k.gelu = f32_gelu__cuda;
    k.softmax = f32_softmax__cuda;
    k.layernorm = f32_layernorm__cuda;
    k.causal_attention = f32_causal_attention__cuda;
    k.add = f32_add__cuda;
    k.add_rows = f32_add_rows__cuda;
    k.gather_rows = f32_gather_rows__cuda;
    k.transpose = f32_transpose__cuda;
    k.copy_rows = f32_copy_rows__cuda;
    k.quantize_per_row_s8 = f32_quantize_per_row_s8__cuda;
    k.quantize_u8 = f32_quantize_u8__cuda;
    k.quantize_s8 = f32_quantize_s8__cuda;
    k.rms_norm = f32_rms_norm__cuda;
    k.rope = f32_rope__cuda;
    k.gqa_attention = f32_gqa_attention__cuda;
    k.gated_act = f32_gated_act__cuda;
    k.scale = f32_scale__cuda;
    k.quantize_kv_rows = f32_quantize_kv_rows__cuda;
    k.qkv_causal_attention = f32_qkv_causal_attention__cuda;
    k.qkv_gqa_attention = f32_qkv_gqa_attention__cuda;
    k.im2col_f32 = f32_im2col__cuda;
    k.im2col_u8 = x8_im2col_u8__cuda;
    k.im2col_s8 = x8_im2col_s8__cuda;
    k.im2col_nhwc_x8 = x8_im2col_nhwc__cuda;
    k.maxpool2d = f32_maxpool2d__cuda;
    k.avgpool2d = f32_avgpool2d__cuda;
    k.maxpool2d_nhwc = f32_maxpool2d_nhwc__cuda;
    // FP8 E4M3 (fp8_kernels.cu): the GEMM runs Hopper's tensor cores where it can, so its sum is
    // bounded rather than exact (kernels.h, kFp8TensorCoreRelBound); the quantizers are exact.
    k.qf8_gemm = qf8_qf8w_gemm_f32__cuda;
    k.qf8_gemm_rel_bound = kernels::kFp8TensorCoreRelBound;
    k.prepare_qf8_weights = prepare_qf8_weights__cuda;  // codes and scales to the device
    k.quantize_e4m3 = f32_quantize_e4m3__cuda;
    k.quantize_per_row_e4m3 = f32_quantize_per_row_e4m3__cuda;
    // qconv_pool stays null: the conv op then runs qgemm, maxpool2d_nhwc, relu and the quantizer
    // itself, and never pads hand-off images with host loops (that path needs qconv_pool).
    return k;
  }();
  return t;
}

}  // namespace qf::cuda
