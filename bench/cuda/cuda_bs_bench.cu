// cuda_bs_bench: the `cuda` table's block-sparse GEMMs (qgemm[qu8][kBSInt8 | kBSInt4], 32x32
// blocks) against the same table's dense GEMM of the same precision (qgemm[qu8][kInt8 | kInt4]),
// with cuBLAS FP16 (fp16 in / out, fp32 accumulate) for reference, in one process.
//
// Operands as in bench/gemm_bench --block-ratio (the CPU's ratio table): random codes, exactly
// round(keep * blocks) blocks kept (a uniformly random subset, so block rows keep unequal
// numbers of blocks, as trained masks do), qu8 activations (zero point 128, per-tensor scale),
// per-channel weight scales, bias, float output. Every weight is prepared by the table exactly as
// the executor does (prepare_qweights), in enough copies that one rotation touches more than 3x
// the L2 cache (at most 64 copies), so no weight is timed out of L2. Time per call: CUDA events
// around 50 back-to-back calls, median of 7 repeats, after 3 warm-up calls (.library METHOD.md).
// Before timing, the 70% weights' outputs at every M timed are compared with the ref table bit for
// bit, for each kernel and launch shape timed (the big shapes' step lists are longer than the
// tests'). At M <= 8 the table picks the dp4a GEMV (block_sparse_gemv.h), on Hopper at
// M >= kBSWgmmaDefaultMinM the wgmma kernel (block_sparse_wgmma.h); the mma kernel is timed beside
// them on the same weights (the columns "mma kernel"), and at M >= 16 the wgmma kernel forced
// (the columns "wgmma").
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/block_sparse.h"
#include "core/int4_pack.h"
#include "bench/cuda/bench_util.cuh"
#include "runtime/kernels/cuda/block_sparse_gemm.h"
#include "runtime/kernels/cuda/block_sparse_gemv.h"
#include "runtime/kernels/cuda/block_sparse_wgmma.h"
#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/cuda_table.h"

using namespace qf;
using namespace qf::cuda;
using kernels::QActs;
using kernels::QWeightKind;
using kernels::QWeights;

namespace {

// The harness's floor: an empty kernel launched like the GEMV (128 CTAs of 512 threads).
__global__ void empty_kernel(float* y) {
  if (y && threadIdx.x == 1024) y[0] = 0.0f;  // never taken: keeps the launch from being elided
}


// A host weight: dense (keep = 1 with dense kind) or block-sparse 32x32, like gemm_bench's.
struct HostWeight {
  QWeights q;
  std::vector<int8_t> codes;
  std::vector<uint8_t> packed;
  std::vector<int32_t> row_ptr, col;
  std::vector<float> scales;
  int64_t bytes = 0;  // what one call streams (the format's bytes; the prepared copy may differ)
};

HostWeight make_weight(int bits, int64_t n, int64_t k, double keep, bool dense_kind, std::mt19937_64& rng) {
  HostWeight w;
  const int qmax = bits <= 4 ? 7 : 127;
  std::vector<int8_t> dense(static_cast<size_t>(n * k));
  for (auto& v : dense) v = static_cast<int8_t>(static_cast<int>(rng() % (2 * qmax + 1)) - qmax);
  const int br = 32, bc = 32;
  const int64_t nbr = block_count(n, br), nbc = block_count(k, bc);
  std::vector<int64_t> order(static_cast<size_t>(nbr * nbc));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::shuffle(order.begin(), order.end(), rng);
  const auto kept = static_cast<size_t>(std::llround(keep * static_cast<double>(order.size())));
  for (size_t i = kept; i < order.size(); ++i) {
    const int64_t R = order[i] / nbc, C = order[i] % nbc;
    for (int64_t r = R * br; r < std::min(n, R * br + br); ++r)
      std::memset(dense.data() + r * k + C * bc, 0, static_cast<size_t>(std::min<int64_t>(bc, k - C * bc)));
  }
  if (dense_kind) {
    w.q.kind = bits <= 4 ? QWeightKind::kInt4 : QWeightKind::kInt8;
    if (bits <= 4) {
      const std::vector<int32_t> c32(dense.begin(), dense.end());
      w.packed = pack_int4_rows(c32.data(), n, k);
    } else {
      w.codes = dense;
    }
  } else {
    const BlockCompressed c = block_compress(dense.data(), n, k, BlockShape{br, bc});
    w.row_ptr.assign(c.row_ptr.begin(), c.row_ptr.end());
    w.col.assign(c.col.begin(), c.col.end());
    w.q.kind = bits <= 4 ? QWeightKind::kBSInt4 : QWeightKind::kBSInt8;
    if (bits <= 4) {
      const std::vector<int32_t> b32(c.blocks.begin(), c.blocks.end());
      w.packed = pack_int4_rows(b32.data(), c.nnzb() * br, bc);
    } else {
      w.codes = c.blocks;
    }
    w.q.bs_rows = br;
    w.q.bs_cols = bc;
    w.q.block_row_ptr = w.row_ptr.data();
    w.q.block_col = w.col.data();
  }
  w.bytes = static_cast<int64_t>(w.codes.size() + w.packed.size());
  w.q.n = n;
  w.q.k = k;
  w.q.codes = w.codes.data();
  w.q.packed = w.packed.data();
  w.scales.resize(static_cast<size_t>(n));
  for (auto& s : w.scales) s = 0.001f + static_cast<float>(rng() % 9000) * 1e-6f;
  w.q.scales = w.scales.data();
  return w;
}

// The table-prepared copies of one weight, rotated by the timer.
struct Prepared {
  std::vector<std::unique_ptr<kernels::PreparedQWeights>> p;
  std::vector<QWeights> q;
};
Prepared prepare_copies(const HostWeight& w, int copies) {
  Prepared r;
  for (int i = 0; i < copies; ++i) {
    r.p.push_back(cuda_kernel_table().prepare_qweights(w.q));
    QWeights q = w.q;
    q.prepared = r.p.back().get();
    r.q.push_back(q);
  }
  return r;
}

// A kernel and its launch knobs (block_sparse_gemm.h's BSConfig, block_sparse_gemv.h's
// BSGemvConfig), as the checks and the sweep set them.
struct KernelChoice {
  std::string name;
  BSConfig bs;
  BSGemvConfig gemv;
  void set() const {
    set_bs_config(bs);
    set_bs_gemv_config(gemv);
  }
};
void reset_knobs() {
  set_bs_config(BSConfig{});
  set_bs_gemv_config(BSGemvConfig{});
}
// What the checks compare with the ref table at M: the mma kernel with one and eight warps on the
// steps, at M <= 8 the GEMV with 16 and 8 warps (where it applies; else the mma kernel again), at
// M >= 16 the wgmma kernel with 64 and 128 rows per CTA (where it runs).
std::vector<KernelChoice> choices(int64_t m) {
  std::vector<KernelChoice> v = {{"mma wk 1", BSConfig{1, 0, -1, -1}, {}}, {"mma wk 8", BSConfig{8, 0, -1, -1}, {}}};
  if (m <= kBSGemvMaxM)
    for (int w : {16, 8}) v.push_back({"gemv w " + std::to_string(w), BSConfig{0, 0, 1, -1}, BSGemvConfig{w}});
  if (m >= 16 && bs_wgmma_available())
    for (int bm : {64, 128}) v.push_back({"wgmma bm " + std::to_string(bm), BSConfig{0, 0, -1, 1, bm}, {}});
  return v;
}
// The sweep at M: the mma kernel's launch shapes, and at M <= 8 the GEMV's.
std::vector<KernelChoice> sweep_choices(int64_t m) {
  std::vector<KernelChoice> v;
  const std::vector<std::pair<int, int>> mk =
      m <= 16 ? std::vector<std::pair<int, int>>{{1, 2}, {1, 4}, {1, 8}, {1, 16}}
              : std::vector<std::pair<int, int>>{{1, 8}, {1, 16}, {2, 4}, {2, 8}, {4, 2}, {4, 4}};
  for (auto [wm, wk] : mk)
    v.push_back({"wm " + std::to_string(wm) + ", wk " + std::to_string(wk), BSConfig{wk, wm, -1, -1}, {}});
  if (m <= kBSGemvMaxM)
    for (int w : {4, 8, 16}) v.push_back({"gemv, w " + std::to_string(w), BSConfig{0, 0, 1, -1}, BSGemvConfig{w}});
  if (m >= 16 && bs_wgmma_available())
    for (int bm : {64, 128}) v.push_back({"wgmma, bm " + std::to_string(bm), BSConfig{0, 0, -1, 1, bm}, {}});
  return v;
}

struct Row {
  int64_t n, k, m;
  int bits;
  double dense, bs100, bs50, bs70, cublas;
  int64_t dense_bytes, bs50_bytes, bs70_bytes;
  double mma50 = -1, mma70 = -1;  // the mma kernel, forced (at M <= 8 and where the table picks wgmma)
  double wg50 = -1, wg70 = -1;    // the wgmma kernel, forced (M >= 16, Hopper)
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> ms = {1, 4, 8, 16, 64, 128};
  bool profile = false, profile128 = false;
  std::vector<std::pair<int64_t, int64_t>> shapes = {{4096, 4096}, {4096, 11008}};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf(
          "usage: cuda_bs_bench [--quick] [--target] [--profile | --profile128]\n"
          "Times the cuda table's block-sparse GEMMs (32x32 blocks, 50%% and 70%% of the blocks pruned, and\n"
          "every block kept) against its dense GEMM of the same precision (int8, int4) and cuBLAS FP16, for\n"
          "(N, K) in {(4096,4096), (4096,11008)} and M in {1,4,8,16,64,128}; qu8 activations, per-channel\n"
          "scales, bias. Prints a markdown table (us per call, L2 defeated by rotating weight copies; at M <= 8\n"
          "the GEMV the table picks and the mma kernel beside it) and a sweep of the launch shapes.\n"
          "--quick: 4096x4096 only. --profile: 4096x4096, 70%% pruned, M = 1 and 16, int8 and int4, each\n"
          "block-sparse GEMM run once untimed, beside an empty kernel and the dense int4 GEMM at M = 1 (for ncu).\n"
          "--target: M in {1, 16, 128} only (issue 22's cases). --profile128: 4096x4096 int8 at M = 128, the dense\n"
          "GEMM, the wgmma and the mma block-sparse kernels (70%% pruned) run once each, untimed (for ncu).\n");
      return 0;
    }
    if (!std::strcmp(argv[i], "--quick")) shapes = {{4096, 4096}};
    if (!std::strcmp(argv[i], "--profile")) profile = true;
    if (!std::strcmp(argv[i], "--profile128")) profile = profile128 = true;
    if (!std::strcmp(argv[i], "--target")) ms = {1, 16, 128};
  }
  std::string why;
  if (!device_available(&why)) {
    std::printf("no CUDA GPU (%s): nothing to time\n", why.c_str());
    return 0;
  }
  const int64_t l2 = describe_device();
  cublasHandle_t h;
  CUBLAS_CHECK(cublasCreate(&h));
  {  // the memory ceiling: device-to-device copy, bytes read + written
    const int64_t bytes = int64_t(1) << 30;
    void *a = device_alloc(bytes), *b = device_alloc(bytes);
    QF_CUDA_CHECK(cudaMemset(a, 1, bytes));
    const double us = time_us([&](int) { QF_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); }, 1, 10, 5);
    std::printf("copy bandwidth: %.0f GB/s (1 GiB device-to-device, read + write)\n", 2.0 * bytes / us / 1e3);
    device_free(a);
    device_free(b);
  }
  if (!profile) {  // (under --profile each of these launches would be profiled)
    float* dummy = static_cast<float*>(device_alloc(4));
    const double us = time_us([&](int) { empty_kernel<<<128, 512>>>(dummy); }, 1);
    const double us1 = time_us([&](int) { empty_kernel<<<1, 32>>>(dummy); }, 1);
    std::printf("launch floor: an empty kernel, launched back to back as the GEMMs are: %.2f us per call at 128 x 512 "
                "threads, %.2f us at 1 x 32\n", us, us1);
    device_free(dummy);
  }
  const kernels::KernelTable& cu = cuda_kernel_table();
  const kernels::KernelTable& ref = kernels::ref_kernel_table();
  std::mt19937_64 rng(4321);
  if (profile128) {
    const int64_t n = 4096, k = 4096, m = 128;
    std::vector<uint8_t> xh(static_cast<size_t>(m * k));
    for (auto& v : xh) v = static_cast<uint8_t>(rng() & 0xFF);
    const float sxh = 0.02f;
    void* x = device_alloc(m * k);
    copy_to_device(x, xh.data(), m * k);
    float* sx = static_cast<float*>(device_alloc(4));
    copy_to_device(sx, &sxh, 4);
    float* y = static_cast<float*>(device_alloc(m * n * 4));
    const QActs xa{x, 128, sx, 0};
    HostWeight wd = make_weight(8, n, k, 1.0, true, rng), w70 = make_weight(8, n, k, 0.3, false, rng);
    Prepared pd = prepare_copies(wd, 1), p70 = prepare_copies(w70, 1);
    cu.qgemm[0][0](m, xa, pd.q[0], nullptr, y);
    set_bs_config(BSConfig{0, 0, -1, 1, 128});
    cu.qgemm[0][3](m, xa, p70.q[0], nullptr, y);
    set_bs_config(BSConfig{0, 0, -1, -1});
    cu.qgemm[0][3](m, xa, p70.q[0], nullptr, y);
    reset_knobs();
    device_sync();
    std::printf("profile128: ran dense int8, block-sparse int8 70%% wgmma and mma kernels at M = 128 once each\n");
    return 0;
  }
  if (profile) {
    const int64_t n = 4096, k = 4096;
    std::vector<uint8_t> xh(static_cast<size_t>(16 * k), 77);
    const float sxh = 0.02f;
    void* x = device_alloc(16 * k);
    copy_to_device(x, xh.data(), 16 * k);
    float* sx = static_cast<float*>(device_alloc(4));
    copy_to_device(sx, &sxh, 4);
    float* y = static_cast<float*>(device_alloc(16 * n * 4));
    const QActs xa{x, 128, sx, 0};
    empty_kernel<<<128, 512>>>(y);  // the floor of a kernel's duration
    {  // the dense int4 peer at M = 1
      HostWeight w = make_weight(4, n, k, 1.0, true, rng);
      Prepared p = prepare_copies(w, 1);
      cu.qgemm[0][1](1, xa, p.q[0], nullptr, y);
    }
    for (int bits : {8, 4}) {
      HostWeight w = make_weight(bits, n, k, 0.3, false, rng);
      Prepared p = prepare_copies(w, 1);
      for (int64_t m : {int64_t{1}, int64_t{16}}) cu.qgemm[0][bits == 8 ? 3 : 4](m, xa, p.q[0], nullptr, y);
    }
    device_sync();
    std::printf("profile: ran an empty kernel, dense int4 at M = 1, block-sparse int8 / int4 x M = 1 / 16 once each\n");
    return 0;
  }
  std::vector<Row> rows;
  std::vector<std::string> sweep, checks;
  const int64_t mmax = *std::max_element(ms.begin(), ms.end());
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, k = shape.second;
    // Operands shared by every weight of this shape: qu8 codes (zero point 128), a scale, bias.
    std::vector<uint8_t> xh(static_cast<size_t>(mmax * k));
    for (auto& v : xh) v = static_cast<uint8_t>(rng() & 0xFF);
    const float sxh = 0.02f;
    std::vector<float> biash(static_cast<size_t>(n));
    for (auto& b : biash) b = static_cast<float>(rng() % 1000) * 1e-4f - 0.05f;
    void* x = device_alloc(mmax * k);
    copy_to_device(x, xh.data(), mmax * k);
    float* sx = static_cast<float*>(device_alloc(4));
    copy_to_device(sx, &sxh, 4);
    float* bias = static_cast<float*>(device_alloc(n * 4));
    copy_to_device(bias, biash.data(), n * 4);
    float* y = static_cast<float*>(device_alloc(mmax * n * 4));
    const QActs xa{x, 128, sx, 0};
    // cuBLAS FP16 operands, rotated.
    const int c16 = copies_for(n * k * 2, l2);
    std::vector<__half*> w16(c16);
    for (int i = 0; i < c16; ++i) {
      w16[i] = static_cast<__half*>(device_alloc(n * k * 2));
      fill_half<<<1024, 256>>>(w16[i], n * k, 10 + i, 0.05f);
    }
    __half* x16 = static_cast<__half*>(device_alloc(mmax * k * 2));
    __half* y16 = static_cast<__half*>(device_alloc(mmax * n * 2));
    fill_half<<<1024, 256>>>(x16, mmax * k, 5, 0.05f);
    QF_CUDA_CHECK(cudaGetLastError());
    std::vector<double> cublas_us;
    for (int64_t m : ms) {
      const float one = 1.0f, zero = 0.0f;
      cublas_us.push_back(time_us([&](int i) {
        CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w16[i], CUDA_R_16F, k, x16, CUDA_R_16F, k,
                                  &zero, y16, CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      }, c16));
    }
    for (auto* p : w16) device_free(p);
    device_free(x16);
    device_free(y16);

    for (int bits : {8, 4}) {
      std::fprintf(stderr, "N=%ld K=%ld int%d: making and preparing weights\n", long(n), long(k), bits);
      const int kind_dense = bits == 8 ? 0 : 1, kind_bs = bits == 8 ? 3 : 4;
      HostWeight wd = make_weight(bits, n, k, 1.0, true, rng);
      HostWeight w100 = make_weight(bits, n, k, 1.0, false, rng);
      HostWeight w50 = make_weight(bits, n, k, 0.5, false, rng);
      HostWeight w70 = make_weight(bits, n, k, 0.3, false, rng);
      {  // bit-identical to the ref table on this shape (70%, M = 1, 4, 8, 16, each kernel and split)
        Prepared one = prepare_copies(w70, 1);
        for (int64_t m : ms) {
          QActs hx{xh.data(), 128, &sxh, 0};
          std::vector<float> want(static_cast<size_t>(m * n)), got(want.size());
          ref.qgemm[0][kind_bs](m, hx, w70.q, biash.data(), want.data());
          for (const KernelChoice& kc : choices(m)) {
            kc.set();
            cu.qgemm[0][kind_bs](m, xa, one.q[0], bias, y);
            device_sync();
            copy_to_host(got.data(), y, static_cast<int64_t>(got.size() * 4));
            const bool same = std::memcmp(got.data(), want.data(), got.size() * 4) == 0;
            char buf[200];
            std::snprintf(buf, sizeof buf, "N=%ld K=%ld int%d 70%% M=%ld %s: %s", long(n), long(k), bits, long(m),
                          kc.name.c_str(), same ? "bit-identical to the ref table" : "MISMATCH with the ref table");
            checks.push_back(buf);
            std::fprintf(stderr, "%s\n", buf);
          }
          reset_knobs();
        }
      }
      Prepared pd = prepare_copies(wd, copies_for(wd.bytes, l2));
      Prepared p100 = prepare_copies(w100, copies_for(w100.bytes, l2));
      Prepared p50 = prepare_copies(w50, copies_for(w50.bytes, l2));
      Prepared p70 = prepare_copies(w70, copies_for(w70.bytes, l2));
      auto run = [&](int kind, Prepared& P, int64_t m) {
        return time_us([&](int i) { cu.qgemm[0][kind](m, xa, P.q[static_cast<size_t>(i)], bias, y); },
                       static_cast<int>(P.q.size()));
      };
      for (size_t mi = 0; mi < ms.size(); ++mi) {
        const int64_t m = ms[mi];
        Row r{n, k, m, bits, 0, 0, 0, 0, cublas_us[mi], wd.bytes, w50.bytes, w70.bytes};
        r.dense = run(kind_dense, pd, m);
        r.bs100 = run(kind_bs, p100, m);
        r.bs50 = run(kind_bs, p50, m);
        r.bs70 = run(kind_bs, p70, m);
        {  // the mma kernel on the same weights
          set_bs_config(BSConfig{0, 0, -1, -1});
          r.mma50 = run(kind_bs, p50, m);
          r.mma70 = run(kind_bs, p70, m);
          reset_knobs();
        }
        if (m >= 16 && bs_wgmma_available()) {  // the wgmma kernel forced (its rows per CTA by M)
          set_bs_config(BSConfig{0, 0, -1, 1});
          r.wg50 = run(kind_bs, p50, m);
          r.wg70 = run(kind_bs, p70, m);
          reset_knobs();
        }
        std::string line = "N=" + std::to_string(n) + " K=" + std::to_string(k) + " int" + std::to_string(bits) +
                           " M=" + std::to_string(m) + " 70%:";
        for (const KernelChoice& kc : sweep_choices(m)) {
          kc.set();
          char buf[96];
          std::snprintf(buf, sizeof buf, " [%s] %.2f us;", kc.name.c_str(), run(kind_bs, p70, m));
          line += buf;
        }
        reset_knobs();
        sweep.push_back(line);
        std::fprintf(stderr, "N=%ld K=%ld int%d M=%ld: dense %.2f us, bs100 %.2f, bs50 %.2f, bs70 %.2f, cuBLAS %.2f\n",
                     long(n), long(k), bits, long(m), r.dense, r.bs100, r.bs50, r.bs70, r.cublas);
        rows.push_back(r);
      }
    }
    device_free(x);
    device_free(sx);
    device_free(bias);
    device_free(y);
  }
  std::printf("\nChecks against the ref table:\n");
  for (auto& c : checks) std::printf("%s\n", c.c_str());
  std::printf("\nLaunch shapes, 70%% pruned. mma kernel: [wm warps across M, wk warps splitting the steps] (the\n"
              "launcher picks [1, 16] at M <= 16, [1, 8] at M <= 64, [2, 4] above); GEMV (M <= 8 where the\n"
              "activation rows fit 32 KB, the table's choice there; else it falls back to the mma kernel):\n"
              "[gemv, w warps per CTA] (default 16); wgmma kernel (M >= 16, Hopper; the table's choice at M >= %ld):\n"
              "[wgmma, bm rows of M per CTA] (default 64 at M <= 64, else 128):\n", long(kBSWgmmaDefaultMinM));
  for (auto& s : sweep) std::printf("%s\n", s.c_str());
  std::printf(
      "\n| N x K | M | weights | dense us | dense GB/s | all blocks kept us | 50%% pruned us | 50%% / dense | "
      "70%% pruned us | 70%% GB/s | 70%% / dense | 70%% / all kept | cuBLAS FP16 us | 50%% mma kernel us | "
      "70%% mma kernel us | 50%% wgmma us | 70%% wgmma us | 70%% mma / dense | 70%% wgmma / dense |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  auto opt = [](double v) {
    char b[32];
    if (v < 0) return std::string("-");
    std::snprintf(b, sizeof b, "%.2f", v);
    return std::string(b);
  };
  auto ratio = [](double v, double d) {
    char b[32];
    if (v < 0) return std::string("-");
    std::snprintf(b, sizeof b, "%.3f", v / d);
    return std::string(b);
  };
  for (const Row& r : rows)
    std::printf("| %ldx%ld | %ld | int%d | %.2f | %.0f | %.2f | %.2f | %.3f | %.2f | %.0f | %.3f | %.3f | %.2f "
                "| %s | %s | %s | %s | %s | %s |\n",
                long(r.n), long(r.k), long(r.m), r.bits, r.dense, r.dense_bytes / r.dense / 1e3, r.bs100, r.bs50,
                r.bs50 / r.dense, r.bs70, r.bs70_bytes / r.bs70 / 1e3, r.bs70 / r.dense, r.bs70 / r.bs100, r.cublas,
                opt(r.mma50).c_str(), opt(r.mma70).c_str(), opt(r.wg50).c_str(), opt(r.wg70).c_str(),
                ratio(r.mma70, r.dense).c_str(), ratio(r.wg70, r.dense).c_str());
  std::printf("\nGB/s: the format's weight bytes per call / time (dense int4 at M > 8 streams an int8 copy, twice that).\n");
  CUBLAS_CHECK(cublasDestroy(h));
  return 0;
}
