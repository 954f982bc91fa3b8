// The issue rate of the 2:4 kernels' instruction pairs on this CPU, against dense vpdpbusd:
// 16 independent accumulators, register operands only (no loads), one asm loop per mix, the best
// of 5 timings of 2^22 iterations. What it settles (docs/RESULTS.md, "2:4 convolution"): a 2:4
// step of 8 k costs one vpshufb / vpermb + one vpdpbusd per row and panel where the dense kernel
// issues two vpdpbusd, so the 2:4 kernels' ceiling is (time of 32 vpdpbusd) / (time of 16 pairs).
//
//   shuffle_mix        (no options; --help prints this)
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdint>
#define DP(a,b,acc) "vpdpbusd %%zmm" #a ", %%zmm" #b ", %%zmm" #acc "\n\t"
#define SH(src,ctl,dst) "vpshufb %%zmm" #ctl ", %%zmm" #src ", %%zmm" #dst "\n\t"
#define PB(src,ctl,dst) "vpermb %%zmm" #src ", %%zmm" #ctl ", %%zmm" #dst "\n\t"
#define CLOB "xmm0","xmm1","xmm2","xmm3","xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11","xmm12","xmm13","xmm14","xmm15","xmm16","xmm17","xmm18","xmm19","xmm20","xmm21","xmm22","xmm23","xmm24","xmm25","xmm26","xmm27","xmm28","xmm29","xmm30","xmm31","cc"
// dense: 32 dpbusd into 16 accs (zmm16..31), operands zmm0..7
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi"))) void dense(int64_t it){
 asm volatile("1:\n\t"
 DP(0,4,16) DP(0,5,17) DP(0,6,18) DP(0,7,19) DP(1,4,20) DP(1,5,21) DP(1,6,22) DP(1,7,23)
 DP(2,4,24) DP(2,5,25) DP(2,6,26) DP(2,7,27) DP(3,4,28) DP(3,5,29) DP(3,6,30) DP(3,7,31)
 DP(0,4,16) DP(0,5,17) DP(0,6,18) DP(0,7,19) DP(1,4,20) DP(1,5,21) DP(1,6,22) DP(1,7,23)
 DP(2,4,24) DP(2,5,25) DP(2,6,26) DP(2,7,27) DP(3,4,28) DP(3,5,29) DP(3,6,30) DP(3,7,31)
 "dec %0\n\tjnz 1b\n\t" : "+r"(it) :: CLOB);
}
// sparse: per acc one shuffle (src row zmm0..3, ctl zmm4..7 -> tmp zmm8..15) + dpbusd(tmp, w=zmm12..) 
#define SP(src,ctl,tmp,w,acc) SH(src,ctl,tmp) DP(tmp,w,acc)
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi"))) void sparse(int64_t it){
 asm volatile("1:\n\t"
 SP(0,4,8,12,16) SP(0,5,9,13,17) SP(0,6,10,14,18) SP(0,7,11,15,19)
 SP(1,4,8,12,20) SP(1,5,9,13,21) SP(1,6,10,14,22) SP(1,7,11,15,23)
 SP(2,4,8,12,24) SP(2,5,9,13,25) SP(2,6,10,14,26) SP(2,7,11,15,27)
 SP(3,4,8,12,28) SP(3,5,9,13,29) SP(3,6,10,14,30) SP(3,7,11,15,31)
 "dec %0\n\tjnz 1b\n\t" : "+r"(it) :: CLOB);
}
#define SPP(src,ctl,tmp,w,acc) PB(src,ctl,tmp) DP(tmp,w,acc)
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi"))) void sparse_perm(int64_t it){
 asm volatile("1:\n\t"
 SPP(0,4,8,12,16) SPP(0,5,9,13,17) SPP(0,6,10,14,18) SPP(0,7,11,15,19)
 SPP(1,4,8,12,20) SPP(1,5,9,13,21) SPP(1,6,10,14,22) SPP(1,7,11,15,23)
 SPP(2,4,8,12,24) SPP(2,5,9,13,25) SPP(2,6,10,14,26) SPP(2,7,11,15,27)
 SPP(3,4,8,12,28) SPP(3,5,9,13,29) SPP(3,6,10,14,30) SPP(3,7,11,15,31)
 "dec %0\n\tjnz 1b\n\t" : "+r"(it) :: CLOB);
}
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi"))) void dponly(int64_t it){
 asm volatile("1:\n\t"
 DP(0,4,16) DP(0,5,17) DP(0,6,18) DP(0,7,19) DP(1,4,20) DP(1,5,21) DP(1,6,22) DP(1,7,23)
 DP(2,4,24) DP(2,5,25) DP(2,6,26) DP(2,7,27) DP(3,4,28) DP(3,5,29) DP(3,6,30) DP(3,7,31)
 "dec %0\n\tjnz 1b\n\t" : "+r"(it) :: CLOB);
}
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi"))) void shonly(int64_t it){
 asm volatile("1:\n\t"
 SH(0,4,16) SH(0,5,17) SH(0,6,18) SH(0,7,19) SH(1,4,20) SH(1,5,21) SH(1,6,22) SH(1,7,23)
 SH(2,4,24) SH(2,5,25) SH(2,6,26) SH(2,7,27) SH(3,4,28) SH(3,5,29) SH(3,6,30) SH(3,7,31)
 "dec %0\n\tjnz 1b\n\t" : "+r"(it) :: CLOB);
}
// 256-bit variants
#define DPY(a,b,acc) "vpdpbusd %%ymm" #a ", %%ymm" #b ", %%ymm" #acc "\n\t"
#define SHY(src,ctl,dst) "vpshufb %%ymm" #ctl ", %%ymm" #src ", %%ymm" #dst "\n\t"
#define SPY(src,ctl,tmp,w,acc) SHY(src,ctl,tmp) DPY(tmp,w,acc)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"))) void sparse_y(int64_t it){
 asm volatile("1:\n\t"
 SPY(0,4,8,12,16) SPY(0,5,9,13,17) SPY(0,6,10,14,18) SPY(0,7,11,15,19)
 SPY(1,4,8,12,20) SPY(1,5,9,13,21) SPY(1,6,10,14,22) SPY(1,7,11,15,23)
 SPY(2,4,8,12,24) SPY(2,5,9,13,25) SPY(2,6,10,14,26) SPY(2,7,11,15,27)
 SPY(3,4,8,12,28) SPY(3,5,9,13,29) SPY(3,6,10,14,30) SPY(3,7,11,15,31)
 "dec %0\n\tjnz 1b\n\t" : "+r"(it) :: CLOB);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"))) void dense_y(int64_t it){
 asm volatile("1:\n\t"
 DPY(0,4,16) DPY(0,5,17) DPY(0,6,18) DPY(0,7,19) DPY(1,4,20) DPY(1,5,21) DPY(1,6,22) DPY(1,7,23)
 DPY(2,4,24) DPY(2,5,25) DPY(2,6,26) DPY(2,7,27) DPY(3,4,28) DPY(3,5,29) DPY(3,6,30) DPY(3,7,31)
 DPY(0,4,16) DPY(0,5,17) DPY(0,6,18) DPY(0,7,19) DPY(1,4,20) DPY(1,5,21) DPY(1,6,22) DPY(1,7,23)
 DPY(2,4,24) DPY(2,5,25) DPY(2,6,26) DPY(2,7,27) DPY(3,4,28) DPY(3,5,29) DPY(3,6,30) DPY(3,7,31)
 "dec %0\n\tjnz 1b\n\t" : "+r"(it) :: CLOB);
}
template<class F> double ns(F f){ const int64_t it=1<<22; double best=1e9; for(int r=0;r<5;++r){auto t0=std::chrono::steady_clock::now(); f(it); double e=std::chrono::duration<double>(std::chrono::steady_clock::now()-t0).count()*1e9/it; if(e<best)best=e;} return best;}
int main(int argc, char** argv){ if (argc > 1) { std::printf("shuffle_mix: ns per iteration of 16 independent vpdpbusd / vpshufb / vpermb mixes (AVX-512 VNNI, VBMI)\n"); return 0; } for(int k=0;k<2;++k){
 printf("dense 32dp zmm: %.2f ns/iter\n", ns(dense));
 printf("sparse 16sh+16dp zmm: %.2f\n", ns(sparse));
 printf("sparse 16vpermb+16dp zmm: %.2f\n", ns(sparse_perm));
 printf("16dp only: %.2f\n", ns(dponly));
 printf("16sh only: %.2f\n", ns(shonly));
 printf("dense 32dp ymm: %.2f\n", ns(dense_y));
 printf("sparse 16sh+16dp ymm: %.2f\n", ns(sparse_y));
}}
