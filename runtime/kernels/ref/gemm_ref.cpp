// Reference GEMMs. One template per weight storage kind, instantiated for both activation code
// types; the weight decode (int8 / int4 nibble / N:M index) is inlined in the k loop, so no
// dequantized copy of the weight is ever made.
#include <algorithm>
#include <cstddef>
#include <string>

#include "core/error.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "runtime/kernels/ref/ref_kernels.h"

namespace qf::kernels {

QWeights QWeights::rows_slice(int64_t r0, int64_t rows) const {
  QWeights s = *this;
  s.n = rows;
  switch (kind) {
    case QWeightKind::kInt8: s.codes = codes + r0 * k; break;
    case QWeightKind::kInt4: s.packed = packed + r0 * int4_row_bytes(k); break;
    case QWeightKind::kNM:
      s.codes = codes + r0 * nm_kept_per_row(k, nm_n, nm_m);
      s.packed = packed + r0 * nm_index_row_bytes(k, nm_n, nm_m);
      break;
    case QWeightKind::kBSInt8:
    case QWeightKind::kBSInt4:
      // Blocks are addressed through block_row_ptr (absolute offsets): slice whole block rows.
      if (bs_rows <= 0 || r0 % bs_rows != 0)
        throw Error("block-sparse weight: a row slice must start on a block row (row " + std::to_string(r0) +
                    ", blocks of " + std::to_string(bs_rows) + " rows)");
      s.block_row_ptr = block_row_ptr + r0 / bs_rows;
      break;
    case QWeightKind::kFp8E4M3: s.packed = packed + r0 * k; break;
  }
  s.scales = scales + r0 * (per_group ? k / group_size : 1);
  s.prepared = nullptr;  // a packing of all rows is not one of these rows: prepare the slice itself
  return s;
}

namespace {

// Accumulates one output: visits (k, code) pairs of weight row `o` in increasing k, with
// group flushes. `visit(f)` calls f(k, wcode) for every stored weight element.
template <class XT, class Visit>
inline float dot_row(const XT* xr, int32_t zx, float sx, const QWeights& w, int64_t o, Visit visit) {
  if (!w.per_group) {
    int32_t acc = 0;
    visit([&](int64_t k, int32_t wc) { acc += (static_cast<int32_t>(xr[k]) - zx) * wc; });
    return static_cast<float>(acc) * (sx * w.scales[o]);
  }
  const int64_t groups = w.k / w.group_size;
  const float* sw = w.scales + o * groups;
  float total = 0.0f;
  int32_t acc = 0;
  int64_t g = 0;
  visit([&](int64_t k, int32_t wc) {
    const int64_t kg = k / w.group_size;
    while (g < kg) {  // flush finished groups in increasing g
      total += static_cast<float>(acc) * sw[g];
      acc = 0;
      ++g;
    }
    acc += (static_cast<int32_t>(xr[k]) - zx) * wc;
  });
  while (g < groups) {
    total += static_cast<float>(acc) * sw[g];
    acc = 0;
    ++g;
  }
  return sx * total;
}

template <class XT, QWeightKind KIND>
void qgemm(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y) {
  const XT* xc = static_cast<const XT*>(x.codes);
  const int64_t k = w.k;
  const int bits = nm_index_bits(w.nm_m);
  const int64_t kept = KIND == QWeightKind::kNM ? nm_kept_per_row(k, w.nm_n, w.nm_m) : 0;
  const int64_t irb = KIND == QWeightKind::kNM ? nm_index_row_bytes(k, w.nm_n, w.nm_m) : 0;
  const int64_t prb = int4_row_bytes(k);
  for (int64_t i = 0; i < m; ++i) {
    const XT* xr = xc + i * k;
    const float sx = x.scales[i * x.scale_stride];
    for (int64_t o = 0; o < w.n; ++o) {
      float v;
      if constexpr (KIND == QWeightKind::kInt8) {
        const int8_t* wr = w.codes + o * k;
        v = dot_row(xr, x.zero_point, sx, w, o, [&](auto f) {
          for (int64_t kk = 0; kk < k; ++kk) f(kk, wr[kk]);
        });
      } else if constexpr (KIND == QWeightKind::kInt4) {
        const uint8_t* wr = w.packed + o * prb;
        v = dot_row(xr, x.zero_point, sx, w, o, [&](auto f) {
          for (int64_t kk = 0; kk < k; ++kk) {
            const uint8_t b = wr[kk >> 1];
            f(kk, (kk & 1) ? int4_hi_signed(b) : int4_lo_signed(b));
          }
        });
      } else if constexpr (KIND == QWeightKind::kBSInt8 || KIND == QWeightKind::kBSInt4) {
        // Only the kept blocks of this row's block row are visited (in increasing k); the zero
        // blocks are never multiplied.
        const int64_t br = w.bs_rows, bc = w.bs_cols, r = o % br, bpr = int4_row_bytes(bc);
        const int64_t R = o / br;
        v = dot_row(xr, x.zero_point, sx, w, o, [&](auto f) {
          for (int64_t j = w.block_row_ptr[R]; j < w.block_row_ptr[R + 1]; ++j) {
            const int64_t k0 = static_cast<int64_t>(w.block_col[j]) * bc;
            const int64_t qn = std::min<int64_t>(bc, k - k0);
            if constexpr (KIND == QWeightKind::kBSInt8) {
              const int8_t* br_codes = w.codes + (j * br + r) * bc;
              for (int64_t q = 0; q < qn; ++q) f(k0 + q, br_codes[q]);
            } else {
              const uint8_t* bp = w.packed + (j * br + r) * bpr;
              for (int64_t q = 0; q < qn; ++q)
                f(k0 + q, (q & 1) ? int4_hi_signed(bp[q >> 1]) : int4_lo_signed(bp[q >> 1]));
            }
          }
        });
      } else {
        const int8_t* vr = w.codes + o * kept;
        const uint8_t* ir = w.packed + o * irb;
        v = dot_row(xr, x.zero_point, sx, w, o, [&](auto f) {
          for (int64_t j = 0; j < kept; ++j)
            f((j / w.nm_n) * w.nm_m + nm_get_index(ir, j, bits), vr[j]);
        });
      }
      y[i * w.n + o] = bias ? v + bias[o] : v;
    }
  }
}

}  // namespace

void qu8_qs8w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<uint8_t, QWeightKind::kInt8>(m, x, w, b, y);
}
void qu8_qs4w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<uint8_t, QWeightKind::kInt4>(m, x, w, b, y);
}
void qu8_qs8nmw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<uint8_t, QWeightKind::kNM>(m, x, w, b, y);
}
void qs8_qs8w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<int8_t, QWeightKind::kInt8>(m, x, w, b, y);
}
void qs8_qs4w_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<int8_t, QWeightKind::kInt4>(m, x, w, b, y);
}
void qs8_qs8nmw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<int8_t, QWeightKind::kNM>(m, x, w, b, y);
}

void qu8_qs8bsw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<uint8_t, QWeightKind::kBSInt8>(m, x, w, b, y);
}
void qu8_qs4bsw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<uint8_t, QWeightKind::kBSInt4>(m, x, w, b, y);
}
void qs8_qs8bsw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<int8_t, QWeightKind::kBSInt8>(m, x, w, b, y);
}
void qs8_qs4bsw_gemm_f32_ref(int64_t m, const QActs& x, const QWeights& w, const float* b, float* y) {
  qgemm<int8_t, QWeightKind::kBSInt4>(m, x, w, b, y);
}

void f32_gemm_ref(int64_t m, int64_t n, int64_t k, const float* x, const float* w, const float* bias, float* y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t o = 0; o < n; ++o) {
      const float* xr = x + i * k;
      const float* wr = w + o * k;
      float acc = 0.0f;
      for (int64_t kk = 0; kk < k; ++kk) acc += xr[kk] * wr[kk];
      y[i * n + o] = bias ? acc + bias[o] : acc;
    }
}

}  // namespace qf::kernels
