// AVX2 tile loops of the quantized GEMMs (compiled with -mavx2 only: no FMA anywhere).
//
// AVX2 has no vpdpbusd, and vpmaddubsw (u8 x s8 pairs summed to int16) saturates: 255*127*2 >
// 32767. So activations are packed as int16 (x - zx, in [-255, 255]) and weights sign-extended
// to int16 in registers (vpmovsxbw); vpmaddwd multiplies int16 pairs and sums each pair into
// int32 exactly. That computes the contract directly: no zero-point compensation term.
//
// A tile is MR (<= 6) rows x 2 panels of 8 outputs; a k-block is 2 k (one int32 of two int16 per row).
#include <immintrin.h>

#include <cstring>

#include "runtime/kernels/x86/x86_kernels.h"

namespace qf::kernels::x86 {
namespace {

constexpr int NR = 8;
constexpr int NPMAX = 2;


inline int32_t load_u32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <PackedFormat F, int MR, int NP>
inline void k_loop(const uint8_t* const* xr, const uint8_t* const* wp, int64_t b0, int64_t b1, __m256i (&acc)[MR][NP]) {
  if constexpr (F == PackedFormat::kInt8) {
    for (int64_t b = b0; b < b1; ++b) {
      __m256i wv[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p)  // 8 outputs x 2 k int8 -> int16
        wv[p] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp[p] + b * 16)));
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m256i xv = _mm256_set1_epi32(load_u32(xr[r] + b * 4));  // 2 int16 activations
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm256_add_epi32(acc[r][p], _mm256_madd_epi16(xv, wv[p]));
      }
    }
  } else {  // kInt4Pairs: block b in the low nibbles, b+1 in the high nibbles
    const __m128i lut = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    for (int64_t b = b0; b < b1; b += 2) {
      __m256i wlo[NP], whi[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wp[p] + b * 8));
        wlo[p] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(lut, _mm_and_si128(v, low4)));
        whi[p] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(v, 4), low4)));
      }
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m256i x0 = _mm256_set1_epi32(load_u32(xr[r] + b * 4));
        const __m256i x1 = _mm256_set1_epi32(load_u32(xr[r] + b * 4 + 4));
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          acc[r][p] = _mm256_add_epi32(acc[r][p], _mm256_madd_epi16(x0, wlo[p]));
          acc[r][p] = _mm256_add_epi32(acc[r][p], _mm256_madd_epi16(x1, whi[p]));
        }
      }
    }
  }
}

// BS: a block-sparse weight (F is its segments' dense format), p0 = tile index * tile_np.
template <PackedFormat F, int MR, int NP, bool BS = false>
void tile(const TileArgs& a, int64_t m0, int64_t p0) {
  const PackedQWeights& W = *a.w;
  int64_t seg = 0, seg_end = 0;
  if constexpr (BS) {
    const int64_t t = p0 / W.tile_np;
    seg = W.seg_ptr[static_cast<size_t>(t)];
    seg_end = W.seg_ptr[static_cast<size_t>(t + 1)];
  }
  const KGeom& kg = W.kg;
  const int64_t bpg = kg.gk / 2;
  const uint8_t* xr[MR];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) xr[r] = a.xp + (m0 + r) * a.x_row_bytes;
  const uint8_t* wp[NP];
  #pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) wp[p] = W.data + (p0 + p) * W.panel_bytes;
  __m256 total[MR][NP];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) total[r][p] = _mm256_setzero_ps();
  for (int64_t g = 0; g < kg.groups; ++g) {
    __m256i acc[MR][NP];
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) acc[r][p] = _mm256_setzero_si256();
    if constexpr (BS) {
      for (; seg < seg_end && W.seg_group[static_cast<size_t>(seg)] == g; ++seg) {
        const uint8_t* xs[MR];
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) xs[r] = xr[r] + W.seg_xoff[static_cast<size_t>(seg)];
        const uint8_t* ws[NP];
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) ws[p] = W.data + seg * W.seg_bytes + p * W.seg_panel_bytes;
        k_loop<F, MR, NP>(xs, ws, 0, W.seg_kblocks, acc);
      }
    } else {
      k_loop<F, MR, NP>(xr, wp, g * bpg, (g + 1) * bpg, acc);
    }
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      const __m256 sw = _mm256_loadu_ps(W.scales + ((p0 + p) * kg.groups + g) * NR);
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m256 accf = _mm256_cvtepi32_ps(acc[r][p]);
        if (W.per_group) {
          total[r][p] = _mm256_add_ps(total[r][p], _mm256_mul_ps(accf, sw));
        } else {
          const float sx = a.sx[(m0 + r) * a.sx_stride];
          total[r][p] = _mm256_mul_ps(accf, _mm256_mul_ps(_mm256_set1_ps(sx), sw));
        }
      }
    }
  }
  #pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    const int64_t n0 = (p0 + p) * NR;
    const int64_t valid = W.n - n0 < NR ? W.n - n0 : NR;
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m256 v = total[r][p];
      if (W.per_group) v = _mm256_mul_ps(_mm256_set1_ps(a.sx[(m0 + r) * a.sx_stride]), v);
      alignas(32) float out[NR];
      _mm256_store_ps(out, v);
      float* yr = a.y + (m0 + r) * W.n + n0;
      if (a.bias)
        for (int64_t j = 0; j < valid; ++j) yr[j] = out[j] + a.bias[n0 + j];  // scalar add = the ref's
      else
        for (int64_t j = 0; j < valid; ++j) yr[j] = out[j];
    }
  }
}

using TileFn = void (*)(const TileArgs&, int64_t, int64_t);

template <PackedFormat F, int MR, bool BS>
TileFn pick_np(int np) { return np == 1 ? tile<F, MR, 1, BS> : tile<F, MR, 2, BS>; }

// Rows per tile within the 16 ymm registers: MR*2 accumulators + 2 (int4: 4) weight vectors + 1.
template <PackedFormat F>
constexpr int mr_max() { return F == PackedFormat::kInt4Pairs ? 4 : 5; }

template <PackedFormat F, bool BS = false>
TileFn pick(int mr, int np) {
  switch (mr) {
    case 1: return pick_np<F, 1, BS>(np);
    case 2: return pick_np<F, 2, BS>(np);
    case 3: return pick_np<F, 3, BS>(np);
    case 4: return pick_np<F, 4, BS>(np);
    case 5: if constexpr (mr_max<F>() >= 5) return pick_np<F, 5, BS>(np); else return nullptr;
    default: if constexpr (mr_max<F>() >= 6) return pick_np<F, 6, BS>(np); else return nullptr;
  }
}

template <PackedFormat F, bool BS = false>
void tiles_of(const TileArgs& a, int64_t t0, int64_t t1) {
  const int64_t tp = BS ? a.w->tile_np : NPMAX;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t p0 = t * tp;
    const int np = static_cast<int>(a.w->panels - p0 < tp ? a.w->panels - p0 : tp);
    constexpr int MRX = mr_max<F>();
    const int64_t full = a.m / MRX * MRX;
    const TileFn body = pick<F, BS>(MRX, np);
    for (int64_t m0 = 0; m0 < full; m0 += MRX) body(a, m0, p0);
    if (full < a.m) pick<F, BS>(static_cast<int>(a.m - full), np)(a, full, p0);
  }
}

void tiles(const TileArgs& a, int64_t t0, int64_t t1) {
  if (a.w->format == PackedFormat::kBlockInt8) tiles_of<PackedFormat::kInt8, true>(a, t0, t1);
  else if (a.w->format == PackedFormat::kBlockInt4Pairs) tiles_of<PackedFormat::kInt4Pairs, true>(a, t0, t1);
  else if (a.w->format == PackedFormat::kInt4Pairs) tiles_of<PackedFormat::kInt4Pairs>(a, t0, t1);
  else tiles_of<PackedFormat::kInt8>(a, t0, t1);  // 2:4 weights are prepared dense for AVX2
}

}  // namespace

const IsaQGemm kAvx2QGemm = {"avx2", NR, 2, NPMAX, false, false, false, tiles};

}  // namespace qf::kernels::x86
