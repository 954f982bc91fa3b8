// AVX-512 VNNI tile loops of the quantized GEMMs (compiled with -mavx512f/bw/vl/dq/vnni/vbmi/
// vbmi2; called only when the CPU has them, see dispatch.cpp).
//
// A tile is MR rows x NP panels of 16 outputs. Per k-block of 4 the kernel loads NP weight
// vectors (16 outputs x 4 k int8, layout of x86_kernels.h), broadcasts 4 activation bytes of
// each row and issues MR*NP vpdpbusd (u8 x s8 -> int32, four products summed, no saturation).
// Activations arrive as u8 (qs8 shifted by +128), so the exact contract is
//   acc = sum (x' - zc) * w = vpdpbusd sum - zc * rowsum(w)   (zc = zero point, or 128 for qs8)
// computed once per group. The float epilogue is the reference's, op for op, lane by lane
// (no FMA: -ffp-contract=off and explicit mul/add), so results are bit-identical.
#include <immintrin.h>

#include <cstring>

#include "runtime/kernels/x86/x86_kernels.h"

namespace qf::kernels::x86 {
namespace {

constexpr int NR = 16;
constexpr int NPMAX = 4;

inline int32_t load_u32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline int64_t load_u64(const uint8_t* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// kSparse24NibbleSlice's software prefetch, bytes ahead in each of a tile's panel streams, into
// L2. Measured (bench/q4_gemv_bench --compare, 1 thread, 8192 x 2048 from DRAM): none 414 us,
// 16 KiB 338 us, 8-32 KiB alike; the same prefetch slowed dense kInt4PairsU (330 -> 411 us), whose
// 4 lines per group the hardware prefetcher keeps up with. Why the 2:4 streams need it is not
// known (this VM has no performance counters): the same loads without any arithmetic streamed
// ~20% slower per byte than dense's (docs/RESULTS.md, "2:4 at M = 1").
constexpr int64_t kSliceStreamPrefetch = 16384;

// An int8 tile of MR >= kTilePrefetchMinRows rows, whose weights every block of rows re-reads
// from L2, prefetches each panel stream this many k-blocks (64-byte lines) ahead into L1. On
// Zen 5, whose vpdpbusd retires twice Zen 4's products per cycle, the hardware prefetcher falls
// behind the tile's 4 streams: bench/int8_tile_probe measured 90 % of the vpdpbusd ceiling
// without and 95 % with it where the weights stay in L3, and no change (90 %) where they come
// from DRAM (docs/RESULTS.md, "The int8 GEMM on Zen 5"). The GEMV's 1-2 row tiles stream from
// DRAM and keep the hardware prefetcher alone.
constexpr int kTilePrefetchKBlocks = 6;
constexpr int kTilePrefetchMinRows = 3;

// acc += sum of four u8(a) * s8(b) products per int32 lane. Inline asm rather than
// _mm512_dpbusd_epi32: GCC 12 does not keep the accumulator in place for the intrinsic and, with
// 16-24 accumulators live, copies and spills them to the stack on every k-block (measured 2x).
inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

// Accumulates k-blocks [b0, b1) of one group into acc[MR][NP].
template <PackedFormat F, int MR, int NP>
inline void k_loop(const TileArgs& a, const uint8_t* const* xr, const uint8_t* const* wp, int64_t b0, int64_t b1,
                   __m512i (&acc)[MR][NP]) {
  if constexpr (F == PackedFormat::kInt8) {
    const int32_t* xq[MR];
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) xq[r] = reinterpret_cast<const int32_t*>(xr[r]);
    const __m512i* wq[NP];
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) wq[p] = reinterpret_cast<const __m512i*>(wp[p]);
    for (int64_t b = b0; b < b1; ++b) {
      __m512i wv[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) wv[p] = _mm512_loadu_si512(wq[p] + b);
      if constexpr (MR >= kTilePrefetchMinRows)
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p)
          _mm_prefetch(reinterpret_cast<const char*>(wq[p] + b + kTilePrefetchKBlocks), _MM_HINT_T0);
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i xv = _mm512_set1_epi32(xq[r][b]);  // 4 k of row r, every lane
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], xv, wv[p]);
      }
    }
  } else if constexpr (F == PackedFormat::kInt4Pairs) {
    // Two's complement nibble -> int8, by table (vpshufb looks up 16 entries per 128-bit lane).
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1));
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = b0; b < b1; b += 2) {  // groups are padded to whole block pairs
      __m512i wlo[NP], whi[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        const __m512i v = _mm512_loadu_si512(wp[p] + b * 32);
        wlo[p] = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, low4));                        // block b
        whi[p] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));  // block b+1
      }
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i x0 = _mm512_set1_epi32(load_u32(xr[r] + b * 4));
        const __m512i x1 = _mm512_set1_epi32(load_u32(xr[r] + b * 4 + 4));
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          acc[r][p] = dpbusd(acc[r][p], x0, wlo[p]);
          acc[r][p] = dpbusd(acc[r][p], x1, whi[p]);
        }
      }
    }
  } else if constexpr (F == PackedFormat::kInt4PairsU) {
    // Unsigned nibbles (c + 8) are the u8 operand as they are; the activations (s8) the other.
    // Few rows (the GEMV) leave too few accumulators to hide vpdpbusd's latency: the high-nibble
    // blocks go to a second set, added at the end (exact int32 sums: only the chains change).
    // Only then: a 4 x 4 tile has 16 chains already, and a second 16 accumulators spilled to the
    // stack on every k-block (GCC 12: 32 accumulators + 8 weight vectors > 32 registers).
    constexpr bool kSplit = MR * NP <= 8;
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512i acc2[MR][NP];
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) acc2[r][p] = _mm512_setzero_si512();
    for (int64_t b = b0; b < b1; b += 2) {  // groups are padded to whole block pairs
      __m512i wlo[NP], whi[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        const __m512i v = _mm512_loadu_si512(wp[p] + b * 32);
        wlo[p] = _mm512_and_si512(v, low4);                        // block b
        whi[p] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);  // block b+1
      }
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i x0 = _mm512_set1_epi32(load_u32(xr[r] + b * 4));
        const __m512i x1 = _mm512_set1_epi32(load_u32(xr[r] + b * 4 + 4));
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          acc[r][p] = dpbusd(acc[r][p], wlo[p], x0);
          if constexpr (kSplit) acc2[r][p] = dpbusd(acc2[r][p], whi[p], x1);
          else acc[r][p] = dpbusd(acc[r][p], whi[p], x1);
        }
      }
    }
    if constexpr (kSplit)
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_add_epi32(acc[r][p], acc2[r][p]);
  } else if constexpr (F == PackedFormat::kSparse24Expand) {
    for (int64_t b = b0; b < b1; ++b) {
      __m512i wv[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        const uint8_t* blk = wp[p] + b * 40;
        // The mask has bits i0, i1 of each lane's 4-bit field set: vpexpandb drops the two kept
        // bytes there, in order, and zeroes the other two -- the dense block, rebuilt in a register.
        const __mmask64 mk = static_cast<__mmask64>(load_u64(blk));
        const __m512i v = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 8)));
        wv[p] = _mm512_maskz_expand_epi8(mk, v);
      }
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i xv = _mm512_set1_epi32(load_u32(xr[r] + b * 4));
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], xv, wv[p]);
      }
    }
  } else if constexpr (F == PackedFormat::kSparse24GatherI4) {
    // kSparse24Gather's activation gather, with the kept values unpacked from nibbles as
    // kInt4Pairs does: one 64-byte load carries 16 k of 16 outputs.
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1));
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = b0; b < b1; b += 4) {  // groups are padded to whole chunks of 16 k
      #pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {  // first / second 8 k of the chunk: low / high nibbles
        __m512i wv[NP], ctl[NP];
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          const uint8_t* blk = wp[p] + (b / 4) * 128;
          __m512i v = _mm512_loadu_si512(blk), c = _mm512_loadu_si512(blk + 64);
          if (h) {
            v = _mm512_srli_epi16(v, 4);
            c = _mm512_srli_epi16(c, 4);
          }
          wv[p] = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, low4));
          ctl[p] = _mm512_and_si512(c, low4);
        }
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          const __m512i xw = _mm512_set1_epi64(load_u64(xr[r] + b * 4 + 8 * h));
          #pragma GCC unroll 8
          for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], _mm512_shuffle_epi8(xw, ctl[p]), wv[p]);
        }
      }
    }
  } else if constexpr (F == PackedFormat::kSparse24NibbleIdx) {
    // Values: and 0xF0 keeps a nibble as 16 * w (s8), the low nibbles shifted up first; the tile
    // divides the exact sum by 16 once per group. Controls: after vpmovzxwd a lane holds its two
    // index bytes (h = 0, 1); vpmultishiftqb puts bits 2s.. of byte h into byte s of the lane,
    // vpternlogd keeps the low 2 bits and adds 4 for the second group of 4 (s >= 2).
    const __m512i hi4 = _mm512_set1_epi8(static_cast<char>(0xF0));
    const __m512i low2 = _mm512_set1_epi8(3);
    const __m512i plus4 = _mm512_set1_epi32(0x04040000);
    const __m512i shifts[2] = {_mm512_set1_epi64(0x2624222006040200LL), _mm512_set1_epi64(0x2E2C2A280E0C0A08LL)};
    for (int64_t b = b0; b < b1; b += 4) {  // groups are padded to whole chunks of 16 k
      #pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        __m512i wv[NP], ctl[NP];
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          const uint8_t* blk = wp[p] + (b / 4) * 96;
          const __m512i v = _mm512_loadu_si512(blk);
          wv[p] = _mm512_and_si512(h ? v : _mm512_slli_epi16(v, 4), hi4);
          const __m512i ix = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64)));
          ctl[p] = _mm512_ternarylogic_epi32(_mm512_multishift_epi64_epi8(shifts[h], ix), low2, plus4, 0xEA);  // a&b|c
        }
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          const __m512i xw = _mm512_set1_epi64(load_u64(xr[r] + b * 4 + 8 * h));
          #pragma GCC unroll 8
          for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], _mm512_shuffle_epi8(xw, ctl[p]), wv[p]);
        }
      }
    }
  } else if constexpr (F == PackedFormat::kSparse24NibbleCtl) {
    // kSparse24GatherI4's bytes: values as kSparse24NibbleIdx takes them (16 * w, and 0xF0), the
    // controls as stored (low nibble: first 8 k; after a 16-bit shift right by 4, the second 8 k;
    // the high nibble, a control <= 7 or a zero shifted in, keeps bit 7 clear).
    // The low nibbles become 16 * w in one GF(2) affine op (GFNI): output bit i = input bit i - 4
    // for i >= 4, else 0 (matrix row of output bit i in byte 7 - i), i.e. (v << 4) & 0xF0 per byte.
    const __m512i hi4 = _mm512_set1_epi8(static_cast<char>(0xF0));
    const __m512i lo_to_hi = _mm512_set1_epi64(0x0000000001020408LL);
    // Few rows (the GEMV: 4 accumulators) cannot hide vpdpbusd's latency: the second 8 k of each
    // chunk go to a second set, added at the end (exact int32 sums; only the chains change).
    constexpr bool kSplit = MR * NP <= 4;
    __m512i acc2[MR][NP];  // unused (and optimized away) unless kSplit
    if constexpr (kSplit)
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc2[r][p] = _mm512_setzero_si512();
    for (int64_t b = b0; b < b1; b += 4) {  // groups are padded to whole chunks of 16 k
      #pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        __m512i wv[NP], ctl[NP];
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          const uint8_t* blk = wp[p] + (b / 4) * 128;
          const __m512i v = _mm512_loadu_si512(blk), c = _mm512_loadu_si512(blk + 64);
          wv[p] = h ? _mm512_and_si512(v, hi4) : _mm512_gf2p8affine_epi64_epi8(v, lo_to_hi, 0);
          ctl[p] = h ? _mm512_srli_epi16(c, 4) : c;
        }
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          const __m512i xw = _mm512_set1_epi64(load_u64(xr[r] + b * 4 + 8 * h));
          #pragma GCC unroll 8
          for (int p = 0; p < NP; ++p) {
            __m512i& sum = kSplit && h ? acc2[r][p] : acc[r][p];
            sum = dpbusd(sum, _mm512_shuffle_epi8(xw, ctl[p]), wv[p]);
          }
        }
      }
    }
    if constexpr (kSplit)
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_add_epi32(acc[r][p], acc2[r][p]);
  } else if constexpr (F == PackedFormat::kSparse24NibbleSlice) {
    // Values as kSparse24NibbleCtl takes them (16 * w: GFNI for the low nibbles, and 0xF0 for the
    // high). Controls of step h (8 k): the index bytes shifted right by 2h (16-bit shift: the bits
    // that come in from the neighbouring byte land above bit 1 and are masked off), then one
    // vpternlogd: (i & 3) | 4 for the kept values s >= 2 (the window's second group of 4).
    const __m512i hi4 = _mm512_set1_epi8(static_cast<char>(0xF0));
    const __m512i lo_to_hi = _mm512_set1_epi64(0x0000000001020408LL);
    const __m512i low2 = _mm512_set1_epi8(3);
    const __m512i plus4 = _mm512_set1_epi32(0x04040000);
    // The GEMV (<= 4 accumulators) alternates two accumulator sets over the steps, so that two
    // dependency chains per output hide vpdpbusd's latency (exact int32 sums either way).
    constexpr bool kSplit = MR * NP <= 4;
    __m512i acc2[MR][NP];  // unused (and optimized away) unless kSplit
    if constexpr (kSplit)
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc2[r][p] = _mm512_setzero_si512();
    for (int64_t b = b0; b < b1; b += 8) {  // groups are padded to whole chunks of 32 k
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {  // never faults, also past the end of the weight
        const char* q = reinterpret_cast<const char*>(wp[p] + (b / 8) * 192 + kSliceStreamPrefetch);
        _mm_prefetch(q, _MM_HINT_T1);
        _mm_prefetch(q + 64, _MM_HINT_T1);
        _mm_prefetch(q + 128, _MM_HINT_T1);
      }
      #pragma GCC unroll 4
      for (int h = 0; h < 4; ++h) {
        __m512i wv[NP], ctl[NP];
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          const uint8_t* blk = wp[p] + (b / 8) * 192;
          const __m512i v = _mm512_loadu_si512(blk + 64 * (h / 2));
          wv[p] = h & 1 ? _mm512_and_si512(v, hi4) : _mm512_gf2p8affine_epi64_epi8(v, lo_to_hi, 0);
          __m512i ix = _mm512_loadu_si512(blk + 128);
          if (h) ix = _mm512_srli_epi16(ix, 2 * h);
          ctl[p] = _mm512_ternarylogic_epi32(ix, low2, plus4, 0xEA);  // a & b | c
        }
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          const __m512i xw = _mm512_set1_epi64(load_u64(xr[r] + b * 4 + 8 * h));
          #pragma GCC unroll 8
          for (int p = 0; p < NP; ++p) {
            __m512i& sum = kSplit && (h & 1) ? acc2[r][p] : acc[r][p];
            sum = dpbusd(sum, _mm512_shuffle_epi8(xw, ctl[p]), wv[p]);
          }
        }
      }
    }
    if constexpr (kSplit)
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_add_epi32(acc[r][p], acc2[r][p]);
  } else if constexpr (F == PackedFormat::kSparse24SlicePerm) {
    // kSparse24NibbleSlice's bytes. Values as there (GFNI for the low nibbles, and 0xF0 for the
    // high); controls: one vpternlogd per step into the chunk's permuted 32 activation bytes
    // (x86_kernels.h), the index bytes shifted once per chunk (steps 2, 3).
    const __m512i hi4 = _mm512_set1_epi8(static_cast<char>(0xF0));
    const __m512i lo_to_hi = _mm512_set1_epi64(0x0000000001020408LL);
    const __m512i m03 = _mm512_set1_epi8(0x03), m0c = _mm512_set1_epi8(0x0C);
    const __m512i c0 = _mm512_set1_epi32(0x04040000), c1 = _mm512_set1_epi32(0x11111010);
    const __m512i c2 = _mm512_set1_epi32(0x0C0C0808), c3 = _mm512_set1_epi32(0x13131212);
    // One accumulator set, also at M = 1 (two alternating sets, as kSparse24NibbleSlice has,
    // measured slower here).
    const int pf_lines = a.w->stream_prefetch_lines;
    for (int64_t b = b0; b < b1; b += 8) {  // groups are padded to whole chunks of 32 k
      const int64_t coff = a.w->slice_chunk_offset(b / 8);  // the chunk's bytes in each panel stream
      __m512i xc[MR];
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
        xc[r] = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[r] + b * 4)));
      // The index bytes of every panel stay in registers over the chunk at M = 1; with more rows
      // (MR x NP accumulators) they would spill, so each step reloads them (L1) and shifts again.
      constexpr bool kKeepIx = MR == 1;
      __m512i ix[NP], sh[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {  // never faults, also past the end of the weight
        const uint8_t* blk = wp[p] + coff;
        const char* q = reinterpret_cast<const char*>(blk + kSliceStreamPrefetch);
        if (pf_lines > 0) _mm_prefetch(q, _MM_HINT_T1);
        if (pf_lines > 1) _mm_prefetch(q + 64, _MM_HINT_T1);
        if (pf_lines > 2) _mm_prefetch(q + 128, _MM_HINT_T1);
        if constexpr (kKeepIx) {
          ix[p] = _mm512_loadu_si512(blk + 128);
          sh[p] = _mm512_srli_epi16(ix[p], 4);
        }
      }
      #pragma GCC unroll 4
      for (int h = 0; h < 4; ++h) {
        // Panel by panel, its rows inside: only one panel's value and control vectors are live
        // next to the MR x NP accumulators (the MR = 4 tile spilled with all NP of them).
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          const __m512i v = _mm512_loadu_si512(wp[p] + coff + 64 * (h / 2));
          const __m512i wv = h & 1 ? _mm512_and_si512(v, hi4) : _mm512_gf2p8affine_epi64_epi8(v, lo_to_hi, 0);
          __m512i xi;
          if constexpr (kKeepIx) {
            xi = h < 2 ? ix[p] : sh[p];
          } else {
            xi = _mm512_loadu_si512(wp[p] + coff + 128);
            if (h >= 2) xi = _mm512_srli_epi16(xi, 4);
          }
          const __m512i ctl = _mm512_ternarylogic_epi32(xi, h & 1 ? m0c : m03,
                                                        h == 0 ? c0 : h == 1 ? c1 : h == 2 ? c2 : c3, 0xEA);  // a & b | c
          #pragma GCC unroll 8
          for (int r = 0; r < MR; ++r) acc[r][p] = dpbusd(acc[r][p], _mm512_permutexvar_epi8(ctl, xc[r]), wv);
        }
      }
    }
  } else if constexpr (F == PackedFormat::kSparse24PermByte) {
    // The stored byte is the vpermb index as it is (bits 0..2: the window byte; bits 3..5 pick
    // one of the window's 8 identical copies; 6..7 are ignored) and, and 0xF0, the weight 16 * w.
    // One accumulator set even at M = 1: a group's 4 dependent vpdpbusd per output are shorter
    // than the tile's work per group, and the next group's chains start from a fresh value.
    const __m512i hi4 = _mm512_set1_epi8(static_cast<char>(0xF0));
    for (int64_t b = b0; b < b1; b += 4) {  // 16 k per pass: groups are padded to whole 8-k steps
      #pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        if (b + 2 * h >= b1) break;  // a group of 8 * odd k ends after the first step
        __m512i wv[NP], ctl[NP];
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          ctl[p] = _mm512_loadu_si512(wp[p] + (b / 2 + h) * 64);
          wv[p] = _mm512_and_si512(ctl[p], hi4);
        }
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          const __m512i xw = _mm512_set1_epi64(load_u64(xr[r] + b * 4 + 8 * h));
          #pragma GCC unroll 8
          for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], _mm512_permutexvar_epi8(ctl[p], xw), wv[p]);
        }
      }
    }
  } else if constexpr (F == PackedFormat::kSparse24GatherCtl) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = b0; b < b1; b += 4) {  // groups are padded to whole chunks of 16 k
      #pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        __m512i wv[NP], ctl[NP];
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          const uint8_t* blk = wp[p] + (b / 4) * 192;
          wv[p] = _mm512_loadu_si512(blk + 64 * h);
          __m512i c = _mm512_loadu_si512(blk + 128);
          if (h) c = _mm512_srli_epi16(c, 4);
          ctl[p] = _mm512_and_si512(c, low4);
        }
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          const __m512i xw = _mm512_set1_epi64(load_u64(xr[r] + b * 4 + 8 * h));
          #pragma GCC unroll 8
          for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], _mm512_shuffle_epi8(xw, ctl[p]), wv[p]);
        }
      }
    }
  } else {  // kSparse24Gather
    // Index byte of a lane: i0 | i1 << 2 | i2 << 4 | i3 << 6 (kept positions in the two groups of
    // 4). vpmultishiftqb pulls bits 0,2,4,6 of it into the lane's 4 bytes, and 3 / +4 make them
    // byte offsets into the 8-byte activation window (second group starts at 4).
    const __m512i shifts = _mm512_set1_epi64(0x2624222006040200LL);
    const __m512i low2 = _mm512_set1_epi8(3);
    const __m512i plus4 = _mm512_set1_epi32(0x04040000);
    for (int64_t b = b0; b < b1; b += 2) {
      __m512i wv[NP], ctl[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        const uint8_t* blk = wp[p] + (b / 2) * 80;
        wv[p] = _mm512_loadu_si512(blk);
        const __m512i codes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 64)));
        ctl[p] = _mm512_or_si512(_mm512_and_si512(_mm512_multishift_epi64_epi8(shifts, codes), low2), plus4);
      }
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i xw = _mm512_set1_epi64(load_u64(xr[r] + b * 4));  // 8 k, in every 128-bit lane
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p)
          acc[r][p] = dpbusd(acc[r][p], _mm512_shuffle_epi8(xw, ctl[p]), wv[p]);
      }
    }
  }
}

// One segment (kept block column) of a block-sparse tile: nkb k-blocks of the dense layout,
// xs / ws already at the segment; NKB > 0 is nkb known at compile time (the loop then has no
// remainder dispatch). A tile of few rows (M = 1, 2: the GEMV) has too few accumulators to hide
// vpdpbusd's latency over a short segment, so the odd k-blocks (int4: the high-nibble blocks)
// go to a second set, acc2, which the tile adds once per group: the int32 sums are exact, so the
// split changes the dependency chains and nothing else.
template <int MR, int NP>
constexpr bool split_acc() { return MR * NP <= 4; }

// A tile's segments are one contiguous stream (then the next tile's): the loops prefetch it
// this far ahead. One stream has less memory-level parallelism than the dense tiles' four, so
// without it the GEMV of a weight that does not fit in L3 waits on DRAM at every segment.
constexpr int64_t kSegPrefetchBytes = 4096;

template <PackedFormat F, int MR, int NP, int NKB>
inline void seg_loop(const uint8_t* const* xs, const uint8_t* const* ws, int64_t nkb_rt, __m512i (&acc)[MR][NP],
                     __m512i (&acc2)[MR][NP]) {
  constexpr bool kSplit = split_acc<MR, NP>();
  const int64_t nkb = NKB > 0 ? NKB : nkb_rt;
  if constexpr (F == PackedFormat::kInt8) {
    auto block = [&](int64_t b, __m512i (&ac)[MR][NP]) {
      __m512i wv[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        _mm_prefetch(reinterpret_cast<const char*>(ws[p] + b * 64 + kSegPrefetchBytes), _MM_HINT_T0);
        wv[p] = _mm512_loadu_si512(ws[p] + b * 64);
      }
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i xv = _mm512_set1_epi32(load_u32(xs[r] + b * 4));
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) ac[r][p] = dpbusd(ac[r][p], xv, wv[p]);
      }
    };
    int64_t b = 0;
    #pragma GCC unroll 8
    for (; b + 1 < nkb; b += 2) {
      block(b, acc);
      if constexpr (kSplit) block(b + 1, acc2);
      else block(b + 1, acc);
    }
    if (b < nkb) block(b, acc);
  } else {  // kInt4Pairs: nkb even
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1));
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    #pragma GCC unroll 8
    for (int64_t b = 0; b < nkb; b += 2) {
      __m512i wlo[NP], whi[NP];
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        _mm_prefetch(reinterpret_cast<const char*>(ws[p] + b * 32 + kSegPrefetchBytes), _MM_HINT_T0);
        const __m512i v = _mm512_loadu_si512(ws[p] + b * 32);
        wlo[p] = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, low4));
        whi[p] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
      }
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i x0 = _mm512_set1_epi32(load_u32(xs[r] + b * 4));
        const __m512i x1 = _mm512_set1_epi32(load_u32(xs[r] + b * 4 + 4));
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          acc[r][p] = dpbusd(acc[r][p], x0, wlo[p]);
          if constexpr (kSplit) acc2[r][p] = dpbusd(acc2[r][p], x1, whi[p]);
          else acc[r][p] = dpbusd(acc[r][p], x1, whi[p]);
        }
      }
    }
  }
}

template <PackedFormat F>
constexpr int64_t panel_block_bytes() {  // bytes per k-block of one panel
  return F == PackedFormat::kInt8 ? 64 : F == PackedFormat::kInt4Pairs ? 32 : F == PackedFormat::kSparse24Expand ? 40 : 40;
}

// One tile: rows [m0, m0+MR), panels [p0, p0+NP). BS: a block-sparse weight (F is then the
// dense format of its segments), p0 = tile index * tile_np.
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
  const int64_t bpg = kg.gk / 4;  // k-blocks per group
  const uint8_t* xr[MR];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) xr[r] = a.xp + (m0 + r) * a.x_row_bytes;
  // Panel p of the tile is p0 + p * ps (ps = a.panel_stride: 1, or a quarter of the weight's
  // panels for the strided GEMV; block formats: always 1).
  const int64_t ps = BS ? 1 : a.panel_stride;
  const uint8_t* wp[NP];
  __mmask16 store_mask[NP];
  #pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    wp[p] = W.panel_ptr(p0 + p * ps);
    const int64_t valid = W.n - (p0 + p * ps) * NR;
    store_mask[p] = valid >= NR ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1);
  }
  const __m512i zc = _mm512_set1_epi32(a.zc);
  __m512 total[MR][NP];  // per group: sum_g float(acc_g) * sw[n, g], in increasing g
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) total[r][p] = _mm512_setzero_ps();

  // kSparse24PermByte sums 16 * w: its accumulators start at -16 * zc * rowsum (the zero-point
  // term, so the epilogue has no subtraction), and where the group's float epilogue is exactly 16
  // times the reference's (per group with fp16 scales: every product float(16 acc) * sw is
  // 16 * float(acc) * sw, normal since |sw| >= 2^-24 and |acc| >= 1 or 0, and so is every
  // partial sum, each 0 or >= 2^-47 in magnitude) the factor 16 stays in the float total and
  // leaves it once, exactly, by * 1/16 at the end; elsewhere (per channel, float32 scales: a
  // product may be subnormal) the exact int32 sum is shifted right by 4 per group as before.
  // kSparse24SlicePerm folds the 16 the same way but subtracts its zero-point term after the
  // k-loop, as the other formats do: an accumulator that starts from the row sums waits for their
  // load before its first vpdpbusd, which from DRAM cost the GEMV ~25% (docs/RESULTS.md).
  constexpr bool kAccInit = F == PackedFormat::kSparse24PermByte;
  const bool fold16 = (F == PackedFormat::kSparse24PermByte || F == PackedFormat::kSparse24SlicePerm) && W.per_group &&
                      W.scales_f16 != nullptr;
  const __m512i zc16 = _mm512_set1_epi32(-16 * a.zc);
  // Group g's row sums of panel p (int32 lanes), wherever they are kept.
  auto rowsums = [&](int p, int64_t g) {
    const int64_t side = ((p0 + p * ps) * kg.groups + g) * NR;
    return W.side_inline ? _mm512_cvtepi8_epi32(_mm_loadu_si128(
                               reinterpret_cast<const __m128i*>(wp[p] + W.slice_side_offset(g) + 16 * (g % 4))))
           : W.rowsum8   ? _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(W.rowsum8 + side)))
           : W.rowsum16  ? _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(W.rowsum16 + side)))
                         : _mm512_loadu_si512(W.rowsum + side);
  };
  const __m512i zc_late = _mm512_set1_epi32(fold16 ? 16 * a.zc : a.zc);  // the compensation's multiplier
  for (int64_t g = 0; g < kg.groups; ++g) {
    __m512i acc[MR][NP];
    if constexpr (kAccInit) {
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        const __m512i init = _mm512_mullo_epi32(rowsums(p, g), zc16);
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) acc[r][p] = init;
      }
    } else {
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_setzero_si512();
    }
    if constexpr (BS) {
      // The tile's kept block columns of group g, each a run of seg_kblocks k-blocks: the dense
      // micro-kernel on the segment's weights, with the activations moved to its k.
      __m512i acc2[MR][NP];
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc2[r][p] = _mm512_setzero_si512();
      const int64_t* xoff = W.seg_xoff.data();
      const int32_t* sgroup = W.seg_group.data();
      const uint8_t* wseg = W.data + seg * W.seg_bytes;
      for (; seg < seg_end && sgroup[seg] == g; ++seg, wseg += W.seg_bytes) {
        const uint8_t* xs[MR];
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) xs[r] = xr[r] + xoff[seg];
        const uint8_t* ws[NP];
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) ws[p] = wseg + p * W.seg_panel_bytes;
        if (W.seg_kblocks == 8) seg_loop<F, MR, NP, 8>(xs, ws, 8, acc, acc2);  // 32-wide blocks
        else seg_loop<F, MR, NP, 0>(xs, ws, W.seg_kblocks, acc, acc2);
      }
      if constexpr (split_acc<MR, NP>())
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r)
          #pragma GCC unroll 8
          for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_add_epi32(acc[r][p], acc2[r][p]);
    } else {
      k_loop<F, MR, NP>(a, xr, wp, g * bpg, (g + 1) * bpg, acc);
      if constexpr (F == PackedFormat::kSparse24NibbleIdx || F == PackedFormat::kSparse24NibbleCtl ||
                    F == PackedFormat::kSparse24NibbleSlice || F == PackedFormat::kSparse24PermByte ||
                    F == PackedFormat::kSparse24SlicePerm)  // 16 * w
        if (!fold16)
          #pragma GCC unroll 8
          for (int r = 0; r < MR; ++r)
            #pragma GCC unroll 8
            for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_srai_epi32(acc[r][p], 4);
    }
    if constexpr (F == PackedFormat::kInt4PairsU)  // the nibbles' + 8: acc_g -= 8 * sum_g x
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i xs = _mm512_set1_epi32(a.xsum8[(m0 + r) * kg.groups + g]);
        #pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_sub_epi32(acc[r][p], xs);
      }
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      const int64_t side = ((p0 + p * ps) * kg.groups + g) * NR;
      // kInt4PairsU with qs8 activations (zc = 0) never reads the row sums.
      const __m512i comp = (F == PackedFormat::kInt4PairsU && a.zc == 0) || kAccInit ? _mm512_setzero_si512()
                           : fold16 ? _mm512_mullo_epi32(rowsums(p, g), zc_late)
                                    : _mm512_mullo_epi32(rowsums(p, g), zc);
      // fp16 scales where they are exact (vcvtph2ps is exact), else float32.
      const __m512 sw = W.side_inline ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                            wp[p] + W.slice_side_offset(g) + 64 + 32 * (g % 4))))
                        : W.scales_f16
                            ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(W.scales_f16 + side)))
                            : _mm512_loadu_ps(W.scales + side);
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 accf = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], comp));  // exact int32, then float(acc)
        if (W.per_group) {
          total[r][p] = _mm512_add_ps(total[r][p], _mm512_mul_ps(accf, sw));
        } else {
          const float sx = a.sx[(m0 + r) * a.sx_stride];
          total[r][p] = _mm512_mul_ps(accf, _mm512_mul_ps(_mm512_set1_ps(sx), sw));  // float(acc) * (sx * sw)
        }
      }
    }
  }
  #pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    const int64_t n0 = (p0 + p * ps) * NR;
    const __m512 bias = a.bias ? _mm512_maskz_loadu_ps(store_mask[p], a.bias + n0) : _mm512_setzero_ps();
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m512 v = total[r][p];
      if (fold16) v = _mm512_mul_ps(v, _mm512_set1_ps(0.0625f));  // 16 * total -> total, exactly
      if (W.per_group) v = _mm512_mul_ps(_mm512_set1_ps(a.sx[(m0 + r) * a.sx_stride]), v);  // sx * total
      if (a.bias) v = _mm512_add_ps(v, bias);  // no "+ 0" without bias: -0.0 stays -0.0 as in ref
      _mm512_mask_storeu_ps(a.y + (m0 + r) * W.n + n0, store_mask[p], v);
    }
  }
}

using TileFn = void (*)(const TileArgs&, int64_t, int64_t);

template <PackedFormat F, int MR, bool BS>
TileFn pick_np(int np) {
  switch (np) {
    case 1: return tile<F, MR, 1, BS>;
    case 2: return tile<F, MR, 2, BS>;
    case 3: return tile<F, MR, 3, BS>;
    default: return tile<F, MR, 4, BS>;
  }
}

// Rows per tile: as many as the 32 zmm registers allow next to NP*(1..2) weight vectors.
template <PackedFormat F>
constexpr int mr_max() {
  return F == PackedFormat::kInt4Pairs || F == PackedFormat::kInt4PairsU || F == PackedFormat::kSparse24Gather ||
                 F == PackedFormat::kSparse24GatherI4 ||
                 F == PackedFormat::kSparse24GatherCtl || F == PackedFormat::kSparse24NibbleIdx ||
                 F == PackedFormat::kSparse24NibbleCtl || F == PackedFormat::kSparse24NibbleSlice ||
                 F == PackedFormat::kSparse24PermByte || F == PackedFormat::kSparse24SlicePerm
             ? 4
             : 6;
}

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
  const int64_t panels = a.w->panels;
  const int64_t tp = BS ? a.w->tile_np : NPMAX;
  constexpr int MRX = mr_max<F>();
  const bool strided = !BS && a.panel_stride > 1;  // tile t: panels t + {0, 1, 2, 3} * panel_stride (all exist)
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t p0 = strided ? t : t * tp;
    const int np = strided ? NPMAX : static_cast<int>(panels - p0 < tp ? panels - p0 : tp);
    // Rows in the inner loop: the tile's weights (NP panels) stay in L1/L2 while all rows pass.
    const int64_t full = a.m / MRX * MRX;
    const TileFn body = pick<F, BS>(MRX, np);
    for (int64_t m0 = 0; m0 < full; m0 += MRX) body(a, m0, p0);
    if (full < a.m) pick<F, BS>(static_cast<int>(a.m - full), np)(a, full, p0);
  }
}

void tiles(const TileArgs& a, int64_t t0, int64_t t1) {
  switch (a.kernel_format >= 0 ? static_cast<PackedFormat>(a.kernel_format) : a.w->format) {
    case PackedFormat::kBlockInt8: tiles_of<PackedFormat::kInt8, true>(a, t0, t1); break;
    case PackedFormat::kBlockInt4Pairs: tiles_of<PackedFormat::kInt4Pairs, true>(a, t0, t1); break;
    case PackedFormat::kInt8: tiles_of<PackedFormat::kInt8>(a, t0, t1); break;
    case PackedFormat::kInt4Pairs: tiles_of<PackedFormat::kInt4Pairs>(a, t0, t1); break;
    case PackedFormat::kInt4PairsU: tiles_of<PackedFormat::kInt4PairsU>(a, t0, t1); break;
    case PackedFormat::kSparse24Expand: tiles_of<PackedFormat::kSparse24Expand>(a, t0, t1); break;
    case PackedFormat::kSparse24Gather: tiles_of<PackedFormat::kSparse24Gather>(a, t0, t1); break;
    case PackedFormat::kSparse24GatherI4: tiles_of<PackedFormat::kSparse24GatherI4>(a, t0, t1); break;
    case PackedFormat::kSparse24GatherCtl: tiles_of<PackedFormat::kSparse24GatherCtl>(a, t0, t1); break;
    case PackedFormat::kSparse24NibbleIdx: tiles_of<PackedFormat::kSparse24NibbleIdx>(a, t0, t1); break;
    case PackedFormat::kSparse24NibbleCtl: tiles_of<PackedFormat::kSparse24NibbleCtl>(a, t0, t1); break;
    case PackedFormat::kSparse24NibbleSlice: tiles_of<PackedFormat::kSparse24NibbleSlice>(a, t0, t1); break;
    case PackedFormat::kSparse24PermByte: tiles_of<PackedFormat::kSparse24PermByte>(a, t0, t1); break;
    case PackedFormat::kSparse24SlicePerm: tiles_of<PackedFormat::kSparse24SlicePerm>(a, t0, t1); break;
  }
}

}  // namespace

const IsaQGemm kAvx512VnniQGemm = {"avx512vnni", NR, 4, NPMAX, true, true, true, tiles};

}  // namespace qf::kernels::x86
