// The fused conv + pool entry of the AVX-512 table, baseline half: which weights the range
// kernel can take, and the split over pooled rows (threads never split a window or k, so the
// thread count never changes a result).
#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/nm_sparse.h"

#include "runtime/kernels/ref/ref_kernels.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_conv_kernels.h"

namespace qf::kernels::x86 {
namespace {
std::atomic<bool> g_int32_pooling{true};
std::atomic<bool> g_conv_sparse24{true};
}  // namespace

void set_conv_pool_int32_pooling(bool on) { g_int32_pooling.store(on); }
void set_conv_sparse24(bool on) { g_conv_sparse24.store(on); }

std::vector<CijPiece> cij_pieces(int64_t channels, int64_t kh, int64_t kw) {
  const int64_t taps = kh * kw, k = channels * taps, blocks = (k + 63) / 64;
  std::vector<CijPiece> v;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t k0 = 64 * b, k1 = std::min(k, k0 + 64);  // k = c * taps + i * kw + j in [k0, k1)
    int64_t dest = 0;
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) {
        const int64_t t = i * kw + j;
        const int64_t c0 = k0 <= t ? 0 : (k0 - t + taps - 1) / taps, c1 = (k1 - 1 - t) / taps;  // c1 inclusive
        if (k1 - 1 < t || c1 < c0) continue;
        v.push_back({b, i, j, c0, c1 - c0 + 1, dest});
        dest += c1 - c0 + 1;
      }
  }
  return v;
}

std::unique_ptr<PreparedQWeights> prepare_qconv_pool__avx512vnni(const QWeights& w, int64_t channels, int64_t kh,
                                                                 int64_t kw) {
  if (!g_conv_sparse24.load() || w.kind != QWeightKind::kNM || w.nm_n != 2 || w.nm_m != 4 || w.per_group ||
      w.n <= 0 || w.k <= 0 || w.k % 4 != 0 || !w.codes || !w.packed || !w.scales || channels <= 0 || kh <= 0 ||
      kw <= 0 || channels * kh * kw != w.k || !cij_window_fits(channels, kh, kw))
    return nullptr;
  constexpr int64_t NR = 16;
  // Where each k sits in its block's table.
  std::vector<uint8_t> pos(static_cast<size_t>(w.k));
  for (const CijPiece& p : cij_pieces(channels, kh, kw))
    for (int64_t c = p.c0; c < p.c0 + p.len; ++c)
      pos[static_cast<size_t>(c * kh * kw + p.i * kw + p.j)] = static_cast<uint8_t>(p.dest + c - p.c0);
  auto P = std::make_unique<PackedConvSparse24>();
  P->src_codes = w.codes;
  P->src_packed = w.packed;
  P->src_scales = w.scales;
  P->n = w.n;
  P->k = w.k;
  P->channels = channels;
  P->kh = kh;
  P->kw = kw;
  P->panels = (w.n + NR - 1) / NR;
  P->steps = (w.k + 7) / 8;
  const int64_t data_bytes = P->panels * P->steps * 128, side = P->panels * NR;
  P->storage.reset(new uint8_t[static_cast<size_t>(data_bytes + side * 8 + 64)]());
  uint8_t* base = P->storage.get();
  base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
  P->data = base;
  P->rowsum = reinterpret_cast<int32_t*>(base + data_bytes);
  P->scales = reinterpret_cast<float*>(base + data_bytes + side * 4);
  const int64_t kept = nm_kept_per_row(w.k, 2, 4), irb = nm_index_row_bytes(w.k, 2, 4);
  for (int64_t row = 0; row < w.n; ++row) {
    const int64_t p = row / NR, lane = row % NR;
    const int8_t* v = w.codes + row * kept;
    const uint8_t* ir = w.packed + row * irb;
    int32_t sum = 0;
    for (int64_t j = 0; j < kept; ++j) {  // kept value j: group j / 2, k = 4 (j / 2) + its index
      const int64_t kk = 4 * (j / 2) + nm_get_index(ir, j, 2), t = j / 4;  // step t = kk / 8, block t / 8
      uint8_t* blk = P->data + (p * P->steps + t) * 128;
      blk[lane * 4 + j % 4] = static_cast<uint8_t>(v[j]);
      blk[64 + lane * 4 + j % 4] = pos[static_cast<size_t>(kk)];
      sum += v[j];
    }
    P->rowsum[p * NR + lane] = sum;
    P->scales[p * NR + lane] = w.scales[row];
  }
  return P;
}

namespace {
// Each block's first channel (the shared reads start there).
std::vector<int64_t> block_first_channel(const std::vector<CijPiece>& pieces, int64_t channels) {
  std::vector<int64_t> c_lo;
  for (const CijPiece& p : pieces) {
    if (static_cast<int64_t>(c_lo.size()) <= p.block) c_lo.resize(static_cast<size_t>(p.block + 1), channels);
    c_lo[static_cast<size_t>(p.block)] = std::min(c_lo[static_cast<size_t>(p.block)], p.c0);
  }
  return c_lo;
}
}  // namespace

bool cij_window_fits(int64_t channels, int64_t kh, int64_t kw) {
  if (kh != 3 || channels <= 0 || kw <= 0) return false;
  const std::vector<CijPiece> pieces = cij_pieces(channels, kh, kw);
  const std::vector<int64_t> c_lo = block_first_channel(pieces, channels);
  for (const CijPiece& p : pieces)  // the piece's last byte, read by the conv rows with dx = 1
    if ((1 + p.j) * channels + p.c0 + p.len - 1 - c_lo[static_cast<size_t>(p.block)] >= 128) return false;
  return true;
}

bool make_cij_plan(const QConvPoolArgs& a, const PackedConvSparse24& w, CijPlan& plan) {
  const int64_t C = w.channels, kw = w.kw, span = (kw + 1) * C;  // bytes of an image row a window reads
  if (a.x_pixel != C || a.x_row != a.x_seg || !cij_window_fits(C, w.kh, kw)) return false;
  const std::vector<CijPiece> pieces = cij_pieces(C, w.kh, kw);
  const std::vector<int64_t> c_lo = block_first_channel(pieces, C);
  plan.blocks = (w.k + 63) / 64;
  const size_t nb = static_cast<size_t>(plan.blocks);
  plan.base.assign(nb, 0);
  plan.lo.assign(nb, 0);
  plan.hi.assign(nb, 0);
  plan.sel.assign(nb * 6, 0);
  plan.idx.assign(nb * 6 * 64, 0);
  for (size_t b = 0; b < nb; ++b) {
    plan.base[b] = c_lo[b];
    for (int64_t q = 0; q < 64; ++q) {  // reads stay inside the window's kw + 1 pixels
      if (c_lo[b] + q < span) plan.lo[b] |= uint64_t{1} << q;
      if (c_lo[b] + 64 + q < span) plan.hi[b] |= uint64_t{1} << q;
    }
  }
  for (const CijPiece& p : pieces)
    for (int64_t dx = 0; dx < 2; ++dx) {
      const size_t e = (static_cast<size_t>(p.block) * 2 + static_cast<size_t>(dx)) * 3 + static_cast<size_t>(p.i);
      for (int64_t c = p.c0; c < p.c0 + p.len; ++c) {
        const int64_t dest = p.dest + c - p.c0;  // table byte
        plan.sel[e] |= uint64_t{1} << dest;
        plan.idx[e * 64 + static_cast<size_t>(dest)] =
            static_cast<uint8_t>((dx + p.j) * C + c - c_lo[static_cast<size_t>(p.block)]);  // < 128 (fits)
      }
    }
  return true;
}

void x8_conv2d_pool_4x64c4__avx512vnni(const QConvPoolArgs& a, const QWeights& w, const float* bias) {
  if (a.images <= 0 || a.pooled_h <= 0 || a.pooled_w <= 0 || w.n <= 0) return;
  if (a.cij_channels > 0) {  // K in (c, i, j) order: the 2:4 kernel with its own packing, or the reference
    const auto* S = dynamic_cast<const PackedConvSparse24*>(w.prepared);
    const bool ok = S && w.kind == QWeightKind::kNM && w.nm_n == 2 && w.nm_m == 4 && !w.per_group && S->n == w.n &&
                    S->k == w.k && S->src_codes == w.codes && S->src_packed == w.packed && S->src_scales == w.scales &&
                    S->channels == a.cij_channels && S->kh == a.segs && S->channels * S->kh * S->kw == w.k;
    CijPlan plan;
    if (!ok || !make_cij_plan(a, *S, plan)) {
      x8_conv2d_pool_ref(a, w, bias);
      return;
    }
    const int64_t rows = a.images * a.pooled_h;
    const bool int32_pooling = g_int32_pooling.load();
    const double work = static_cast<double>(a.pooled_w) * 2.0 * static_cast<double>(w.n * w.k);
    parallel_for(rows, work, [&](int64_t r0, int64_t r1) {
      x8_conv2d_pool_sp24_rows__avx512vnni(a, *S, plan, bias, r0, r1, int32_pooling);
    });
    return;
  }
  const auto* P = dynamic_cast<const PackedQWeights*>(w.prepared);
  // Dense int8 per-channel packing of exactly this weight, runs of whole k-blocks (so no block
  // reads past a run and no activation padding is needed); anything else is the reference's.
  const bool ok = P && P->table && std::strcmp(P->table, kAvx512VnniQGemm.table) == 0 &&
                  P->format == PackedFormat::kInt8 && !P->per_group && !w.per_group && w.kind == QWeightKind::kInt8 &&
                  P->kind == w.kind && P->n == w.n && P->k == w.k && P->src_codes == w.codes &&
                  P->src_scales == w.scales && a.segs > 0 && w.k % a.segs == 0 && (w.k / a.segs) % 4 == 0 &&
                  P->kg.kpad() == w.k;
  if (!ok) {
    x8_conv2d_pool_ref(a, w, bias);
    return;
  }
  const int64_t rows = a.images * a.pooled_h;
  const bool int32_pooling = g_int32_pooling.load();
  const double work = static_cast<double>(a.pooled_w) * 4.0 * static_cast<double>(w.n * w.k);
  parallel_for(rows, work, [&](int64_t r0, int64_t r1) { x8_conv2d_pool_rows__avx512vnni(a, *P, bias, r0, r1, int32_pooling); });
}

}  // namespace qf::kernels::x86
