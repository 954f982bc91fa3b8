// The one place where kernels are chosen. Optimized variants (kernels/x86/, kernels/cuda/) will
// add their own tables here, picked once by CPU features / device at load time; the executor
// never branches on the ISA.
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::kernels {

const KernelTable& ref_kernel_table() {
  static const KernelTable t = {
      "ref",
      &host_memory(),
      {{qu8_qs8w_gemm_f32_ref, qu8_qs4w_gemm_f32_ref, qu8_qs8nmw_gemm_f32_ref},
       {qs8_qs8w_gemm_f32_ref, qs8_qs4w_gemm_f32_ref, qs8_qs8nmw_gemm_f32_ref}},
      nullptr,  // the reference kernels read the checkpoint's layout
      f32_gemm_ref,
      f32_im2col_ref,
      x8_im2col_u8_ref,
      x8_im2col_s8_ref,
      f32_maxpool2d_ref,
      f32_avgpool2d_ref,
      f32_relu_ref,
      f32_gelu_ref,
      f32_softmax_ref,
      f32_layernorm_ref,
      f32_causal_attention_ref,
      f32_add_ref,
      f32_add_rows_ref,
      f32_gather_rows_ref,
      f32_transpose_ref,
      f32_copy_rows_ref,
      f32_quantize_per_row_s8_ref,
      f32_quantize_u8_ref,
      f32_quantize_s8_ref,
  };
  return t;
}

const KernelTable& select_kernels() { return ref_kernel_table(); }

}  // namespace qf::kernels
