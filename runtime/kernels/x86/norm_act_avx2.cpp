// GELU and layernorm of the AVX2 table (compiled with -mavx2 -mfma -ffp-contract=off).
#define Eigen qforge_eigen_avx2_nocontract  // not f32_avx2.cpp's: other flags (-ffp-contract=off)
#define QF_ISA_SUFFIX avx2
#include "runtime/kernels/x86/norm_act_impl.inc"
