// The `cuda` table's quantized GEMMs: int8, int4 and N:M (int8 kept values + indices) weights,
// per channel or per group, times
// qu8 / qs8 activation codes, bit-identical to the reference kernels (kernels.h, QGemmFn).
//
// Three kernels, one contract:
//  * at M <= 8, 4-bit weights whose K is a multiple of 32 (groups of 32, 64 or 128, or per
//    channel): the decode GEMVs of q4_gemv_exact.cu (int4; int8 storage of 4-bit codes, packed
//    as nibbles at load, llama.cpp's Q4_0 blocks included; 2:4 with 4-bit kept codes);
//  * a warp per output (any shape: M = 1 decode steps, odd K and N, int4 nibbles): lanes split
//    K, the int32 partial sums are reduced by shuffles (exact in any order), and the float
//    epilogue is the reference's operation for operation (per group: a flush per group in
//    increasing g; the library is built with -fmad=false);
//  * at M > kW8MinM, the tensor-core W8A8 kernel of w8a8_gemm.cu, whose fused epilogue is the
//    same contract (its test checks it bit for bit), when its layout applies (per channel, or
//    groups of a multiple of 64; K a multiple of 16): int8 weights as they are, int4 and N:M
//    weights decoded to the same int8 integers at load.
// prepare_qweights uploads each weight once at load (the executor keeps it in QWeights::prepared);
// the kernels read only the prepared copy.
#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/device_bytes.h"
#include "runtime/kernels/cuda/cuda_table_kernels.h"
#include "runtime/kernels/cuda/launch_util.cuh"
#include "runtime/kernels/cuda/q4_gemv_exact.h"

namespace qf::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int64_t kW8MinM = 8;


struct CudaQWeights : kernels::PreparedQWeights {
  kernels::QWeightKind kind = kernels::QWeightKind::kInt8;
  int64_t n = 0, k = 0, ldw = 0, groups = 1, group_size = 0;  // ldw: bytes per weight row
  DeviceBytes codes, scales;           // codes: int8 [N, ldw] or int4 [N, ldw = ceil(K/2)]
  // The weight as dense int8 codes for the tensor-core W8A8 kernel (M > kW8MinM), where its layout
  // applies: int8 weights as they are; int4 and N:M weights decoded to the same integers (the
  // int32 sums and the epilogue are the contract's either way, so the result is the same bits;
  // it costs an int8 copy of the weight on the device next to the packed one the warp kernel
  // streams at small M).
  std::unique_ptr<W8Device> w8;
  // int8 weights whose codes all fit 4 bits (llama.cpp's Q4_0 blocks are stored so): the same
  // codes as int4 nibbles [N, K/2], for the decode GEMV (q4_gemv_exact.cu) at M <= 8. Null when
  // some code does not fit or the GEMV's shape rules (K % 32 == 0, ...) exclude the weight.
  DeviceBytes nibbles;
  // 2:4 weights whose kept codes fit 4 bits: their values as the 2:4 GEMV reads them
  // (q4_gemv_exact.h, Sparse24Nibbles; the indices are nm_index as they are). Null otherwise.
  DeviceBytes s24_vals;
  // The scales those two GEMVs read (fit_nibbles may negate a group's codes and its scale).
  DeviceBytes nibble_scales;
  DeviceBytes nm_index;                // N:M: the 2-bit (M <= 4) / 1- / 4-bit indices [N, ldi]
  int64_t ldi = 0;
  int nm_n = 0, nm_m = 0;
  // What the warp kernel reads: int8 rows of the tensor-core layout when there is one (the same
  // codes, rows padded to kpad), else the checkpoint's storage (int8 rows, int4 nibbles, N:M).
  const void* row_codes() const { return kind == kernels::QWeightKind::kInt8 && w8 ? w8->codes : codes.p; }
};

enum class Store { kInt8, kInt4, kNM };

// int8 codes as signed nibbles for the 4-bit GEMVs: each group of `per_group` codes (a whole row
// per channel) must lie in [-8, 7], or in [-7, 8] and is then stored negated with its scale
// negated -- llama.cpp's Q4_0 blocks stored with positive scales are either (core/ggml_blocks.h).
// The contract's products are unchanged bit for bit: float(-a) * -s == float(a) * s, and per
// channel sx * -s == -(sx * s). False when a group fits neither (codes and scales then undefined).
bool fit_nibbles(std::vector<int8_t>& codes, std::vector<float>& scales, int64_t per_group) {
  for (size_t g = 0; g < scales.size(); ++g) {
    int8_t* c = codes.data() + g * per_group;
    const auto [lo, hi] = std::minmax_element(c, c + per_group);
    if (*lo >= -8 && *hi <= 7) continue;
    if (*lo < -7 || *hi > 8) return false;
    for (int64_t i = 0; i < per_group; ++i) c[i] = static_cast<int8_t>(-c[i]);
    scales[g] = -scales[g];
  }
  return true;
}

// N:M weights: kept value j of a row sits at k = (j / nm_n) * nm_m + index j (core/nm_sparse.h).
struct NMIndex {
  const uint8_t* index = nullptr;
  int64_t ldi = 0;
  int n = 0, m = 0, bits = 0;
};

template <class XT, Store STORE, bool PER_GROUP>
__global__ void qgemm_warp_kernel(int64_t m, const XT* __restrict__ x, int32_t zx, const float* __restrict__ sx,
                                  int64_t sx_stride, const void* __restrict__ wcodes, int64_t ldw,
                                  const float* __restrict__ sw, int64_t n, int64_t k, int64_t groups, int64_t gs,
                                  NMIndex nm, const float* __restrict__ bias, float* __restrict__ y) {
  // Waits for the previous kernel, but lets the next one start only when this one ends: with the
  // early trigger of pdl_entry(), back-to-back int4 calls at K = 11,008, M = 1 took 68.7 us instead
  // of 53.1 (cuda_bs_bench's dense peer, H100, docs/RESULTS.md). Our reading, not measured
  // further: the next call's blocks fit beside this one's and wait on the same SMs, taking issue
  // slots from a kernel bound by its nibble decoding.
  detail::pdl_wait();
  constexpr bool INT4 = STORE == Store::kInt4, NM = STORE == Store::kNM;
  const int lane = threadIdx.x & 31;
  const int64_t o = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5);
  if (o >= n) return;  // whole warps leave together
  const int8_t* w8 = static_cast<const int8_t*>(wcodes) + o * ldw;
  const uint8_t* w4 = static_cast<const uint8_t*>(wcodes) + o * ldw;
  auto code = [&](int64_t kk) -> int32_t {
    if constexpr (INT4) {
      const uint8_t b = w4[kk >> 1];
      return (kk & 1) ? int4_hi_signed(b) : int4_lo_signed(b);
    } else {
      return w8[kk];
    }
  };
  const uint8_t* ir = NM ? nm.index + o * nm.ldi : nullptr;
  auto nm_k = [&](int64_t j) -> int64_t {
    const int64_t bit = j * nm.bits;
    return (j / nm.n) * nm.m + ((ir[bit >> 3] >> (bit & 7)) & ((1 << nm.bits) - 1));
  };
  // Kept values per group (N:M groups hold whole M-blocks: prepare checks gs % M == 0).
  const int64_t per = NM ? ldw : k, gper = NM ? gs / nm.m * nm.n : gs;
  auto warp_sum = [](int32_t a) {
#pragma unroll
    for (int s = 16; s > 0; s >>= 1) a += __shfl_xor_sync(0xffffffffu, a, s);
    return a;
  };
  for (int64_t i = blockIdx.y; i < m; i += gridDim.y) {
    const XT* xr = x + i * k;
    const float sxi = sx[i * sx_stride];
    float v;
    if constexpr (!PER_GROUP) {
      int32_t acc = 0;
      for (int64_t kk = lane; kk < per; kk += 32)
        acc += NM ? (static_cast<int32_t>(xr[nm_k(kk)]) - zx) * w8[kk] : (static_cast<int32_t>(xr[kk]) - zx) * code(kk);
      acc = warp_sum(acc);
      v = __fmul_rn(__int2float_rn(acc), __fmul_rn(sxi, sw[o]));
    } else {
      const float* swo = sw + o * groups;
      float total = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t acc = 0;
        for (int64_t kk = g * gper + lane; kk < (g + 1) * gper; kk += 32)
          acc += NM ? (static_cast<int32_t>(xr[nm_k(kk)]) - zx) * w8[kk] : (static_cast<int32_t>(xr[kk]) - zx) * code(kk);
        acc = warp_sum(acc);
        total = __fadd_rn(total, __fmul_rn(__int2float_rn(acc), swo[g]));
      }
      v = __fmul_rn(sxi, total);
    }
    if (lane == 0) y[i * n + o] = bias ? __fadd_rn(v, bias[o]) : v;
  }
}

const CudaQWeights& prepared_of(const kernels::QWeights& w, kernels::QWeightKind kind) {
  const auto* p = dynamic_cast<const CudaQWeights*>(w.prepared);
  if (!p || p->kind != kind || p->n != w.n || p->k != w.k)
    throw Error("cuda qgemm: the weight was not prepared by the cuda table (prepare_qweights uploads it; a "
                "rows_slice must be prepared itself)");
  return *p;
}

template <class XT, Store STORE>
void qgemm(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* bias, float* y) {
  if (m <= 0 || w.n <= 0) return;
  constexpr kernels::QWeightKind kKind = STORE == Store::kInt4 ? kernels::QWeightKind::kInt4
                                         : STORE == Store::kNM ? kernels::QWeightKind::kNM
                                                               : kernels::QWeightKind::kInt8;
  const CudaQWeights& p = prepared_of(w, kKind);
  constexpr bool kUnsigned = std::is_same<XT, uint8_t>::value;
  if (p.w8 && m > kW8MinM && reinterpret_cast<uintptr_t>(x.codes) % 16 == 0) {
    W8Acts a;
    a.codes = x.codes;
    a.ldx = p.k;
    a.is_unsigned = kUnsigned;
    a.zero_point = x.zero_point;
    a.scales = x.scales;
    a.per_row = x.scale_stride == 1;
    W8Epilogue e;
    e.bias = bias;
    e.y = y;
    w8a8_gemm(*p.w8, m, a, e);
    return;
  }
  const int32_t zx = kUnsigned ? x.zero_point : 0;
  const float* sw = static_cast<const float*>(p.scales.p);
  const auto* nsw = static_cast<const float*>(p.nibble_scales.p);
  if (STORE == Store::kInt4 &&
      q4_gemv_exact(m, x.codes, kUnsigned, zx, x.scales, x.scale_stride, static_cast<const uint8_t*>(p.codes.p), sw,
                    w.n, w.k, p.group_size, bias, y))
    return;
  if (p.nibbles.p && q4_gemv_exact(m, x.codes, kUnsigned, zx, x.scales, x.scale_stride,
                                   static_cast<const uint8_t*>(p.nibbles.p), nsw, w.n, w.k, p.group_size, bias, y))
    return;
  if (p.s24_vals.p &&
      q4s24_gemv_exact(m, x.codes, kUnsigned, zx, x.scales, x.scale_stride,
                       {static_cast<const uint8_t*>(p.s24_vals.p), static_cast<const uint8_t*>(p.nm_index.p)}, nsw,
                       w.n, w.k, p.group_size, bias, y))
    return;
  const dim3 grid(static_cast<unsigned>((w.n + kWarpsPerBlock - 1) / kWarpsPerBlock),
                  static_cast<unsigned>(m < 65535 ? m : 65535));
  const auto* xc = static_cast<const XT*>(x.codes);
  const NMIndex nm{static_cast<const uint8_t*>(p.nm_index.p), p.ldi, p.nm_n, p.nm_m, p.nm_m ? nm_index_bits(p.nm_m) : 0};
  if (p.group_size > 0)
    detail::launch_kernel(qgemm_warp_kernel<XT, STORE, true>, grid, dim3(kWarpsPerBlock * 32), 0, nullptr, m, xc, zx,
                          x.scales, x.scale_stride, p.row_codes(), p.ldw, sw, w.n, w.k, p.groups, p.group_size, nm,
                          bias, y);
  else
    detail::launch_kernel(qgemm_warp_kernel<XT, STORE, false>, grid, dim3(kWarpsPerBlock * 32), 0, nullptr, m, xc, zx,
                          x.scales, x.scale_stride, p.row_codes(), p.ldw, sw, w.n, w.k, 1, 0, nm, bias, y);
  detail::check_launch("qgemm");
}

}  // namespace

std::unique_ptr<kernels::PreparedQWeights> prepare_qweights__cuda(const kernels::QWeights& w) {
  using kernels::QWeightKind;
  if (kernels::is_block_sparse(w.kind)) return prepare_block_sparse__cuda(w);  // block_sparse_gemm.cu
  if (w.kind != QWeightKind::kInt8 && w.kind != QWeightKind::kInt4 && w.kind != QWeightKind::kNM)
    return nullptr;  // no cuda GEMM: refused at load
  if (w.n <= 0 || w.k <= 0) throw Error("cuda prepare_qweights: empty weight");
  auto p = std::make_unique<CudaQWeights>();
  p->kind = w.kind;
  p->n = w.n;
  p->k = w.k;
  p->group_size = w.per_group ? w.group_size : 0;
  if (w.per_group && (w.group_size <= 0 || w.k % w.group_size != 0))
    throw Error("cuda prepare_qweights: group size " + std::to_string(w.group_size) + " does not divide K = " +
                std::to_string(w.k));
  p->groups = w.per_group ? w.k / w.group_size : 1;
  p->scales = DeviceBytes(w.scales, w.n * p->groups * static_cast<int64_t>(sizeof(float)));
  if (w.kind == QWeightKind::kNM) {
    if (w.nm_n <= 0 || w.nm_m <= 0 || w.nm_m > 16 || w.k % w.nm_m != 0)
      throw Error("cuda prepare_qweights: N:M pattern " + std::to_string(w.nm_n) + ":" + std::to_string(w.nm_m) +
                  " does not tile K = " + std::to_string(w.k));
    if (p->group_size > 0 && p->group_size % w.nm_m != 0)
      throw Error("cuda prepare_qweights: N:M groups of " + std::to_string(p->group_size) +
                  " must hold whole blocks of M = " + std::to_string(w.nm_m));
    p->nm_n = w.nm_n;
    p->nm_m = w.nm_m;
    p->ldw = nm_kept_per_row(w.k, w.nm_n, w.nm_m);  // kept int8 values per row
    p->ldi = nm_index_row_bytes(w.k, w.nm_n, w.nm_m);
    p->codes = DeviceBytes(w.codes, w.n * p->ldw);
    p->nm_index = DeviceBytes(w.packed, w.n * p->ldi);
    if (w.nm_n == 2 && w.nm_m == 4 && w.k % 32 == 0) {
      std::vector<int8_t> kept(w.codes, w.codes + w.n * p->ldw);
      std::vector<float> sc(w.scales, w.scales + w.n * p->groups);
      if (fit_nibbles(kept, sc, p->ldw / p->groups)) {
        const std::vector<uint8_t> vals = sparse24_nibbles(kept.data(), w.n, w.k);
        p->s24_vals = DeviceBytes(vals.data(), static_cast<int64_t>(vals.size()));
        p->nibble_scales = DeviceBytes(sc.data(), static_cast<int64_t>(sc.size() * sizeof(float)));
      }
    }
  } else if (w.kind == QWeightKind::kInt4) {
    p->ldw = int4_row_bytes(w.k);
    p->codes = DeviceBytes(w.packed, w.n * p->ldw);
  } else if (w.k % 16 == 0 && (p->group_size == 0 || p->group_size % 64 == 0)) {
    // The tensor-core kernel's layout ([N, kpad], zero padded) serves the warp kernel too.
    const W8Prepared w8 = w8_prepare(w.codes, w.scales, w.n, w.k, p->group_size);
    p->w8 = std::make_unique<W8Device>(w8);
    p->ldw = w8.kpad;
  } else {
    p->ldw = w.k;
    p->codes = DeviceBytes(w.codes, w.n * w.k);
  }
  if (w.kind == QWeightKind::kInt8 && w.k % 32 == 0) {
    std::vector<int8_t> codes(w.codes, w.codes + w.n * w.k);
    std::vector<float> sc(w.scales, w.scales + w.n * p->groups);
    if (fit_nibbles(codes, sc, w.k / p->groups)) {
      std::vector<uint8_t> packed(codes.size() / 2);  // K even: rows stay whole bytes
      for (size_t j = 0; j < packed.size(); ++j) packed[j] = pack_int4x2(codes[2 * j], codes[2 * j + 1]);
      p->nibbles = DeviceBytes(packed.data(), static_cast<int64_t>(packed.size()));
      p->nibble_scales = DeviceBytes(sc.data(), static_cast<int64_t>(sc.size() * sizeof(float)));
    }
  }
  if (w.kind != QWeightKind::kInt8 && w.k % 16 == 0 && (p->group_size == 0 || p->group_size % 64 == 0)) {
    std::vector<int8_t> dense(static_cast<size_t>(w.n * w.k), 0);
    std::vector<uint8_t> hit(w.kind == QWeightKind::kNM ? dense.size() : 0, 0);
    bool exact = true;  // N:M rows whose indices repeat within a block are not one dense int8 row
    for (int64_t r = 0; r < w.n && exact; ++r) {
      int8_t* d = dense.data() + r * w.k;
      if (w.kind == QWeightKind::kInt4) {
        const uint8_t* row = w.packed + r * p->ldw;
        for (int64_t k = 0; k < w.k; ++k)
          d[k] = static_cast<int8_t>((k & 1) ? int4_hi_signed(row[k >> 1]) : int4_lo_signed(row[k >> 1]));
      } else {  // N:M: kept value j at (j / N) * M + index j
        const int8_t* vals = w.codes + r * p->ldw;
        const uint8_t* idx = w.packed + r * p->ldi;
        const int bits = nm_index_bits(w.nm_m);
        for (int64_t j = 0; j < p->ldw; ++j) {
          const int64_t k = (j / w.nm_n) * w.nm_m + nm_get_index(idx, j, bits);
          exact = exact && !hit[static_cast<size_t>(r * w.k + k)];
          hit[static_cast<size_t>(r * w.k + k)] = 1;
          d[k] = vals[j];
        }
      }
    }
    if (exact) p->w8 = std::make_unique<W8Device>(w8_prepare(dense.data(), w.scales, w.n, w.k, p->group_size));
  }
  return p;
}

void qu8_qs8w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b, float* y) {
  qgemm<uint8_t, Store::kInt8>(m, x, w, b, y);
}
void qs8_qs8w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b, float* y) {
  qgemm<int8_t, Store::kInt8>(m, x, w, b, y);
}
void qu8_qs4w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b, float* y) {
  qgemm<uint8_t, Store::kInt4>(m, x, w, b, y);
}
void qs8_qs4w_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b, float* y) {
  qgemm<int8_t, Store::kInt4>(m, x, w, b, y);
}

void qu8_qs8nmw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b,
                               float* y) {
  qgemm<uint8_t, Store::kNM>(m, x, w, b, y);
}
void qs8_qs8nmw_gemm_f32__cuda(int64_t m, const kernels::QActs& x, const kernels::QWeights& w, const float* b,
                               float* y) {
  qgemm<int8_t, Store::kNM>(m, x, w, b, y);
}

}  // namespace qf::cuda
