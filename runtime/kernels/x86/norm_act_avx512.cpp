// GELU and layernorm of the AVX-512 table (compiled with -mavx512{f,bw,vl,dq} -mfma -ffp-contract=off).
#define Eigen qforge_eigen_avx512_nocontract  // not f32_avx512.cpp's: other flags (-ffp-contract=off)
#define QF_ISA_SUFFIX avx512
#include "runtime/kernels/x86/norm_act_impl.inc"
