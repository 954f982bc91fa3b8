// The one place where kernels are chosen: each backend's table is assembled here from the
// entries of its own files (kernels/ref/, kernels/x86/, compiled with their own flags), and
// select_kernels() picks one once, by CPU features (or QFORGE_ISA); the executor never branches
// on the ISA.
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/ref/decoder_ref.h"
#include "runtime/kernels/ref/kv_cache_ref.h"
#include "runtime/kernels/ref/ref_kernels.h"
#include "runtime/kernels/x86/x86_attention_kernels.h"
#include "runtime/kernels/x86/x86_conv_kernels.h"
#include "runtime/kernels/x86/x86_kernels.h"
#include "runtime/kernels/x86/x86_data_kernels.h"
#include "runtime/kernels/x86/x86_decoder_kernels.h"
#include "runtime/kernels/x86/x86_float_kernels.h"
#include "runtime/kernels/x86/x86_norm_act_kernels.h"

namespace qf::kernels {

const KernelTable& ref_kernel_table() {
  static const KernelTable t = {
      "ref",
      &host_memory(),
      {{qu8_qs8w_gemm_f32_ref, qu8_qs4w_gemm_f32_ref, qu8_qs8nmw_gemm_f32_ref, qu8_qs8bsw_gemm_f32_ref,
        qu8_qs4bsw_gemm_f32_ref},
       {qs8_qs8w_gemm_f32_ref, qs8_qs4w_gemm_f32_ref, qs8_qs8nmw_gemm_f32_ref, qs8_qs8bsw_gemm_f32_ref,
        qs8_qs4bsw_gemm_f32_ref}},
      nullptr,  // the reference kernels read the checkpoint's layout
      f32_gemm_ref,
      f32_im2col_ref,
      x8_im2col_u8_ref,
      x8_im2col_s8_ref,
      x8_im2col_nhwc_ref,
      f32_maxpool2d_ref,
      f32_avgpool2d_ref,
      f32_maxpool2d_nhwc_ref,
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
      f32_rms_norm_ref,
      f32_rope_ref,
      f32_gqa_attention_ref,
      f32_gated_act_ref,
      f32_scale_ref,
      x8_conv2d_pool_ref,
      f32_quantize_kv_rows_ref,
      f32_qkv_causal_attention_ref,
      f32_qkv_gqa_attention_ref,
      qf8_qf8w_gemm_f32_ref,
      f32_quantize_e4m3_ref,
      f32_quantize_per_row_e4m3_ref,
      nullptr,  // prepare_qconv_pool: the reference reads the checkpoint's layout
      0.0,      // qf8_gemm_rel_bound: the exact GEMM
      nullptr,  // prepare_qf8_weights: the reference reads the checkpoint's layout
  };
  return t;
}

namespace {

// AVX-512 with VNNI (vpdpbusd), BW (byte shuffles, masks), VBMI/VBMI2 (the 2:4 paths).
bool cpu_has_avx512vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi") &&
         __builtin_cpu_supports("avx512vbmi2");
}
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// The x86 tables start from the reference table: entries without an x86 kernel (the profile did
// not ask for one yet) stay the reference's, and new table entries cannot be left out by position.
const KernelTable& avx512vnni_table() {
  using namespace x86;
  static const KernelTable t = [] {
    KernelTable k = ref_kernel_table();
    k.name = "avx512vnni";
    k.qgemm[0][0] = qu8_qs8w_gemm_f32_6x64c4__avx512vnni;
    k.qgemm[0][1] = qu8_qs4w_gemm_f32_4x64c4__avx512vnni;
    k.qgemm[0][2] = qu8_qs8nmw_gemm_f32_4x64c8__avx512vnni;
    k.qgemm[1][0] = qs8_qs8w_gemm_f32_6x64c4__avx512vnni;
    k.qgemm[1][1] = qs8_qs4w_gemm_f32_4x64c4__avx512vnni;
    k.qgemm[1][2] = qs8_qs8nmw_gemm_f32_4x64c8__avx512vnni;
    k.qgemm[0][3] = qu8_qs8bsw_gemm_f32_6x32c4__avx512vnni;
    k.qgemm[0][4] = qu8_qs4bsw_gemm_f32_4x32c4__avx512vnni;
    k.qgemm[1][3] = qs8_qs8bsw_gemm_f32_6x32c4__avx512vnni;
    k.qgemm[1][4] = qs8_qs4bsw_gemm_f32_4x32c4__avx512vnni;
    k.prepare_qweights = prepare_qweights__avx512vnni;
    k.f32_gemm = f32_gemm__avx512_eigen;
    k.relu = f32_relu__avx512;
    k.maxpool2d = f32_maxpool2d__avx512;
    k.maxpool2d_nhwc = f32_maxpool2d_nhwc__avx512;
    k.im2col_f32 = f32_im2col__avx512;
    k.im2col_u8 = x8_im2col_u8__avx512;
    k.im2col_s8 = x8_im2col_s8__avx512;
    k.im2col_nhwc_x8 = x8_im2col_nhwc__avx512;
    k.transpose = f32_transpose__avx512;
    k.quantize_per_row_s8 = f32_quantize_per_row_s8__avx512;
    k.quantize_u8 = f32_quantize_u8__avx512;
    k.quantize_s8 = f32_quantize_s8__avx512;
    k.qconv_pool = x8_conv2d_pool_4x64c4__avx512vnni;
    k.prepare_qconv_pool = prepare_qconv_pool__avx512vnni;
    k.causal_attention = f32_causal_attention__avx512;
    k.qkv_causal_attention = f32_qkv_causal_attention__avx512;
    k.quantize_kv_rows = f32_quantize_kv_rows__avx512;
    k.gelu = f32_gelu__avx512;
    k.layernorm = f32_layernorm__avx512;
    k.gqa_attention = f32_gqa_attention__avx512;
    k.gated_act = f32_gated_act__x86;
    return k;
  }();
  return t;
}

const KernelTable& avx2_table() {
  using namespace x86;
  static const KernelTable t = [] {
    KernelTable k = ref_kernel_table();
    k.name = "avx2";
    k.qgemm[0][0] = qu8_qs8w_gemm_f32_5x16c2__avx2;
    k.qgemm[0][1] = qu8_qs4w_gemm_f32_4x16c2__avx2;
    k.qgemm[0][2] = qu8_qs8nmw_gemm_f32_5x16c2__avx2;
    k.qgemm[1][0] = qs8_qs8w_gemm_f32_5x16c2__avx2;
    k.qgemm[1][1] = qs8_qs4w_gemm_f32_4x16c2__avx2;
    k.qgemm[1][2] = qs8_qs8nmw_gemm_f32_5x16c2__avx2;
    k.qgemm[0][3] = qu8_qs8bsw_gemm_f32_5x16c2__avx2;
    k.qgemm[0][4] = qu8_qs4bsw_gemm_f32_4x16c2__avx2;
    k.qgemm[1][3] = qs8_qs8bsw_gemm_f32_5x16c2__avx2;
    k.qgemm[1][4] = qs8_qs4bsw_gemm_f32_4x16c2__avx2;
    k.prepare_qweights = prepare_qweights__avx2;
    k.f32_gemm = f32_gemm__avx2_eigen;
    k.relu = f32_relu__avx2;
    k.maxpool2d = f32_maxpool2d__avx2;
    k.maxpool2d_nhwc = f32_maxpool2d_nhwc__avx2;
    k.im2col_f32 = f32_im2col__avx2;
    k.im2col_u8 = x8_im2col_u8__avx2;
    k.im2col_s8 = x8_im2col_s8__avx2;
    k.im2col_nhwc_x8 = x8_im2col_nhwc__avx2;
    k.transpose = f32_transpose__avx2;
    k.quantize_per_row_s8 = f32_quantize_per_row_s8__avx2;
    k.quantize_u8 = f32_quantize_u8__avx2;
    k.quantize_s8 = f32_quantize_s8__avx2;
    k.qconv_pool = nullptr;  // no AVX2 variant: the conv op runs qgemm, pool and quantize itself
    k.causal_attention = f32_causal_attention__avx2;
    k.qkv_causal_attention = f32_qkv_causal_attention__avx2;
    k.gelu = f32_gelu__avx2;
    k.layernorm = f32_layernorm__avx2;
    k.gqa_attention = f32_gqa_attention__x86;
    k.gated_act = f32_gated_act__x86;
    return k;
  }();
  return t;
}

}  // namespace

const KernelTable& kernel_table_for_isa(const std::string& want) {
  if (want.empty()) return *available_kernel_tables().front();
  if (want == "ref") return ref_kernel_table();
  if (want == "avx2") {
    if (!cpu_has_avx2()) throw Error("QFORGE_ISA=avx2: this CPU lacks AVX2/FMA (use QFORGE_ISA=ref)");
    return avx2_table();
  }
  if (want == "avx512" || want == "avx512vnni") {
    if (!cpu_has_avx512vnni())
      throw Error("QFORGE_ISA=" + want +
                  ": this CPU lacks AVX-512 F/BW/VL/DQ/VNNI/VBMI/VBMI2 (use QFORGE_ISA=avx2 or ref)");
    return avx512vnni_table();
  }
  throw Error("QFORGE_ISA=" + want + " is not a kernel table; use ref, avx2 or avx512");
}

std::vector<const KernelTable*> available_kernel_tables() {
  std::vector<const KernelTable*> v;
  if (cpu_has_avx512vnni()) v.push_back(&avx512vnni_table());
  if (cpu_has_avx2()) v.push_back(&avx2_table());
  v.push_back(&ref_kernel_table());
  return v;
}

const KernelTable& select_kernels() {
  // Once per process (a throw is retried next call).
  // A pointer, not a reference: GCC 13 cannot see that the table outlives the string argument.
  static const KernelTable* const t = [] {
    const char* isa = std::getenv("QFORGE_ISA");
    return &kernel_table_for_isa(isa ? isa : "");
  }();
  return *t;
}

}  // namespace qf::kernels
