// The x86 kernel tables' internals: the weight layout they pre-pack at load time, the
// arguments of their inner tile loops, and the entry points dispatch.cpp puts in the tables.
//
// Files: qgemm_x86.cpp (plain flags: weight packing, activation packing, threading, the
// fallback to the reference kernels) drives the per-ISA tile loops of qgemm_avx512vnni.cpp and
// qgemm_avx2.cpp, each compiled with its own -m flags. Only plain structs and raw pointers cross
// that boundary: an inline or template function compiled with -mavx512* in one file must never
// be the copy the linker keeps for code that runs on an AVX2-only CPU.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/kernels/kernels.h"

namespace qf::kernels::x86 {

// How a table's tile loop reads a prepared weight.
enum class PackedFormat : int {
  // Dense int8 codes, K-interleaved: for panel p (nr outputs) and k-block b (kblk consecutive
  // k), the nr*kblk bytes [lane][j] = w[p*nr + lane, b*kblk + j]. One 64-byte load is then the
  // operand of one vpdpbusd (nr=16, kblk=4) or one vpmovsxbw+vpmaddwd (nr=8, kblk=2).
  kInt8 = 0,
  // int4 codes, two k-blocks per byte array: block 2t in the low nibbles, block 2t+1 in the high
  // nibbles of the same nr*kblk bytes, so one load + and/shift + vpshufb (nibble -> int8 LUT)
  // yields two dense operands. Groups are padded to 2*kblk.
  kInt4Pairs = 1,
  // 2:4 sparse, expanded in registers (AVX-512 VBMI2): per k-block of 4, an 8-byte mask (4 bits
  // per lane: which two of the four k are kept) followed by the 32 kept bytes (2 per lane);
  // vpexpandb puts them back in place. Half the weight bytes, the same multiply-adds.
  kSparse24Expand = 2,
  // 2:4 sparse, activations gathered (AVX-512 VBMI): per pair of k-blocks (8 k), the 64 kept
  // bytes [lane][4] (2 of each group) followed by 16 index bytes (one per lane, 2 bits per kept
  // value); vpshufb gathers the matching activations from an 8-byte window. Half the
  // multiply-adds, ~62% of the weight bytes.
  kSparse24Gather = 3,
  // 2:4 with 4-bit kept values (every kept code in [-8, 7], e.g. an int4 2:4 checkpoint), the
  // activations gathered by a stored control: per 16 k, 64 bytes of kept values ([lane][4]; low
  // nibbles: the first 8 k, high nibbles: the next 8) then 64 bytes of vpshufb controls in the
  // same nibble layout (the window byte each kept value multiplies). Dense int4's bytes, half
  // its multiply-adds, and no index decoding (kSparse24Gather spends two shuffles per 8 k on it).
  kSparse24GatherI4 = 4,
  // 2:4, 8-bit kept values, stored controls: per 16 k, the two 64-byte kept-value blocks of
  // kSparse24Gather then 64 bytes of vpshufb controls as in kSparse24GatherI4. 75% of dense int8's
  // bytes, one shuffle per 8 k. (Measurement option: set_avx512_sparse24_strategy.)
  kSparse24GatherCtl = 5,
  // Block-sparse (kBSInt8 / kBSInt4 weights): the dense kInt8 / kInt4Pairs layouts, restricted
  // to the kept blocks. Output tiles of `tile_np` panels each own a list of segments (one per
  // kept block column, the union over the tile's rows when a tile spans several block rows);
  // a segment is bc consecutive k, stored as `tile_np` panels of bc/kblk k-blocks in the dense
  // panel layout. The tile loop runs the dense micro-kernel on each segment with the activations
  // offset to the segment's k: the pruned blocks are never loaded or multiplied.
  kBlockInt8 = 6,
  kBlockInt4Pairs = 7,
  // 2:4 with 4-bit kept values, 2-bit indices: per 16 k, the 64 bytes of nibble values of
  // kSparse24GatherI4 then 32 bytes of indices, two per lane (byte h: the 4 kept positions of the
  // lane's h-th 8 k, 2 bits each, as kSparse24Gather's index byte). 75% of dense int4's bytes
  // (an M = 1 GEMV reads little else), half its multiply-adds. The kernel turns an index byte
  // into vpshufb controls with one vpmultishiftqb + one vpternlogd, and takes the nibbles as
  // 16 * w (and 0xF0, no table lookup), dividing the exact int32 sum by 16 (shift) once per
  // group, so groups are limited to 65536 k (no int32 overflow).
  kSparse24NibbleIdx = 8,
  // int4 codes as unsigned nibbles c + 8 (AVX-512 only), laid out like kInt4Pairs, so the
  // weights are vpdpbusd's unsigned operand and the activations its signed one (qs8 as they are,
  // qu8 as x - 128): acc_g = sum (c + 8) * x - 8 * sum_g x, the activation sum computed once per
  // row and group for every output. No nibble lookup, and no weight row sums read for qs8
  // activations: a GEMV streams 16 weight bytes + a 4-byte scale per 32 k and output instead of
  // kInt4Pairs' 16 + 4 + 4 (qu8 also needs the row sums: acc_g -= (zx - 128) * rowsum).
  kInt4PairsU = 9,
  // 2:4 with 4-bit kept values and stored controls, kSparse24GatherI4's bytes read the
  // kSparse24NibbleIdx way: values as 16 * w (and 0xF0; the sum shifted right by 4 per group, so
  // groups of at most 65536 k), controls used as they are (each nibble is <= 7, so a byte whose
  // low nibble is the control has bit 7 clear, which is all vpshufb asks: no mask, the high half
  // one shift). Per 8 k and 16 outputs: 1 vpdpbusd, 1 vpshufb, ~2 logic ops, against
  // kSparse24NibbleIdx's 3 shuffle-port ops to decode indices: for a GEMV bound by ops (weights
  // in cache), not by bytes (dense int4's bytes here, 4/3 of kSparse24NibbleIdx's).
  kSparse24NibbleCtl = 16,
  // 2:4 with 4-bit kept values and 2-bit indices, bit-sliced for decoding without shuffles (for
  // the decoding GEMV, which streams every weight from DRAM once per token: docs/RESULTS.md
  // "2:4 at M = 1"). Per 32 k (a chunk; groups padded to whole chunks, so gs % 32 == 0 is asked
  // for): 64 bytes of nibble values for the first 16 k then 64 for the next 16 ([lane][4]; low
  // nibbles: the first 8 k of the 16, high: the next 8, as kSparse24NibbleCtl), then 64 bytes of
  // indices [lane][4]: byte s of a lane holds, in bits 2h..2h+1, the index (0..3) of the lane's
  // kept value s in the chunk's h-th 8 k (s < 2: first group of 4, s >= 2: second). So step h's
  // vpshufb controls are one 16-bit shift right by 2h and one vpternlogd ((x & 3) | 4 for s >= 2):
  // no shuffle-port op (kSparse24NibbleIdx spends a vpmovzxwd and a vpmultishiftqb per 8 k on
  // them). 12 bytes per 32 k and output (75% of dense int4's 16), with int8 row sums where they fit.
  kSparse24NibbleSlice = 17,
  // 2:4 with 4-bit kept values, one byte per kept value that is both the weight and its gather
  // control (AVX-512 VBMI; issue 16's in-cache GEMV, docs/RESULTS.md "2:4 GEMV with vpermb"). Per
  // 8 k (a k-block pair; groups padded to whole pairs) and panel: 64 bytes [lane][4], byte s =
  // (w << 4) | c with c = 4 * (s >= 2) + index (bits 0..2; bit 3 zero), the byte of the 8-k
  // activation window the value multiplies. The kernel broadcasts the window to every qword and
  // uses the byte as it is as the vpermb index (vpermb reads bits 0..5; bits 3..5 pick one of the
  // identical copies, so the weight bits there do not matter), and `and 0xF0` as the weight
  // (16 * w; the exact sum shifted right by 4 per group). Per 8 k and 16 outputs: 1 load,
  // 1 vpermb, 1 vpand, 1 vpdpbusd, no index decoding (kSparse24NibbleSlice: 5 vector ops, dense
  // kInt4PairsU: 2 vpdpbusd + 3). 16 bytes per 32 k and output: dense int4's.
  kSparse24PermByte = 18,
  // kSparse24NibbleSlice's bytes (12 per 32 k and output), read with vpermb from activations
  // permuted per 32-k chunk at packing time (qgemm_x86.cpp, slice_perm_src): the chunk's 32 codes
  // are placed so that step h's index byte needs one vpternlogd, (ix & 3 << 2h') | C_h(s), and no
  // shift (one 16-bit shift per chunk for steps 2 and 3): slots 0..7 = k 0..7 (step 0: i + 4g),
  // 8..15 = k 16..23 (step 2: 8 + i + 4g), 16 + 4i + g = k 8 + 4g + i (step 1), 18 + 4i + g =
  // k 24 + 4g + i (step 3), g = (s >= 2). The 32-byte chunk is broadcast once per chunk and row.
  kSparse24SlicePerm = 19,
};

// The K axis as the packed operands see it: `groups` quantization groups of `gs` source k each,
// each padded with zero weights to `gk` (a multiple of the format's block), so no k-block ever
// straddles a group and the per-group epilogue can run between blocks. Per channel: groups = 1.
struct KGeom {
  int64_t groups = 1, gs = 0, gk = 0;
  int64_t kpad() const { return groups * gk; }
};

// What prepare_qweights returns for the x86 tables.
struct PackedQWeights final : PreparedQWeights {
  // The weight it was built from: a kernel given a QWeights whose fields differ (a stale
  // pointer, another table's packing) ignores it and runs the reference kernel instead.
  const char* table = nullptr;
  const void* src_codes = nullptr;
  const void* src_packed = nullptr;
  const float* src_scales = nullptr;
  int64_t n = 0, k = 0;
  const int32_t* src_block_row_ptr = nullptr;
  QWeightKind kind = QWeightKind::kInt8;
  bool per_group = false;

  PackedFormat format = PackedFormat::kInt8;
  int nr = 16, kblk = 4;
  KGeom kg;
  int64_t panels = 0;
  int64_t panel_bytes = 0;  // bytes of one panel over the whole padded K
  uint8_t* data = nullptr;  // 64-byte aligned, panels * panel_bytes (+ the quarters' padding below)
  // The decoding GEMV's quarters (qgemm_x86.cpp: an M = 1 tile reads panels i + j * panels / 4,
  // j = 0..3): where quarter_bytes > 0, quarter j (panels j * quarter_panels .., the last one
  // through the end) starts at data + j * quarter_bytes, a multiple of 2 MiB, so the GEMV's four
  // streams stay huge-page aligned to each other whatever the panel size (docs/RESULTS.md, "2:4 at
  // M = 1": 1.5 MiB apart, the same loads streamed ~20% slower on this machine). 0: panels adjacent.
  int64_t quarter_panels = 0, quarter_bytes = 0;
  const uint8_t* panel_ptr(int64_t q) const {
    if (quarter_bytes == 0) return data + q * panel_bytes;
    const int64_t j = q / quarter_panels < 3 ? q / quarter_panels : 3;
    return data + j * quarter_bytes + (q - j * quarter_panels) * panel_bytes;
  }
  // kSparse24SlicePerm: lines (0..3) of each 192-byte chunk of a panel stream its loop prefetches
  // 16 KiB ahead into L2 (set at prepare: set_avx512_slice_perm_prefetch_lines; default 0).
  int stream_prefetch_lines = 0;
  // kSparse24SlicePerm with groups of 32 and fp16 scales: the side data inside the panel stream
  // (slice_chunk_offset / slice_side_offset below): per 4 groups, 64 bytes of their int8 row sums
  // (16 each) and 128 bytes of their fp16 scales (32 each), then their 4 chunks of 192 bytes: 960
  // bytes, 64-byte aligned (the last block: the 192 side bytes, then the chunks left). The GEMV
  // then reads one stream per panel, in address order (from DRAM the separate arrays cost the 2:4
  // GEMV ~15-25%, and side data placed behind its chunks more: docs/RESULTS.md "2:4 GEMV with
  // vpermb"). rowsum8 / scales_f16 are still set (the same values, for other readers).
  bool side_inline = false;
  // Byte offsets in a panel of chunk c (32 k) and of group g's side data (side_inline only).
  int64_t slice_chunk_offset(int64_t c) const { return side_inline ? (c / 4) * 960 + 192 + (c % 4) * 192 : c * 192; }
  // Group g's side block: before its block's chunks (the stream is read in address order).
  int64_t slice_side_offset(int64_t g) const { return (g / 4) * 960; }
  int32_t* rowsum = nullptr;  // [panels][groups][nr]: sum of the group's codes (zero-point term)
  float* scales = nullptr;    // [panels][groups][nr]: the weight scales, 0 in padding lanes
  // The same side data, narrower, where that is exact (the AVX-512 tiles of the dense and 2:4
  // formats read these when set; block formats never set them): the scales as fp16 when every
  // one is exactly an fp16 value (Q4_0's are: its block scales are fp16), the row sums as int16
  // when every one fits. A GEMV streams this beside the weights: for int4 g32 kInt4PairsU with
  // fp16 scales, 16 + 2 bytes per output and group, Q4_0's own 4.5 bits per weight.
  uint16_t* scales_f16 = nullptr;
  int16_t* rowsum16 = nullptr;
  // int8 row sums, when every one fits (a 2:4 group of 32 k keeps 16 codes in [-8, 7]: [-128, 112]);
  // set only for the 2:4 formats, whose tiles read the row sums with every activation type.
  int8_t* rowsum8 = nullptr;
  std::unique_ptr<uint8_t[]> storage;

  // Block formats only. Tile t (panels t*tile_np ..) owns segments [seg_ptr[t], seg_ptr[t+1]),
  // in increasing k; segment s starts at byte seg_xoff[s] of a packed activation row, belongs to
  // quantization group seg_group[s], and its weights are the seg_bytes at data + s * seg_bytes
  // (tile_np panels of seg_panel_bytes). seg_kblocks = bc / kblk.
  int tile_np = 0;
  int64_t seg_kblocks = 0, seg_panel_bytes = 0, seg_bytes = 0;
  std::vector<int64_t> seg_ptr;
  std::vector<int64_t> seg_xoff;
  std::vector<int32_t> seg_group;
};

// Arguments of one GEMM for the per-ISA tile loops.
struct TileArgs {
  const PackedQWeights* w;
  const uint8_t* xp;       // packed activations: [m][kpad] u8 (avx512) or int16 (avx2)
  int64_t x_row_bytes;     // bytes between rows of xp
  int64_t m;
  int32_t zc;              // compensation multiplier of rowsum (avx512: zero point or 128)
  const float* sx;         // activation scales
  int64_t sx_stride;       // 0 per tensor, 1 per row
  const float* bias;       // may be null
  float* y;                // [m][n]
  // kInt4PairsU: per row and group, 8 * the sum of the row's packed (signed) activation codes
  // over the group ([m][groups], rows as xp's); zc is then zx - 128 (qu8) or 0 (qs8).
  const int32_t* xsum8 = nullptr;
  // Panels of one tile: p0, p0 + panel_stride, ... (1: adjacent). The M = 1 GEMV sets it to a
  // quarter of the weight's panels (qgemm_x86.cpp), so its 4 weight streams each run through
  // megabytes in order instead of restarting every tile. Ignored by the block formats.
  int64_t panel_stride = 1;
  // The kernel to run when it differs from w->format (>= 0): a kSparse24SlicePerm weight at M above
  // the kernel's range runs kSparse24NibbleSlice's kernel on the same bytes (qgemm_x86.cpp).
  int kernel_format = -1;
};

// Tile loops: compute output tiles [t0, t1) (a tile = `tile_panels` panels = all m rows).
struct IsaQGemm {
  const char* table;  // the table name the prepared weights are tagged with
  int nr, kblk, tile_panels;
  bool rowsum_compensation;  // activations packed as u8 (+128 for qs8) and compensated
  bool sparse_expand, sparse_gather;  // 2:4 formats this ISA runs
  void (*tiles)(const TileArgs& a, int64_t t0, int64_t t1);
};
extern const IsaQGemm kAvx512VnniQGemm;
extern const IsaQGemm kAvx2QGemm;

// Which 2:4 strategy the AVX-512 table's prepare uses (default: see qgemm_x86.cpp). For
// measurements and tests only. kSparse24SlicePerm (the default: the bit-sliced layout read by
// vpermb where groups are whole chunks of 32 k, else kSparse24NibbleIdx's rules) /
// kSparse24NibbleSlice (the same bytes, the previous kernel) / kSparse24PermByte (a byte per kept
// value, groups of 8 k) / kSparse24NibbleIdx / kSparse24GatherI4 = gather, with 4-bit values
// where they fit.
void set_avx512_sparse24_strategy(PackedFormat f);
// With the strategy kSparse24NibbleIdx (or the default, where the slice layout does not apply),
// int4 2:4 weights of at most this many packed int4 bytes (n * k / 2) take kSparse24NibbleCtl instead (ops-bound where they stay in cache);
// 0: never; negative: the default (12 MiB). For measurements and tests only.
void set_avx512_sparse24_ctl_max_bytes(int64_t bytes);
// Whether prepare packs 8-bit-stored weights whose codes fit a nibble per group ([-8, 7], or
// [-7, 8] negated with a negated scale: Q4_0 from a GGUF-bound checkpoint) as kInt4Pairs
// (default true; both table). For measurements and tests only.
void set_int8_as_int4(bool on);
// Whether kSparse24SlicePerm weights with groups of 32 and fp16 scales keep their side data inside
// the panel stream (PackedQWeights::side_inline; default true). Measurements and tests.
void set_avx512_slice_side_inline(bool on);
// The largest M for which a kSparse24SlicePerm weight runs its own kernel (permuted activations,
// vpermb); above it, kSparse24NibbleSlice's kernel reads the same bytes (negative: the default,
// every M). Measurements and tests.
void set_avx512_slice_perm_max_m(int64_t m);
// kSparse24SlicePerm's software prefetch: lines (0..3) of each 192-byte chunk of a panel stream
// prefetched 16 KiB ahead into L2, for the weights prepared after the call (negative: the
// default). Measurements only.
void set_avx512_slice_perm_prefetch_lines(int lines);
// Whether the AVX-512 table packs dense int4 as kInt4PairsU (default true) or kInt4Pairs.
void set_avx512_int4_unsigned(bool on);
// Whether prepare advises packed weights of 4 MiB or more as transparent huge pages (default
// true). For measurements only: the packing's bytes are the same either way.
void set_packed_huge_pages(bool on);
// Whether an M = 1 GEMM (a decoding step) of a non-block weight with at least 8 panels runs
// strided tiles (TileArgs::panel_stride; default true). Same bits either way. Measurements / tests.
void set_strided_gemv(bool on);
// Whether prepare aligns the GEMV quarters of a large AVX-512 weight to 2 MiB (PackedQWeights::
// quarter_bytes; default true). Same bits either way. Measurements only.
void set_gemv_quarter_align(bool on);

// Entry points of the tables (types, op, tile, ISA: kernels/README.md). The N:M entries name
// their main path (2:4 gathered: 4 rows x 64 outputs, 8 k per int32 lane); other patterns run
// the int8 tiles on a dense packing.
std::unique_ptr<PreparedQWeights> prepare_qweights__avx512vnni(const QWeights& w);
void qu8_qs8w_gemm_f32_6x64c4__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qu8_qs4w_gemm_f32_4x64c4__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qu8_qs8nmw_gemm_f32_4x64c8__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs8w_gemm_f32_6x64c4__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs4w_gemm_f32_4x64c4__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs8nmw_gemm_f32_4x64c8__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
// Block-sparse: tiles of 2 panels (32 outputs: one block row of 32) x MR rows, per kept block.
void qu8_qs8bsw_gemm_f32_6x32c4__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qu8_qs4bsw_gemm_f32_4x32c4__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs8bsw_gemm_f32_6x32c4__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs4bsw_gemm_f32_4x32c4__avx512vnni(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);

std::unique_ptr<PreparedQWeights> prepare_qweights__avx2(const QWeights& w);
void qu8_qs8w_gemm_f32_5x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qu8_qs4w_gemm_f32_4x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qu8_qs8nmw_gemm_f32_5x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs8w_gemm_f32_5x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs4w_gemm_f32_4x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs8nmw_gemm_f32_5x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qu8_qs8bsw_gemm_f32_5x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qu8_qs4bsw_gemm_f32_4x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs8bsw_gemm_f32_5x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);
void qs8_qs4bsw_gemm_f32_4x16c2__avx2(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y);

}  // namespace qf::kernels::x86
