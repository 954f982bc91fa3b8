// The M = 1 GEMV of dense kInt4PairsU weights with qs8 activations (a decoding step of a Q4_0
// checkpoint: bench/llama_race.sh), compiled with -mavx512f/bw/vl/dq/vnni.
//
// Why a GEMV of its own: qgemm_avx512vnni.cpp's tile reads 4 adjacent panels (16 outputs each)
// over all of K, i.e. 4 streams of K/2 bytes (16 KiB at K = 2048) that end together, and the
// next tile starts 4 new ones: the hardware prefetcher re-learns 4 streams every few
// microseconds, and the GEMV reached 16-18 GB/s where a 4-stream read of this Zen 4 reaches
// ~30 GB/s. Here a tile is panels {i, i + S, i + 2S, i + 3S} (S = panels / 4): tile i + 1 reads
// the panels right after tile i's in memory, so each of the 4 streams runs sequentially through a
// quarter of the weight (megabytes) and never restarts.
//
// The arithmetic is the tile's, lane for lane: per group the exact int32 sum of (c + 8) * x in two
// accumulator chains, minus 8 * sum_g x, then total += float(acc) * sw (fp16 scale, exact), and
// y = sx * total (+ bias) at the end, with -ffp-contract=off: bit-identical to the reference.
#include <immintrin.h>

#include <cstring>

#include "runtime/kernels/x86/x86_kernels.h"

namespace qf::kernels::x86 {
namespace {

constexpr int NR = 16;

inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {  // see qgemm_avx512vnni.cpp: in place
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

inline int32_t load_u32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Panels pan[0..NP) (any panel indices), row 0 of a.xp. Every panel is a full one (the tail
// tile with a masked store goes through the ordinary tile loop).
template <int NP>
void gemv_panels(const TileArgs& a, const int64_t (&pan)[NP]) {
  const PackedQWeights& W = *a.w;
  const KGeom& kg = W.kg;
  const int64_t bpg = kg.gk / 4;  // k-blocks per group (even: groups are padded to block pairs)
  const uint8_t* xr = a.xp;
  const uint8_t* wp[NP];
  const uint16_t* sp[NP];
  #pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    wp[p] = W.data + pan[p] * W.panel_bytes;
    sp[p] = W.scales_f16 + pan[p] * kg.groups * NR;
  }
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 total[NP];
  #pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) total[p] = _mm512_setzero_ps();
  for (int64_t g = 0; g < kg.groups; ++g) {
    __m512i acc[NP], acc2[NP];
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) acc[p] = acc2[p] = _mm512_setzero_si512();
    const int64_t b0 = g * bpg, b1 = b0 + bpg;
    for (int64_t b = b0; b < b1; b += 2) {
      const __m512i x0 = _mm512_set1_epi32(load_u32(xr + b * 4));
      const __m512i x1 = _mm512_set1_epi32(load_u32(xr + b * 4 + 4));
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        const __m512i v = _mm512_loadu_si512(wp[p] + b * 32);
        acc[p] = dpbusd(acc[p], _mm512_and_si512(v, low4), x0);                         // block b
        acc2[p] = dpbusd(acc2[p], _mm512_and_si512(_mm512_srli_epi16(v, 4), low4), x1);  // block b+1
      }
    }
    const __m512i xs = _mm512_set1_epi32(a.xsum8[g]);
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      const __m512i s = _mm512_sub_epi32(_mm512_add_epi32(acc[p], acc2[p]), xs);
      const __m512 sw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sp[p] + g * NR)));
      total[p] = _mm512_add_ps(total[p], _mm512_mul_ps(_mm512_cvtepi32_ps(s), sw));
    }
  }
  const __m512 sx = _mm512_set1_ps(a.sx[0]);
  #pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    const int64_t n0 = pan[p] * NR;
    __m512 v = _mm512_mul_ps(sx, total[p]);  // sx * total
    if (a.bias) v = _mm512_add_ps(v, _mm512_loadu_ps(a.bias + n0));
    _mm512_storeu_ps(a.y + n0, v);
  }
}

}  // namespace

void qs8_int4u_gemv_strided__avx512vnni(const TileArgs& a, int64_t stride, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t pan[4] = {i, i + stride, i + 2 * stride, i + 3 * stride};
    gemv_panels<4>(a, pan);
  }
}

}  // namespace qf::kernels::x86
