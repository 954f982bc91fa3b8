// The ISA-independent half of the x86 quantized GEMMs, compiled with the project's plain flags:
// weight packing at load (prepare_qweights), activation packing per call, the split over output
// tiles across threads, and the fallback to the reference kernels. The per-ISA tile loops live in
// qgemm_avx512vnni.cpp / qgemm_avx2.cpp.
#include <emmintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include <sys/mman.h>

#include "core/error.h"
#include "core/fp16.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "runtime/kernels/ref/ref_kernels.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_kernels.h"

namespace qf::kernels::x86 {
namespace {

// Gather wins here (AMD Zen 4, N = K = 4096, 2 threads): 1.9x expand at M = 1, 1.3x at M = 128;
// vpexpandb is a slow multi-uop instruction on this core. Expand remains for groups of 4 (mod 8).
// With 4-bit kept values the gather layout stores them as nibbles: kSparse24GatherI4 with its
// vpshufb controls as nibbles (dense int4's bytes: no faster than dense int4 where the GEMV
// streams its weight from DRAM), kSparse24NibbleIdx (the default) with 2-bit indices decoded in
// registers: 75% of dense int4's bytes (docs/RESULTS.md: 1.37x dense int4 at 11008 x 4096, M = 1).
// Since docs/RESULTS.md "2:4 at M = 1": kSparse24NibbleSlice (the default) where groups are whole
// chunks of 32 k (Q4_0's are), else the rules below: a decoding step streams every weight of a
// model from DRAM, so the GEMV's bytes and instructions per byte decide, and kSparse24NibbleCtl
// (dense int4's bytes) lost to dense there (0.86x in the race), whatever the weight's own size.
// Since docs/RESULTS.md "2:4 GEMV with vpermb" (branch sp24gemv): the same bytes read by
// kSparse24SlicePerm (the default where groups are whole chunks of 32 k; kSparse24NibbleSlice is
// kept as a measurement option): one vpternlogd per step instead of a shift and a vpternlogd, no
// software prefetch (it cost the in-cache GEMV ~25% and gained nothing measurable from DRAM on
// the loaded machine).
std::atomic<int> g_sparse24{static_cast<int>(PackedFormat::kSparse24SlicePerm)};
// Dense 8-bit-stored weights whose codes fit nibbles run the int4 tiles (on by default).
std::atomic<bool> g_int8_as_int4{true};
// int4 2:4 weights up to this size (packed int4 bytes) take kSparse24NibbleCtl: docs/RESULTS.md
// ("2:4 GEMV: stored controls without decoding") measured it ahead at 4096 x 4096 (8 MB) and behind
// kSparse24NibbleIdx where the weight streams from DRAM (11008 x 4096, 22.5 MB).
constexpr int64_t kSparse24CtlMaxBytes = int64_t{12} << 20;
std::atomic<int64_t> g_sparse24_ctl_max_bytes{kSparse24CtlMaxBytes};
std::atomic<bool> g_int4_unsigned{true};

// Nibble signs of an 8-bit-coded weight whose codes are 4-bit ones in disguise, e.g. llama.cpp's
// Q4_0 blocks in a .qf.h5 (core/ggml_blocks.h, ggml_blocks_as_codes): per (row, group), +1 when
// the group's codes lie in [-8, 7], -1 when they lie in [-7, 8] (Q4_0 with d < 0: stored
// negated, with a negated scale, which changes no bit of the result: float(-acc) * -s equals
// float(acc) * s). Empty when some group fits neither (the weight keeps 8-bit packing).
// kInt8 dense weights and kNM kept values only.
// Per channel only +1: there float(acc) * (sx * sw) of a zero acc would turn +0.0 into -0.0 under
// a negated scale (per group, the sum S starts at +0.0 and +0.0 + -0.0 is +0.0).
std::vector<int8_t> int4_signs(const QWeights& w, int64_t groups, int64_t gs) {
  std::vector<int8_t> sign(static_cast<size_t>(w.n * groups), 0);
  const bool nm = w.kind == QWeightKind::kNM;
  const int64_t per_row = nm ? nm_kept_per_row(w.k, w.nm_n, w.nm_m) : w.k;
  if (nm && gs % w.nm_m != 0) return {};
  const int64_t per_group = nm ? gs / w.nm_m * w.nm_n : gs;  // stored values of one group
  for (int64_t r = 0; r < w.n; ++r) {
    const int8_t* c = w.codes + r * per_row;
    for (int64_t g = 0; g < groups; ++g) {
      int8_t lo = 0, hi = 0;
      for (int64_t j = g * per_group; j < (g + 1) * per_group; ++j) {
        lo = std::min(lo, c[j]);
        hi = std::max(hi, c[j]);
      }
      if (lo >= -8 && hi <= 7) sign[r * groups + g] = 1;
      else if (w.per_group && lo >= -7 && hi <= 8) sign[r * groups + g] = -1;
      else return {};
    }
  }
  return sign;
}

int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

bool cpu_has_gfni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("gfni");
}

std::atomic<bool> g_huge_pages{true};
std::atomic<bool> g_strided_gemv{true};
std::atomic<bool> g_quarter_align{true};
std::atomic<int> g_slice_perm_pf{0};
std::atomic<int64_t> g_slice_perm_max_m{INT64_MAX};
std::atomic<bool> g_slice_side_inline{true};

// Zeroed storage for a packed weight, 64-byte aligned; returns the aligned base. A weight of
// 4 MiB or more is placed on 2 MiB boundaries and advised as transparent huge pages before it is
// first touched (this machine's THP mode is "madvise"): an M = 1 GEMV streams it once per token,
// and with 4 KiB pages every 4 KiB of every panel stream is a TLB miss (a plain 4-stream read on
// this Zen 4: 22 GB/s with 4 KiB pages, 29 GB/s with huge pages, 1 thread). Where the kernel
// refuses, the memory is ordinary pages: nothing but speed depends on it.
uint8_t* alloc_storage(std::unique_ptr<uint8_t[]>& storage, int64_t bytes) {
  constexpr int64_t kHuge = int64_t{1} << 21;
  const bool huge = g_huge_pages.load() && bytes >= 2 * kHuge;
  const int64_t align = huge ? kHuge : 64;
  storage.reset(new uint8_t[static_cast<size_t>(bytes + align)]);  // not value-initialised: untouched pages
  uint8_t* base = storage.get();
  base += (align - reinterpret_cast<uintptr_t>(base) % align) % align;
  if (huge) madvise(base, static_cast<size_t>(bytes / kHuge * kHuge), MADV_HUGEPAGE);
  std::memset(base, 0, static_cast<size_t>(bytes));
  return base;
}

// kInt4PairsU needs vpdpbusd (u8 x s8) with the compensation tile: the AVX-512 VNNI table.
bool is_dense_int4_u_isa(const IsaQGemm& isa) { return isa.rowsum_compensation && isa.kblk == 4; }

// Rows of one m-split block: a multiple of every tile height (4, 5, 6), so only the last block
// has a remainder tile.
constexpr int64_t kRowBlock = 60;

// One dense row of codes (k values) decoded from any storage kind.
void decode_row(const QWeights& w, int64_t row, int8_t* out) {
  const int64_t k = w.k;
  switch (w.kind) {
    case QWeightKind::kInt8: std::memcpy(out, w.codes + row * k, static_cast<size_t>(k)); break;
    case QWeightKind::kInt4: {
      const uint8_t* r = w.packed + row * int4_row_bytes(k);
      for (int64_t kk = 0; kk < k; ++kk)
        out[kk] = static_cast<int8_t>((kk & 1) ? int4_hi_signed(r[kk >> 1]) : int4_lo_signed(r[kk >> 1]));
      break;
    }
    case QWeightKind::kNM: {
      const int64_t kept = nm_kept_per_row(k, w.nm_n, w.nm_m);
      const int bits = nm_index_bits(w.nm_m);
      const int8_t* v = w.codes + row * kept;
      const uint8_t* ir = w.packed + row * nm_index_row_bytes(k, w.nm_n, w.nm_m);
      std::memset(out, 0, static_cast<size_t>(k));
      for (int64_t j = 0; j < kept; ++j) out[(j / w.nm_n) * w.nm_m + nm_get_index(ir, j, bits)] = v[j];
      break;
    }
    case QWeightKind::kFp8E4M3:  // FP8 layers run KernelTable::qf8_gemm, never a qgemm entry
      throw Error("x86 qgemm: FP8 E4M3 weights have no integer code rows");
    case QWeightKind::kBSInt8:
    case QWeightKind::kBSInt4: {
      std::memset(out, 0, static_cast<size_t>(k));
      const int64_t br = w.bs_rows, bc = w.bs_cols, R = row / br, r = row % br, bpr = int4_row_bytes(bc);
      for (int64_t j = w.block_row_ptr[R]; j < w.block_row_ptr[R + 1]; ++j) {
        const int64_t k0 = static_cast<int64_t>(w.block_col[j]) * bc;
        for (int64_t q = 0; q < bc && k0 + q < k; ++q) {
          if (w.kind == QWeightKind::kBSInt8) {
            out[k0 + q] = w.codes[(j * br + r) * bc + q];
          } else {
            const uint8_t b = w.packed[(j * br + r) * bpr + (q >> 1)];
            out[k0 + q] = static_cast<int8_t>((q & 1) ? int4_hi_signed(b) : int4_lo_signed(b));
          }
        }
      }
      break;
    }
  }
}

// Panel p, lane `lane` (weight row `row`): per k group, the sum of the row's codes (for the
// activations' zero point) and its scale; zeros for a padding lane (dense == nullptr).
// `sign` (null: all +1): the row's per-group nibble signs (int4_signs), already applied to dense.
void store_lane_groups(const QWeights& w, const int8_t* dense, int64_t row, int64_t p, int64_t lane, int64_t nr,
                       PackedQWeights& P, const int8_t* sign = nullptr) {
  const KGeom& kg = P.kg;
  for (int64_t g = 0; g < kg.groups; ++g) {
    int32_t sum = 0;
    if (dense)
      for (int64_t j = 0; j < kg.gs; ++j) sum += dense[g * kg.gs + j];
    P.rowsum[(p * kg.groups + g) * nr + lane] = sum;
    const float s = dense ? w.scales[w.per_group ? row * kg.groups + g : row] : 0.0f;
    P.scales[(p * kg.groups + g) * nr + lane] = sign && sign[g] < 0 ? -s : s;
  }
}


// Block-sparse weights on a fast path: bc a whole number of k-blocks (int4: of block pairs) and
// no quantization group splitting a block. Otherwise they are packed dense (exact, not faster).
bool block_fast_path(const QWeights& w, const IsaQGemm& isa) {
  if (!is_block_sparse(w.kind) || w.bs_rows <= 0 || w.bs_cols <= 0) return false;
  const int64_t unit = w.kind == QWeightKind::kBSInt4 ? 2 * isa.kblk : isa.kblk;
  if (w.bs_cols % unit != 0) return false;
  return !w.per_group || w.group_size % w.bs_cols == 0;
}

// Panels per tile of a block-sparse weight: the most (<= the ISA's tile) whose rows fit inside
// one block row, so a tile's segments are exactly that block row's kept blocks; 1 when a block
// row is narrower than a panel (the panel then takes the union of its block rows' blocks, their
// other rows padded with zero weights).
int block_tile_panels(const QWeights& w, const IsaQGemm& isa) {
  for (int d = isa.tile_panels; d > 1; --d)
    if (w.bs_rows % (d * isa.nr) == 0) return d;
  return 1;
}

std::unique_ptr<PreparedQWeights> prepare_block(const QWeights& w, const IsaQGemm& isa, std::unique_ptr<PackedQWeights> P) {
  const bool i4 = w.kind == QWeightKind::kBSInt4;
  const int64_t nr = isa.nr, kblk = isa.kblk, bc = w.bs_cols, br = w.bs_rows;
  P->format = i4 ? PackedFormat::kBlockInt4Pairs : PackedFormat::kBlockInt8;
  KGeom& kg = P->kg;
  kg.gk = (kg.gs + bc - 1) / bc * bc;  // per channel: K up to whole blocks; per group: gs % bc == 0
  P->panels = (w.n + nr - 1) / nr;
  P->tile_np = block_tile_panels(w, isa);
  const int64_t tiles = (P->panels + P->tile_np - 1) / P->tile_np;
  P->seg_kblocks = bc / kblk;
  P->seg_panel_bytes = i4 ? bc * nr / 2 : bc * nr;
  P->seg_bytes = P->seg_panel_bytes * P->tile_np;
  const int64_t esize = isa.rowsum_compensation ? 1 : 2;
  // Segments: per tile, the union of the kept block columns of the block rows it covers.
  P->seg_ptr.assign(1, 0);
  std::vector<int64_t> seg_col;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t r0 = t * P->tile_np * nr, r1 = std::min(w.n, r0 + P->tile_np * nr);
    std::vector<int64_t> cols;
    for (int64_t R = r0 / br; R * br < r1; ++R)
      for (int64_t j = w.block_row_ptr[R]; j < w.block_row_ptr[R + 1]; ++j) cols.push_back(w.block_col[j]);
    std::sort(cols.begin(), cols.end());
    cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
    for (int64_t c : cols) {
      seg_col.push_back(c);
      P->seg_xoff.push_back(c * bc * esize);
      P->seg_group.push_back(static_cast<int32_t>(c * bc / kg.gs));
    }
    P->seg_ptr.push_back(static_cast<int64_t>(seg_col.size()));
  }
  const int64_t nseg = static_cast<int64_t>(seg_col.size());
  const int64_t data_bytes = round_up(std::max<int64_t>(1, nseg * P->seg_bytes), 64);
  const int64_t side = P->panels * kg.groups * nr;
  uint8_t* base = alloc_storage(P->storage, data_bytes + side * 8 + 64);
  P->data = base;
  P->rowsum = reinterpret_cast<int32_t*>(base + data_bytes);
  P->scales = reinterpret_cast<float*>(base + data_bytes + side * 4);
  std::vector<int8_t> dense(static_cast<size_t>(w.k));
  for (int64_t p = 0; p < P->panels; ++p) {
    const int64_t t = p / P->tile_np, pt = p % P->tile_np;
    for (int64_t lane = 0; lane < nr; ++lane) {
      const int64_t row = p * nr + lane;
      const bool real = row < w.n;
      if (real) decode_row(w, row, dense.data());
      store_lane_groups(w, real ? dense.data() : nullptr, row, p, lane, nr, *P);
      if (!real) continue;  // zero-filled
      for (int64_t s = P->seg_ptr[t]; s < P->seg_ptr[t + 1]; ++s) {
        uint8_t* pd = P->data + s * P->seg_bytes + pt * P->seg_panel_bytes;
        const int64_t k0 = seg_col[static_cast<size_t>(s)] * bc;
        for (int64_t q = 0; q < bc && k0 + q < w.k; ++q) {
          const auto code = static_cast<uint8_t>(dense[static_cast<size_t>(k0 + q)]);
          const int64_t b = q / kblk, jj = q % kblk;
          if (!i4) pd[(b * nr + lane) * kblk + jj] = code;
          else pd[((b / 2) * nr + lane) * kblk + jj] |= static_cast<uint8_t>((code & 0xF) << (4 * (b & 1)));
        }
      }
    }
  }
  return P;
}

std::unique_ptr<PreparedQWeights> prepare(const QWeights& w, const IsaQGemm& isa) {
  if (w.n <= 0 || w.k <= 0) return nullptr;
  if (w.per_group && (w.group_size <= 0 || w.k % w.group_size != 0)) return nullptr;  // ref handles/rejects
  auto P = std::make_unique<PackedQWeights>();
  P->table = isa.table;
  P->src_codes = w.codes;
  P->src_packed = w.packed;
  P->src_scales = w.scales;
  P->src_block_row_ptr = w.block_row_ptr;
  P->n = w.n;
  P->k = w.k;
  P->kind = w.kind;
  P->per_group = w.per_group;
  P->nr = isa.nr;
  P->kblk = isa.kblk;
  KGeom& kg = P->kg;
  kg.groups = w.per_group ? w.k / w.group_size : 1;
  kg.gs = w.per_group ? w.group_size : w.k;
  if (block_fast_path(w, isa)) return prepare_block(w, isa, std::move(P));

  PackedFormat f = PackedFormat::kInt8;
  if (w.kind == QWeightKind::kInt4 || w.kind == QWeightKind::kBSInt4) f = PackedFormat::kInt4Pairs;
  // 8-bit storage of 4-bit codes in groups (Q4_0 from a GGUF-bound checkpoint): the int4 tiles,
  // half the bytes a memory-bound GEMV streams. The integer sums are the same, so the result is
  // too. Per-channel int8 stays int8: the fused conv + pool kernel takes only that packing, and a
  // small per-channel layer (a conv whose codes happen to fit 4 bits) gains nothing from nibbles.
  std::vector<int8_t> sign;
  if (w.kind == QWeightKind::kInt8 && w.per_group && g_int8_as_int4.load()) {
    sign = int4_signs(w, kg.groups, kg.gs);
    if (!sign.empty()) f = PackedFormat::kInt4Pairs;
  }
  if (f == PackedFormat::kInt4Pairs && is_dense_int4_u_isa(isa) && g_int4_unsigned.load()) f = PackedFormat::kInt4PairsU;
  if (w.kind == QWeightKind::kNM && w.nm_n == 2 && w.nm_m == 4 && kg.gs % 4 == 0 && isa.kblk == 4) {
    const auto pref = static_cast<PackedFormat>(g_sparse24.load());
    const bool nibbles = pref == PackedFormat::kSparse24GatherI4 || pref == PackedFormat::kSparse24NibbleIdx ||
                         pref == PackedFormat::kSparse24NibbleCtl || pref == PackedFormat::kSparse24NibbleSlice ||
                         pref == PackedFormat::kSparse24PermByte || pref == PackedFormat::kSparse24SlicePerm;
    // kSparse24NibbleCtl's kernel uses GFNI (every AVX-512 VBMI2 core so far has it; checked anyway).
    const bool small = w.n * w.k / 2 <= g_sparse24_ctl_max_bytes.load() && cpu_has_gfni();
    const bool gather = pref == PackedFormat::kSparse24Gather || nibbles;
    if (isa.sparse_gather && nibbles && kg.gs % 16 == 0) sign = int4_signs(w, kg.groups, kg.gs);
    if (isa.sparse_gather && pref == PackedFormat::kSparse24PermByte && kg.gs % 8 == 0 && kg.gs <= 65536)
      sign = int4_signs(w, kg.groups, kg.gs);
    if (isa.sparse_gather && pref == PackedFormat::kSparse24PermByte && kg.gs % 8 == 0 && kg.gs <= 65536 &&
        !sign.empty())
      f = PackedFormat::kSparse24PermByte;
    else if (isa.sparse_gather && nibbles && kg.gs % 16 == 0 && !sign.empty())
      f = kg.gs > 65536 || pref == PackedFormat::kSparse24GatherI4 ? PackedFormat::kSparse24GatherI4
          : pref == PackedFormat::kSparse24NibbleSlice && kg.gs % 32 == 0 && cpu_has_gfni() ? PackedFormat::kSparse24NibbleSlice
          : pref == PackedFormat::kSparse24SlicePerm && kg.gs % 32 == 0 && cpu_has_gfni() ? PackedFormat::kSparse24SlicePerm
          : (pref == PackedFormat::kSparse24NibbleCtl && cpu_has_gfni()) ||
                    ((pref == PackedFormat::kSparse24NibbleIdx || pref == PackedFormat::kSparse24NibbleSlice ||
                      pref == PackedFormat::kSparse24SlicePerm) &&
                     small)
              ? PackedFormat::kSparse24NibbleCtl
              : PackedFormat::kSparse24NibbleIdx;
    else if (isa.sparse_gather && pref == PackedFormat::kSparse24GatherCtl && kg.gs % 16 == 0)
      f = PackedFormat::kSparse24GatherCtl;
    else if (isa.sparse_gather && gather && kg.gs % 8 == 0) f = PackedFormat::kSparse24Gather;
    else if (isa.sparse_expand) f = PackedFormat::kSparse24Expand;
  }
  // Other N:M patterns, 2:4 with groups that split an N:M group, and ISAs without a sparse
  // path: dense int8 codes (exact, just not faster than int8).
  P->format = f;
  P->stream_prefetch_lines = g_slice_perm_pf.load();
  const int64_t nr = isa.nr, kblk = isa.kblk;
  const bool pairs = f == PackedFormat::kInt4Pairs || f == PackedFormat::kInt4PairsU || f == PackedFormat::kSparse24Gather ||
                     f == PackedFormat::kSparse24PermByte;
  const bool quads = f == PackedFormat::kSparse24GatherI4 || f == PackedFormat::kSparse24GatherCtl ||
                     f == PackedFormat::kSparse24NibbleIdx || f == PackedFormat::kSparse24NibbleCtl;
  const bool octs = f == PackedFormat::kSparse24NibbleSlice || f == PackedFormat::kSparse24SlicePerm;
  kg.gk = round_up(kg.gs, octs ? 8 * kblk : quads ? 4 * kblk : pairs ? 2 * kblk : kblk);
  const int64_t kpad = kg.kpad(), nblk = kpad / kblk;
  P->panels = (w.n + nr - 1) / nr;
  switch (f) {
    case PackedFormat::kInt8: P->panel_bytes = kpad * nr; break;
    case PackedFormat::kInt4Pairs:
    case PackedFormat::kInt4PairsU: P->panel_bytes = kpad * nr / 2; break;
    case PackedFormat::kSparse24Expand: P->panel_bytes = nblk * (8 + 2 * nr); break;
    case PackedFormat::kSparse24Gather: P->panel_bytes = nblk / 2 * (4 * nr + nr); break;
    case PackedFormat::kSparse24GatherI4:
    case PackedFormat::kSparse24NibbleCtl: P->panel_bytes = nblk / 4 * (8 * nr); break;
    case PackedFormat::kSparse24GatherCtl: P->panel_bytes = nblk / 4 * (12 * nr); break;
    case PackedFormat::kSparse24NibbleIdx: P->panel_bytes = nblk / 4 * (6 * nr); break;
    case PackedFormat::kSparse24NibbleSlice: P->panel_bytes = nblk / 8 * (12 * nr); break;
    case PackedFormat::kSparse24SlicePerm: {
      // Side data inline (PackedQWeights::side_inline) for Q4_0-like weights: groups of 32, every
      // scale exactly an fp16 value (the row sums of a 2:4 group of 32 always fit int8).
      bool inl = w.per_group && kg.gs == 32 && nr == 16 && g_slice_side_inline.load();
      for (int64_t i = 0; inl && i < w.n * kg.groups; ++i) inl = fp16_to_fp32(fp32_to_fp16(w.scales[i])) == w.scales[i];
      P->side_inline = inl;
      const int64_t chunks = nblk / 8;
      P->panel_bytes = inl ? chunks / 4 * 960 + (chunks % 4 ? chunks % 4 * 192 + 192 : 0) : chunks * 192;
      break;
    }
    case PackedFormat::kSparse24PermByte: P->panel_bytes = nblk / 2 * (4 * nr); break;
    default: break;  // block formats: prepare_block
  }
  int64_t data_bytes = round_up(P->panels * P->panel_bytes, 64);
  // The M = 1 GEMV's four streams (one per quarter of the panels) 2 MiB apart exactly, where the
  // weight is on huge pages (alloc_storage) and its quarters are not already whole huge pages.
  constexpr int64_t kHuge = int64_t{1} << 21;
  if (isa.rowsum_compensation && g_quarter_align.load() && g_huge_pages.load() && P->panels >= 8 &&
      data_bytes >= 2 * kHuge && (P->panels / 4 * P->panel_bytes) % kHuge != 0) {
    P->quarter_panels = P->panels / 4;
    P->quarter_bytes = round_up(P->quarter_panels * P->panel_bytes, kHuge);
    data_bytes = round_up(3 * P->quarter_bytes + (P->panels - 3 * P->quarter_panels) * P->panel_bytes, 64);
  }
  const int64_t side = P->panels * kg.groups * nr;
  uint8_t* base = alloc_storage(P->storage, data_bytes + side * 13 + 64);
  P->data = base;
  P->rowsum = reinterpret_cast<int32_t*>(base + data_bytes);
  P->scales = reinterpret_cast<float*>(base + data_bytes + side * 4);
  std::vector<int8_t> dense(static_cast<size_t>(w.k));
  const int64_t kept = w.kind == QWeightKind::kNM ? nm_kept_per_row(w.k, w.nm_n, w.nm_m) : 0;
  const int64_t irb = w.kind == QWeightKind::kNM ? nm_index_row_bytes(w.k, w.nm_n, w.nm_m) : 0;
  for (int64_t p = 0; p < P->panels; ++p) {
    uint8_t* pd = const_cast<uint8_t*>(P->panel_ptr(p));
    for (int64_t lane = 0; lane < nr; ++lane) {
      const int64_t row = p * nr + lane;
      const bool real = row < w.n;
      const int8_t* rsign = real && !sign.empty() ? sign.data() + row * kg.groups : nullptr;
      if (real) decode_row(w, row, dense.data());
      if (rsign)
        for (int64_t g = 0; g < kg.groups; ++g)
          if (rsign[g] < 0)
            for (int64_t j = g * kg.gs; j < (g + 1) * kg.gs; ++j) dense[j] = static_cast<int8_t>(-dense[j]);
      store_lane_groups(w, real ? dense.data() : nullptr, row, p, lane, nr, *P, rsign);
      if (f == PackedFormat::kInt8 || f == PackedFormat::kInt4Pairs || f == PackedFormat::kInt4PairsU) {
        // kInt4PairsU: nibble c + 8, and padding k (zero weights) must hold 8 too.
        const int bias8 = f == PackedFormat::kInt4PairsU ? 8 : 0;
        if (!real && !bias8) continue;  // zero-filled
        for (int64_t g = 0; g < kg.groups; ++g) {
          const int64_t jend = bias8 ? kg.gk : kg.gs;
          int64_t b = g * kg.gk / kblk, jj = 0;  // k-block and position of k = g * gk + j (gk % kblk == 0)
          for (int64_t j = 0; j < jend; ++j) {
            const int c = real && j < kg.gs ? dense[static_cast<size_t>(g * kg.gs + j)] : 0;
            if (f == PackedFormat::kInt8) pd[(b * nr + lane) * kblk + jj] = static_cast<uint8_t>(c);
            else pd[((b / 2) * nr + lane) * kblk + jj] |= static_cast<uint8_t>(((c + bias8) & 0xF) << (4 * (b & 1)));
            if (++jj == kblk) {
              jj = 0;
              ++b;
            }
          }
        }
        continue;
      }
      // 2:4 formats: K is a multiple of 4 and groups hold whole N:M groups, so kpad == K.
      const int8_t* vr = real ? w.codes + row * kept : nullptr;
      const uint8_t* ir = real ? w.packed + row * irb : nullptr;
      // Kept value j sits in N:M group j / 2, i.e. at k = 4 * (j / 2) + its index.
      auto val = [&](int64_t j) {
        if (!real) return uint8_t{0};
        return static_cast<uint8_t>(rsign ? vr[j] * rsign[(j / 2) * 4 / kg.gs] : vr[j]);
      };
      auto idx = [&](int64_t j) { return real ? nm_get_index(ir, j, 2) : static_cast<int>(j & 1); };
      if (f == PackedFormat::kSparse24Expand) {
        for (int64_t b = 0; b < nblk; ++b) {
          uint8_t* blk = pd + b * (8 + 2 * nr);
          uint64_t mask;
          std::memcpy(&mask, blk, 8);
          mask |= (uint64_t{1} << (lane * 4 + idx(2 * b))) | (uint64_t{1} << (lane * 4 + idx(2 * b + 1)));
          std::memcpy(blk, &mask, 8);
          blk[8 + lane * 2] = val(2 * b);
          blk[8 + lane * 2 + 1] = val(2 * b + 1);
        }
      } else if (f == PackedFormat::kSparse24GatherCtl) {
        for (int64_t t = 0; t < nblk / 2; ++t) {  // pair t of k-blocks: value block t % 2 of chunk t / 2
          uint8_t* blk = pd + (t / 2) * 12 * nr;
          const int shift = 4 * static_cast<int>(t & 1);
          for (int s = 0; s < 4; ++s) {
            blk[(t & 1) * 4 * nr + lane * 4 + s] = val(4 * t + s);
            const int ctl = idx(4 * t + s) + (s >= 2 ? 4 : 0);
            blk[8 * nr + lane * 4 + s] |= static_cast<uint8_t>(ctl << shift);
          }
        }
      } else if (f == PackedFormat::kSparse24NibbleIdx) {
        for (int64_t t = 0; t < nblk / 2; ++t) {  // pair t of k-blocks: nibble half t % 2 of chunk t / 2
          uint8_t* blk = pd + (t / 2) * 6 * nr;
          const int h = static_cast<int>(t & 1);
          for (int s = 0; s < 4; ++s) {
            blk[lane * 4 + s] |= static_cast<uint8_t>((val(4 * t + s) & 0xF) << (4 * h));
            blk[4 * nr + lane * 2 + h] |= static_cast<uint8_t>(idx(4 * t + s) << (2 * s));
          }
        }
      } else if (f == PackedFormat::kSparse24NibbleSlice || f == PackedFormat::kSparse24SlicePerm) {
        for (int64_t t = 0; t < nblk / 2; ++t) {  // pair t of k-blocks (8 k): step h = t % 4 of chunk t / 4
          uint8_t* blk = pd + P->slice_chunk_offset(t / 4);
          const int h = static_cast<int>(t & 3);
          for (int s = 0; s < 4; ++s) {
            blk[(h / 2) * 4 * nr + lane * 4 + s] |= static_cast<uint8_t>((val(4 * t + s) & 0xF) << (4 * (h & 1)));
            blk[8 * nr + lane * 4 + s] |= static_cast<uint8_t>(idx(4 * t + s) << (2 * h));
          }
        }
      } else if (f == PackedFormat::kSparse24PermByte) {
        for (int64_t t = 0; t < nblk / 2; ++t) {  // pair t of k-blocks (8 k): 64 bytes [lane][4]
          uint8_t* blk = pd + t * 4 * nr;
          for (int s = 0; s < 4; ++s) {
            // The vpermb index (the byte of the 8-k window) in bits 0..2, the value 16 * w above.
            const int ctl = idx(4 * t + s) + (s >= 2 ? 4 : 0);
            blk[lane * 4 + s] = static_cast<uint8_t>(((val(4 * t + s) & 0xF) << 4) | ctl);
          }
        }
      } else if (f == PackedFormat::kSparse24GatherI4 || f == PackedFormat::kSparse24NibbleCtl) {
        for (int64_t t = 0; t < nblk / 2; ++t) {  // pair t of k-blocks: nibble half t % 2 of chunk t / 2
          uint8_t* blk = pd + (t / 2) * 8 * nr;
          const int shift = 4 * static_cast<int>(t & 1);
          for (int s = 0; s < 4; ++s) {
            blk[lane * 4 + s] |= static_cast<uint8_t>((val(4 * t + s) & 0xF) << shift);
            // vpshufb control: the byte of the 8-k activation window (group s / 2) to multiply.
            const int ctl = idx(4 * t + s) + (s >= 2 ? 4 : 0);
            blk[4 * nr + lane * 4 + s] |= static_cast<uint8_t>(ctl << shift);
          }
        }
      } else {
        for (int64_t t = 0; t < nblk / 2; ++t) {
          uint8_t* blk = pd + t * 5 * nr;
          uint8_t code = 0;
          for (int s = 0; s < 4; ++s) {
            blk[lane * 4 + s] = val(4 * t + s);
            code |= static_cast<uint8_t>(idx(4 * t + s) << (2 * s));
          }
          blk[4 * nr + lane] = code;
        }
      }
    }
  }
  if (isa.rowsum_compensation) {  // the AVX-512 tiles read narrower side data where it is exact
    auto* h = reinterpret_cast<uint16_t*>(base + data_bytes + side * 8);
    bool exact = true;  // fp16 scales, when every scale (padding lanes' 0 included) is exactly one
    for (int64_t i = 0; i < side && exact; ++i) {
      h[i] = fp32_to_fp16(P->scales[i]);
      exact = fp16_to_fp32(h[i]) == P->scales[i];
    }
    if (exact) P->scales_f16 = h;
    auto* r16 = reinterpret_cast<int16_t*>(base + data_bytes + side * 10);
    bool fits = true;  // int16 row sums, when every one fits
    for (int64_t i = 0; i < side && fits; ++i) {
      fits = P->rowsum[i] >= INT16_MIN && P->rowsum[i] <= INT16_MAX;
      r16[i] = static_cast<int16_t>(P->rowsum[i]);
    }
    if (fits) P->rowsum16 = r16;
    const bool sparse24 = f == PackedFormat::kSparse24Gather || f == PackedFormat::kSparse24GatherI4 ||
                          f == PackedFormat::kSparse24GatherCtl || f == PackedFormat::kSparse24NibbleIdx ||
                          f == PackedFormat::kSparse24NibbleCtl || f == PackedFormat::kSparse24NibbleSlice ||
                          f == PackedFormat::kSparse24PermByte || f == PackedFormat::kSparse24SlicePerm;
    auto* r8 = reinterpret_cast<int8_t*>(base + data_bytes + side * 12);
    fits = sparse24;  // int8 row sums (2:4 tiles read row sums for every activation type), when every one fits
    for (int64_t i = 0; i < side && fits; ++i) {
      fits = P->rowsum[i] >= INT8_MIN && P->rowsum[i] <= INT8_MAX;
      r8[i] = static_cast<int8_t>(P->rowsum[i]);
    }
    if (fits) P->rowsum8 = r8;
    if (P->side_inline) {  // copies of the narrow side data into each panel stream
      if (!P->rowsum8 || !P->scales_f16) throw Error("x86 qgemm: inline 2:4 side data needs int8 row sums and fp16 scales");
      for (int64_t p = 0; p < P->panels; ++p) {
        auto* pd = const_cast<uint8_t*>(P->panel_ptr(p));
        for (int64_t g = 0; g < kg.groups; ++g) {
          const int64_t src = (p * kg.groups + g) * nr, off = P->slice_side_offset(g);
          std::memcpy(pd + off + 16 * (g % 4), P->rowsum8 + src, 16);
          std::memcpy(pd + off + 64 + 32 * (g % 4), P->scales_f16 + src, 32);
        }
      }
    }
  }
  return P;
}

QGemmFn ref_for(bool u8, QWeightKind kind) {
  static const QGemmFn fns[2][kNumQWeightKinds] = {
      {qu8_qs8w_gemm_f32_ref, qu8_qs4w_gemm_f32_ref, qu8_qs8nmw_gemm_f32_ref, qu8_qs8bsw_gemm_f32_ref,
       qu8_qs4bsw_gemm_f32_ref},
      {qs8_qs8w_gemm_f32_ref, qs8_qs4w_gemm_f32_ref, qs8_qs8nmw_gemm_f32_ref, qs8_qs8bsw_gemm_f32_ref,
       qs8_qs4bsw_gemm_f32_ref}};
  return fns[u8 ? 0 : 1][static_cast<int>(kind)];
}

// The prepared weight, if it is really this table's packing of exactly `w`.
const PackedQWeights* usable(const QWeights& w, const IsaQGemm& isa) {
  const auto* P = dynamic_cast<const PackedQWeights*>(w.prepared);
  if (!P || P->table != isa.table || P->n != w.n || P->k != w.k || P->kind != w.kind ||
      P->per_group != w.per_group || P->src_codes != w.codes || P->src_packed != w.packed ||
      P->src_scales != w.scales || P->src_block_row_ptr != w.block_row_ptr)
    return nullptr;
  return P;
}

// kSparse24SlicePerm's activation chunk: slot t of the permuted 32 bytes holds k slice_perm_src(t)
// of the chunk (x86_kernels.h: steps 0 and 2 in order at 0..7 and 8..15; steps 1 and 3 at
// 16 + 4i + g and 18 + 4i + g, for the value with index i in the step's group g).
constexpr int slice_perm_src(int t) {
  return t < 8 ? t : t < 16 ? 16 + (t - 8) : 8 * ((t - 16) % 4 >= 2 ? 3 : 1) + 4 * ((t - 16) % 2) + (t - 16) / 4;
}

static_assert(slice_perm_src(0) == 0 && slice_perm_src(8) == 16 && slice_perm_src(16) == 8 && slice_perm_src(17) == 12 &&
                  slice_perm_src(18) == 24 && slice_perm_src(19) == 28 && slice_perm_src(31) == 31,
              "permute_chunk32 implements this order");

// One chunk of 32 codes into slice_perm_src's order, xor flip, with SSE2 (the baseline ISA): slots
// 0..15 are k 0..7 and 16..23 as they are; slots 16..31 are the 4 x 4 byte transpose of the
// dwords k 8..11, 12..15, 24..27, 28..31 (slot 16 + 4i + j: byte i of dword j).
inline void permute_chunk32(const uint8_t* src, uint8_t* dst, uint8_t flip) {
  auto u32 = [&](int o) {
    uint32_t v;
    std::memcpy(&v, src + o, 4);
    return static_cast<long long>(v);
  };
  auto u64 = [&](int o) {
    long long v;
    std::memcpy(&v, src + o, 8);
    return v;
  };
  const __m128i f = _mm_set1_epi8(static_cast<char>(flip));
  const __m128i a = _mm_set_epi64x(u64(16), u64(0));
  // v = [k 8..11, k 24..27, k 12..15, k 28..31]; two unpacks give [k 8+i, k 12+i, k 24+i, k 28+i] per i.
  const __m128i v = _mm_set_epi64x(u32(12) | (u32(28) << 32), u32(8) | (u32(24) << 32));
  const __m128i u = _mm_unpacklo_epi8(v, _mm_srli_si128(v, 8));
  const __m128i w = _mm_unpacklo_epi16(u, _mm_srli_si128(u, 8));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_xor_si128(a, f));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm_xor_si128(w, f));
}

template <bool kU8>
void qgemm(const IsaQGemm& isa, int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y) {
  if (m <= 0 || w.n <= 0) return;
  const PackedQWeights* P = usable(w, isa);
  if (!P) {  // not prepared (or prepared for something else): the oracle is always right
    ref_for(kU8, w.kind)(m, x, w, bias, y);
    return;
  }
  const KGeom& kg = P->kg;
  const int64_t k = w.k, kpad = kg.kpad();
  // Activations: per row, each group's gs codes then zeros up to gk (the zero weights there
  // make their value irrelevant). AVX-512: u8, qs8 shifted by +128 (x ^ 0x80) so vpdpbusd can
  // take them as its unsigned operand; the kernel subtracts zc * rowsum. AVX2: int16 x - zx, so
  // vpmaddwd computes the contract directly with no compensation.
  thread_local std::vector<uint8_t> buf;
  thread_local std::vector<int32_t> xsum8;
  // kInt4PairsU: the activations are vpdpbusd's signed operand (qs8 as is, qu8 as x - 128 = x ^ 0x80)
  // and each group's code sum is subtracted 8 times (the nibbles are c + 8).
  const bool signed_x = P->format == PackedFormat::kInt4PairsU;
  // kSparse24SlicePerm reads each 32-k chunk of the activations permuted (slice_perm_src).
  // Its kernel measured ahead of kSparse24NibbleSlice's (which reads the same bytes with plain
  // activations) at every M tried, 1..128 (docs/RESULTS.md); the limit is a measurement knob.
  const bool perm32 =
      P->format == PackedFormat::kSparse24SlicePerm && (m <= g_slice_perm_max_m.load() || P->side_inline);
  const int64_t esize = isa.rowsum_compensation ? 1 : 2;
  const int64_t row_bytes = kpad * esize;
  // u8 codes (s8 ones for kInt4PairsU) whose groups need no padding are already the packed layout: no copy.
  const bool as_is = isa.rowsum_compensation && kg.gk == kg.gs && (signed_x ? !kU8 : kU8) && !perm32;
  if (static_cast<int64_t>(buf.size()) < m * row_bytes + 64 && !as_is) buf.resize(static_cast<size_t>(m * row_bytes + 64));
  if (signed_x && static_cast<int64_t>(xsum8.size()) < m * kg.groups) xsum8.resize(static_cast<size_t>(m * kg.groups));
  uint8_t* xp = buf.data();
  // The lambdas below run on pool threads: they must reach this thread's buffers through these
  // pointers (naming a thread_local inside them would give the pool thread's own, empty, one).
  int32_t* const xs8 = xsum8.data();
  const auto* xu = static_cast<const uint8_t*>(x.codes);
  auto pack_rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* src = xu + r * k;
      for (int64_t g = 0; g < kg.groups; ++g) {
        const uint8_t* s = src + g * kg.gs;
        if (signed_x) {
          const uint8_t flip = kU8 ? 0x80 : 0x00;
          int32_t sum = 0;
          if (as_is) {
            for (int64_t j = 0; j < kg.gs; ++j) sum += static_cast<int8_t>(s[j]);
          } else {
            uint8_t* d = xp + r * row_bytes + g * kg.gk;
            for (int64_t j = 0; j < kg.gs; ++j) {
              d[j] = static_cast<uint8_t>(s[j] ^ flip);
              sum += static_cast<int8_t>(d[j]);
            }
            for (int64_t j = kg.gs; j < kg.gk; ++j) d[j] = 0;
          }
          xs8[r * kg.groups + g] = 8 * sum;
        } else if (perm32) {  // gs % 32 == 0, so gk == gs: whole chunks
          uint8_t* d = xp + r * row_bytes + g * kg.gk;
          for (int64_t c = 0; c < kg.gs; c += 32) permute_chunk32(s + c, d + c, kU8 ? 0x00 : 0x80);
        } else if (isa.rowsum_compensation) {
          uint8_t* d = xp + r * row_bytes + g * kg.gk;
          if (kU8 && kg.gs >= 64) std::memcpy(d, s, static_cast<size_t>(kg.gs));
          else if (kU8)  // short rows (a first conv's K = 9): a loop, not two library calls per row
            for (int64_t j = 0; j < kg.gs; ++j) d[j] = s[j];
          else
            for (int64_t j = 0; j < kg.gs; ++j) d[j] = static_cast<uint8_t>(s[j] ^ 0x80);
          for (int64_t j = kg.gs; j < kg.gk; ++j) d[j] = 0;
        } else {
          auto* d = reinterpret_cast<int16_t*>(xp + r * row_bytes) + g * kg.gk;
          const int32_t zx = x.zero_point;
          if (kU8)
            for (int64_t j = 0; j < kg.gs; ++j) d[j] = static_cast<int16_t>(static_cast<int32_t>(s[j]) - zx);
          else
            for (int64_t j = 0; j < kg.gs; ++j) d[j] = static_cast<int8_t>(s[j]);
          std::memset(d + kg.gs, 0, static_cast<size_t>((kg.gk - kg.gs) * 2));
        }
      }
    }
  };
  if (as_is) xp = const_cast<uint8_t*>(xu);  // read only
  if (!as_is || signed_x) parallel_for(m, static_cast<double>(row_bytes) / 8.0, pack_rows);
  TileArgs a;
  a.w = P;
  a.xp = xp;
  a.x_row_bytes = row_bytes;
  a.m = m;
  a.zc = signed_x ? (kU8 ? x.zero_point - 128 : 0) : kU8 ? x.zero_point : 128;
  a.xsum8 = signed_x ? xs8 : nullptr;
  if (P->format == PackedFormat::kSparse24SlicePerm && !perm32) a.kernel_format = static_cast<int>(PackedFormat::kSparse24NibbleSlice);
  a.sx = x.scales;
  a.sx_stride = x.scale_stride;
  a.bias = bias;
  a.y = y;
  const bool block = P->format == PackedFormat::kBlockInt8 || P->format == PackedFormat::kBlockInt4Pairs;
  // (AVX-512 only: its tile loop reads TileArgs::panel_stride; the AVX2 one does not.)
  if (m == 1 && !block && &isa == &kAvx512VnniQGemm && isa.tile_panels == 4 && P->panels >= 8 && g_strided_gemv.load()) {
    // A decoding step's GEMV. A tile's 4 panels are adjacent in memory, so an ordinary tile reads
    // 4 streams of kpad * nr / 2 bytes (16 KiB at K = 2048, Q4_0) that end together, and the next
    // tile starts 4 new ones: the hardware prefetcher keeps re-learning streams, and the GEMV ran
    // at 16-18 GB/s where a 4-stream read of this Zen 4 reaches ~30 (bench/q4_gemv_bench). Tile i
    // here is panels {i, i + S, i + 2S, i + 3S} (S = panels / 4): tile i + 1 reads the panels
    // right after tile i's, so each stream runs through a quarter of the weight in order. The
    // same tile code and arithmetic per output: the same bits.
    const int64_t S = P->panels / 4;
    TileArgs b = a;
    b.panel_stride = S;
    parallel_for(S, static_cast<double>(4 * isa.nr) * static_cast<double>(kpad), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) isa.tiles(b, i, i + 1);
    });
    if (P->panels > 4 * S) isa.tiles(a, S, S + 1);  // the last 1-3 panels: ordinary tile S (panels 4S..)
    return;
  }
  const int64_t tile_panels = block ? P->tile_np : isa.tile_panels;
  const int64_t tiles = (P->panels + tile_panels - 1) / tile_panels;
  // Split over output tiles (n), and over row blocks (m) when there are too few tiles to keep
  // every thread busy (convolutions: N = 32..64 output channels, M = thousands of pixels). Every
  // output is still computed by one thread, in k order: the thread count never changes a result.
  const int64_t threads = num_threads();
  int64_t mblk = m;
  if (tiles < 4 * threads && m >= 2 * kRowBlock) {
    const int64_t want = (4 * threads + tiles - 1) / tiles;  // row blocks per tile
    mblk = std::max<int64_t>(kRowBlock, round_up((m + want - 1) / want, kRowBlock));
  }
  const int64_t mblocks = (m + mblk - 1) / mblk;
  // Block formats: the k a tile actually multiplies (its segments), on average.
  const double tile_k = block ? static_cast<double>(P->seg_ptr.back()) * static_cast<double>(P->seg_kblocks * isa.kblk) /
                                    static_cast<double>(std::max<int64_t>(1, tiles))
                              : static_cast<double>(kpad);
  const double work = static_cast<double>(mblk) * static_cast<double>(tile_panels * isa.nr) * tile_k;
  parallel_for(tiles * mblocks, work, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t mb = t % mblocks, tile = t / mblocks, m0 = mb * mblk;
      TileArgs b = a;
      b.xp = a.xp + m0 * row_bytes;
      b.y = a.y + m0 * w.n;
      b.sx = a.sx + m0 * a.sx_stride;
      if (a.xsum8) b.xsum8 = a.xsum8 + m0 * kg.groups;
      b.m = std::min(mblk, m - m0);
      isa.tiles(b, tile, tile + 1);
    }
  });
}

}  // namespace

void set_avx512_slice_side_inline(bool on) { g_slice_side_inline.store(on); }
void set_avx512_slice_perm_max_m(int64_t m) { g_slice_perm_max_m.store(m < 0 ? INT64_MAX : m); }
void set_avx512_slice_perm_prefetch_lines(int lines) { g_slice_perm_pf.store(lines < 0 ? 0 : lines); }
void set_avx512_sparse24_strategy(PackedFormat f) { g_sparse24.store(static_cast<int>(f)); }
void set_avx512_sparse24_ctl_max_bytes(int64_t bytes) {
  g_sparse24_ctl_max_bytes.store(bytes < 0 ? kSparse24CtlMaxBytes : bytes);
}
void set_int8_as_int4(bool on) { g_int8_as_int4.store(on); }
void set_avx512_int4_unsigned(bool on) { g_int4_unsigned.store(on); }
void set_packed_huge_pages(bool on) { g_huge_pages.store(on); }
void set_strided_gemv(bool on) { g_strided_gemv.store(on); }
void set_gemv_quarter_align(bool on) { g_quarter_align.store(on); }

std::unique_ptr<PreparedQWeights> prepare_qweights__avx512vnni(const QWeights& w) { return prepare(w, kAvx512VnniQGemm); }
std::unique_ptr<PreparedQWeights> prepare_qweights__avx2(const QWeights& w) { return prepare(w, kAvx2QGemm); }

#define QF_X86_QGEMM(name, isa, u8)                                                                    \
  void name(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) { qgemm<u8>(isa, m, x, w, b, y); }
QF_X86_QGEMM(qu8_qs8w_gemm_f32_6x64c4__avx512vnni, kAvx512VnniQGemm, true)
QF_X86_QGEMM(qu8_qs4w_gemm_f32_4x64c4__avx512vnni, kAvx512VnniQGemm, true)
QF_X86_QGEMM(qu8_qs8nmw_gemm_f32_4x64c8__avx512vnni, kAvx512VnniQGemm, true)
QF_X86_QGEMM(qs8_qs8w_gemm_f32_6x64c4__avx512vnni, kAvx512VnniQGemm, false)
QF_X86_QGEMM(qs8_qs4w_gemm_f32_4x64c4__avx512vnni, kAvx512VnniQGemm, false)
QF_X86_QGEMM(qs8_qs8nmw_gemm_f32_4x64c8__avx512vnni, kAvx512VnniQGemm, false)
QF_X86_QGEMM(qu8_qs8w_gemm_f32_5x16c2__avx2, kAvx2QGemm, true)
QF_X86_QGEMM(qu8_qs4w_gemm_f32_4x16c2__avx2, kAvx2QGemm, true)
QF_X86_QGEMM(qu8_qs8nmw_gemm_f32_5x16c2__avx2, kAvx2QGemm, true)
QF_X86_QGEMM(qs8_qs8w_gemm_f32_5x16c2__avx2, kAvx2QGemm, false)
QF_X86_QGEMM(qs8_qs4w_gemm_f32_4x16c2__avx2, kAvx2QGemm, false)
QF_X86_QGEMM(qs8_qs8nmw_gemm_f32_5x16c2__avx2, kAvx2QGemm, false)
QF_X86_QGEMM(qu8_qs8bsw_gemm_f32_6x32c4__avx512vnni, kAvx512VnniQGemm, true)
QF_X86_QGEMM(qu8_qs4bsw_gemm_f32_4x32c4__avx512vnni, kAvx512VnniQGemm, true)
QF_X86_QGEMM(qs8_qs8bsw_gemm_f32_6x32c4__avx512vnni, kAvx512VnniQGemm, false)
QF_X86_QGEMM(qs8_qs4bsw_gemm_f32_4x32c4__avx512vnni, kAvx512VnniQGemm, false)
QF_X86_QGEMM(qu8_qs8bsw_gemm_f32_5x16c2__avx2, kAvx2QGemm, true)
QF_X86_QGEMM(qu8_qs4bsw_gemm_f32_4x16c2__avx2, kAvx2QGemm, true)
QF_X86_QGEMM(qs8_qs8bsw_gemm_f32_5x16c2__avx2, kAvx2QGemm, false)
QF_X86_QGEMM(qs8_qs4bsw_gemm_f32_4x16c2__avx2, kAvx2QGemm, false)
#undef QF_X86_QGEMM

}  // namespace qf::kernels::x86
