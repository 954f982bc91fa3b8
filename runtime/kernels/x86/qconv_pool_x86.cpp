// The fused conv + pool entry of the AVX-512 table, baseline half: which weights the range
// kernel can take, and the split over pooled rows (threads never split a window or k, so the
// thread count never changes a result).
#include <atomic>
#include <cstring>

#include "runtime/kernels/ref/ref_kernels.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_conv_kernels.h"

namespace qf::kernels::x86 {
namespace {
std::atomic<bool> g_int32_pooling{true};
}  // namespace

void set_conv_pool_int32_pooling(bool on) { g_int32_pooling.store(on); }

void x8_conv2d_pool_4x64c4__avx512vnni(const QConvPoolArgs& a, const QWeights& w, const float* bias) {
  if (a.images <= 0 || a.pooled_h <= 0 || a.pooled_w <= 0 || w.n <= 0) return;
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
