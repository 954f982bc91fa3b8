// Quantized GEMM throughput of the runtime's kernel tables: GOP/s for every (M, N, K) and weight
// format, through the same KernelTable entries the executor calls. Prints a markdown table (or
// JSON lines with --json, which bench/gemm_peers.py --merge turns into one table with PyTorch's).
//
//   gemm_bench --threads 2 [--m 1,16,128,1024] [--shapes 1024x1024,4096x4096,11008x4096]
//              [--budget-s 1] [--max-iters 50] [--max-call-s 4] [--kernels all|ref|...] [--json]
//   gemm_bench --block-ratio --threads 1 --m 1,16,128 --shapes 4096x4096,4096x11008
//              [--sparsities 0.5,0.7] [--block 32x32] [--rounds 9] [--calls 3] [--kernels avx512vnni]
//     block-sparse / dense CPU-time ratios of the same precision, interleaved rounds.
//
// Operands (random, fixed seed): activations uint8 codes with zero point 128 and one scale per
// tensor (qu8, the CNN's static activations); weights symmetric int8 [-127, 127] or int4 [-7, 7]
// codes with one scale per output channel or per group of 128 along K; "2:4" keeps 2 codes of
// every 4 (nm_compress'd int4 codes, kind kNM, per channel). Output float32 with bias: the whole
// contract of FORMAT.md, epilogue included.
//
// GOP/s counts 2*M*N*K operations for every variant, 2:4 included (dense-equivalent work, so a
// 2:4 kernel that skips half the products shows up as faster, as it should).
//
// Time budget: each case runs until --budget-s seconds or --max-iters calls (at least one) and
// reports the median call. A call predicted (from the previous M of the same shape) to take more
// than --max-call-s is timed on a slice of the weight's rows instead -- enough rows for about
// --max-call-s / 2 per call, at least 64 -- and marked "rows=R" (the reference kernels at M = 1024
// would otherwise take minutes per call).
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <ctime>

#include "bench/cpu_time.h"
#include "core/block_sparse.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "runtime/kernels/kernels.h"

#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_kernels.h"  // int4_24_b8: the 2:4 layout with 8-bit kept values

using namespace qf;
using namespace qf::kernels;
using Clock = std::chrono::steady_clock;

namespace {

struct Shape {
  int64_t n, k;
};

// The operands of the ratio tables (--block-ratio, --variant-ratio): random uint8 activation codes
// (zero point 128, scale 0.02) for up to max_m rows, a constant bias, the output buffer, and the
// qu8 GEMM of a table on them.
struct RatioOperands {
  std::vector<uint8_t> xq;
  std::vector<float> bias, y;
  float sx = 0.02f;
  QActs acts;
  RatioOperands(int64_t max_m, const Shape& sh, std::mt19937& rng)
      : xq(static_cast<size_t>(max_m * sh.k)), bias(static_cast<size_t>(sh.n), 0.25f), y(static_cast<size_t>(max_m * sh.n)) {
    for (auto& v : xq) v = static_cast<uint8_t>(rng() & 0xFF);
    acts.codes = xq.data();
    acts.zero_point = 128;
    acts.scales = &sx;
  }
  RatioOperands(const RatioOperands&) = delete;  // acts points into this object
  RatioOperands& operator=(const RatioOperands&) = delete;
  void run(const KernelTable& t, int64_t m, const QWeights& q) {
    t.qgemm[0][static_cast<int>(q.kind)](m, acts, q, bias.data(), y.data());
  }
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

// The kernel tables to measure, distinct by name.
std::vector<const KernelTable*> kernel_tables(const std::string& which) {
  std::vector<const KernelTable*> all = {&select_kernels()};
  for (const KernelTable* t : available_kernel_tables()) all.push_back(t);
  std::vector<const KernelTable*> out;
  for (const KernelTable* t : all) {
    bool dup = false;
    for (const KernelTable* o : out) dup |= std::strcmp(o->name, t->name) == 0;
    if (dup) continue;
    if (which == "all" || which == t->name || (which == "selected" && t == all[0])) out.push_back(t);
  }
  if (out.empty()) throw std::runtime_error("--kernels " + which + ": no such kernel table on this machine");
  return out;
}

// The AVX-512 2:4 packing a variant asks for (int4_24: the default choice, by size), set around
// prepare_qweights; and the packing a prepared weight got, printed so a table says which kernel ran.
void set_sparse24_for(const std::string& name) {
  using x86::PackedFormat;
  x86::set_avx512_sparse24_strategy(name == "int4_24_b8"   ? PackedFormat::kSparse24Gather
                                    : name == "int4_24_c8" ? PackedFormat::kSparse24GatherCtl
                                    : name == "int4_24_c4" ? PackedFormat::kSparse24GatherI4
                                    : name == "int4_24_nc" ? PackedFormat::kSparse24NibbleCtl
                                    : name == "int4_24_ni" ? PackedFormat::kSparse24NibbleIdx
                                    : name == "int4_24_pb" ? PackedFormat::kSparse24PermByte
                                    : name == "int4_24_ns" ? PackedFormat::kSparse24NibbleSlice
                                                           : PackedFormat::kSparse24SlicePerm);  // int4_24_sp*, the default
  x86::set_avx512_sparse24_ctl_max_bytes(name == "int4_24_ni" ? 0 : -1);
  // int4_24_spN: kSparse24SlicePerm prefetching N lines of each chunk (int4_24_sp: the default).
  x86::set_avx512_slice_perm_prefetch_lines(name.rfind("int4_24_sp", 0) == 0 && name.size() > 10 ? std::atoi(name.c_str() + 10) : -1);
}
void reset_sparse24() { set_sparse24_for("int4_24"); }
const char* layout_name(const PreparedQWeights* p) {
  const auto* P = dynamic_cast<const x86::PackedQWeights*>(p);
  if (!P) return "reference";
  switch (P->format) {
    case x86::PackedFormat::kInt8: return "int8";
    case x86::PackedFormat::kInt4Pairs: return "int4_pairs";
    case x86::PackedFormat::kInt4PairsU: return "int4_pairs_u";
    case x86::PackedFormat::kSparse24Expand: return "sp24_expand";
    case x86::PackedFormat::kSparse24Gather: return "sp24_gather";
    case x86::PackedFormat::kSparse24GatherI4: return "sp24_gather_i4";
    case x86::PackedFormat::kSparse24GatherCtl: return "sp24_gather_ctl";
    case x86::PackedFormat::kSparse24NibbleIdx: return "sp24_nibble_idx";
    case x86::PackedFormat::kSparse24NibbleCtl: return "sp24_nibble_ctl";
    case x86::PackedFormat::kSparse24NibbleSlice: return "sp24_nibble_slice";
    case x86::PackedFormat::kSparse24PermByte: return "sp24_perm_byte";
    case x86::PackedFormat::kSparse24SlicePerm: return "sp24_slice_perm";
    case x86::PackedFormat::kBlockInt8: return "block_int8";
    case x86::PackedFormat::kBlockInt4Pairs: return "block_int4_pairs";
  }
  return "?";
}

// One weight variant with its storage (codes, packed nibbles / indices, scales).
struct Weight {
  std::string name;  // int8, int4_g128, int4, int4_24, f32
  QWeights q;
  std::vector<int8_t> codes;
  std::vector<uint8_t> packed;
  std::vector<float> scales, f32;
  bool is_f32 = false;
};

Weight make_weight(const std::string& name, int64_t n, int64_t k, std::mt19937& rng) {
  Weight w;
  w.name = name;
  w.q.n = n;
  w.q.k = k;
  std::uniform_real_distribution<float> sd(0.001f, 0.01f);
  if (name == "f32") {
    w.is_f32 = true;
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    w.f32.resize(static_cast<size_t>(n * k));
    for (auto& v : w.f32) v = d(rng);
    return w;
  }
  const bool int4 = name != "int8";
  const int qmax = int4 ? 7 : 127;
  std::uniform_int_distribution<int> cd(-qmax, qmax);
  std::vector<int32_t> c32(static_cast<size_t>(n * k));
  for (auto& v : c32) v = cd(rng);
  if (name == "int8") {
    w.q.kind = QWeightKind::kInt8;
    w.codes.assign(c32.begin(), c32.end());
    w.q.codes = w.codes.data();
  } else if (name == "int4" || name == "int4_g128") {
    w.q.kind = QWeightKind::kInt4;
    w.packed = pack_int4_rows(c32.data(), n, k);
    w.q.packed = w.packed.data();
  } else if (name == "int4_24" || name == "int4_24_b8" || name == "int4_24_c8" || name == "int4_24_c4" ||
             name == "int4_24_ni" || name == "int4_24_nc" || name == "int4_24_ns" || name == "int4_24_pb" ||
             name.rfind("int4_24_sp", 0) == 0) {
    // Zero 2 of every 4 (random positions), then compress: 2 kept int4 codes + 2-bit indices.
    std::vector<int8_t> dense(c32.begin(), c32.end());
    for (int64_t g = 0; g < n * k; g += 4) {
      int a = static_cast<int>(rng() % 4), b = static_cast<int>(rng() % 3);
      if (b >= a) ++b;
      dense[static_cast<size_t>(g + a)] = 0;
      dense[static_cast<size_t>(g + b)] = 0;
    }
    NMPattern p;
    p.n = 2;
    p.m = 4;
    auto c = nm_compress(dense.data(), n, k, p);
    w.codes = std::move(c.values);
    w.packed = std::move(c.indices);
    w.q.kind = QWeightKind::kNM;
    w.q.codes = w.codes.data();
    w.q.packed = w.packed.data();
    w.q.nm_n = 2;
    w.q.nm_m = 4;
  } else {
    throw std::runtime_error("unknown variant '" + name + "' (int8, int4_g128, int4, int4_24, f32)");
  }
  if (name == "int4_g128") {
    if (k % 128 != 0) throw std::runtime_error("int4_g128 needs K % 128 == 0");
    w.q.per_group = true;
    w.q.group_size = 128;
    w.scales.resize(static_cast<size_t>(n * (k / 128)));
  } else {
    w.scales.resize(static_cast<size_t>(n));
  }
  for (auto& s : w.scales) s = sd(rng);
  w.q.scales = w.scales.data();
  return w;
}

// Rows [0, rows) of a quantized weight as a weight of its own.
QWeights slice_rows(const Weight& w, int64_t rows) { return w.q.rows_slice(0, rows); }

struct Result {
  double gops = 0, ms = 0;
  int64_t iters = 0, rows = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- --block-ratio: block-sparse against dense of the same precision ----

// A block-sparse weight: random codes, then exactly round(keep * blocks) blocks of br x bc kept
// (a uniformly random subset: rows keep unequal numbers of blocks, as trained masks do).
struct BlockWeight {
  QWeights q;
  std::vector<int8_t> codes;
  std::vector<uint8_t> packed;
  std::vector<int32_t> row_ptr, col;
  std::vector<float> scales;
};

BlockWeight make_block_weight(int bits, int64_t n, int64_t k, int br, int bc, double keep, std::mt19937& rng) {
  BlockWeight w;
  const int qmax = bits <= 4 ? 7 : 127;
  std::uniform_int_distribution<int> cd(-qmax, qmax);
  std::vector<int8_t> dense(static_cast<size_t>(n * k));
  for (auto& v : dense) v = static_cast<int8_t>(cd(rng));
  const int64_t nbr = block_count(n, br), nbc = block_count(k, bc);
  std::vector<int64_t> order(static_cast<size_t>(nbr * nbc));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::shuffle(order.begin(), order.end(), rng);
  const auto kept = static_cast<size_t>(std::llround(keep * static_cast<double>(order.size())));
  for (size_t i = kept; i < order.size(); ++i) {
    const int64_t R = order[i] / nbc, C = order[i] % nbc;
    for (int64_t r = R * br; r < std::min(n, R * br + br); ++r)
      for (int64_t c = C * bc; c < std::min(k, C * bc + bc); ++c) dense[static_cast<size_t>(r * k + c)] = 0;
  }
  if (keep >= 1.0) {
    // dense: the plain int8 / int4 kinds
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
  w.q.n = n;
  w.q.k = k;
  w.q.codes = w.codes.data();
  w.q.packed = w.packed.data();
  std::uniform_real_distribution<float> sd(0.001f, 0.01f);
  w.scales.resize(static_cast<size_t>(n));
  for (auto& s : w.scales) s = sd(rng);
  w.q.scales = w.scales.data();
  return w;
}

using qf::bench::cpu_seconds;

// For each shape, M and precision: dense and block-sparse (each sparsity) weights, timed in
// interleaved rounds (every round runs every variant, in a rotated order, `calls` calls each);
// the ratio sparse / dense is taken within each round, reported as the median and the range over
// rounds. CPU time, so that other processes on a shared machine count less than in wall time.
int block_ratio(const KernelTable& t, const std::vector<Shape>& shapes, const std::vector<int64_t>& ms,
                const std::vector<double>& sparsities, int br, int bc, int rounds, int calls) {
  std::printf("kernels %s, threads %d, blocks %dx%d, %d rounds x max(%d, ~30 ms) calls, CPU time per call\n\n",
              t.name, qf::kernels::num_threads(), br, bc, rounds, calls);
  std::printf("| N x K | M | weights | dense ms/call (CPU, median) |");
  for (double s : sparsities) std::printf(" %.0f%% sparse / dense: median [min, max] |", s * 100);
  std::printf("\n| --- | --- | --- | --- |");
  for (size_t i = 0; i < sparsities.size(); ++i) std::printf(" --- |");
  std::printf("\n");
  std::mt19937 rng(4321);
  for (const Shape& sh : shapes) {
    RatioOperands ops(*std::max_element(ms.begin(), ms.end()), sh, rng);
    for (int bits : {8, 4}) {
      std::vector<BlockWeight> ws;
      std::vector<std::unique_ptr<PreparedQWeights>> preps;
      ws.push_back(make_block_weight(bits, sh.n, sh.k, br, bc, 1.0, rng));
      for (double s : sparsities) ws.push_back(make_block_weight(bits, sh.n, sh.k, br, bc, 1.0 - s, rng));
      for (auto& w : ws) {
        preps.push_back(t.prepare_qweights ? t.prepare_qweights(w.q) : nullptr);
        w.q.prepared = preps.back().get();
      }
      for (int64_t m : ms) {
        std::vector<std::vector<double>> per(ws.size());  // CPU seconds per call, per round
        for (auto& w : ws) ops.run(t, m, w.q);  // warm-up
        // Calls per variant and round: at least `calls`, and enough for ~30 ms of the dense kernel,
        // so one round is not dominated by the caches another process left cold.
        const double c0 = cpu_seconds();
        ops.run(t, m, ws[0].q);
        const double one = std::max(1e-6, cpu_seconds() - c0);
        const int n_calls = std::max(calls, std::min(200, static_cast<int>(std::ceil(0.03 / one))));
        for (int r = 0; r < rounds; ++r)
          for (size_t j = 0; j < ws.size(); ++j) {
            const size_t v = (j + static_cast<size_t>(r)) % ws.size();
            const QWeights& q = ws[v].q;
            const double t0 = cpu_seconds();
            for (int c = 0; c < n_calls; ++c) ops.run(t, m, q);
            per[v].push_back((cpu_seconds() - t0) / n_calls);
          }
        std::printf("| %lldx%lld | %lld | int%d | %.3f |", static_cast<long long>(sh.n), static_cast<long long>(sh.k),
                    static_cast<long long>(m), bits, median(per[0]) * 1e3);
        for (size_t v = 1; v < ws.size(); ++v) {
          std::vector<double> ratio;
          for (int r = 0; r < rounds; ++r) ratio.push_back(per[v][static_cast<size_t>(r)] / per[0][static_cast<size_t>(r)]);
          std::printf(" %.3f [%.3f, %.3f] |", median(ratio), *std::min_element(ratio.begin(), ratio.end()),
                      *std::max_element(ratio.begin(), ratio.end()));
        }
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

// The quantized --variants of one table, timed like block_ratio (interleaved rounds in rotated
// order, CPU time per call) and reported as ratios to the first variant: e.g. `--variants
// int4,int4_24,int4_24_c4` gives 2:4 / dense int4 per round, median and range.
int variant_ratio(const KernelTable& t, const std::vector<Shape>& shapes, const std::vector<int64_t>& ms,
                  const std::vector<std::string>& names, int rounds, int calls) {
  std::printf("kernels %s, threads %d, %d rounds x max(%d, ~30 ms) calls, CPU time per call; ratio = time of %s / time of the variant (> 1: faster)\n\n",
              t.name, qf::kernels::num_threads(), rounds, calls, names[0].c_str());
  std::printf("| N x K | M | %s ms/call (CPU, median) |", names[0].c_str());
  for (size_t i = 1; i < names.size(); ++i) std::printf(" %s speed-up: median [min, max] |", names[i].c_str());
  std::printf("\n| --- | --- | --- |");
  for (size_t i = 1; i < names.size(); ++i) std::printf(" --- |");
  std::printf("\n");
  std::mt19937 rng(4321);
  for (const Shape& sh : shapes) {
    RatioOperands ops(*std::max_element(ms.begin(), ms.end()), sh, rng);
    std::vector<Weight> ws;
    std::vector<std::unique_ptr<PreparedQWeights>> preps;
    for (const auto& name : names) {
      if (name == "f32") throw std::runtime_error("--variant-ratio: quantized variants only");
      ws.push_back(make_weight(name, sh.n, sh.k, rng));
    }
    for (auto& w : ws) {
      set_sparse24_for(w.name);
      preps.push_back(t.prepare_qweights ? t.prepare_qweights(w.q) : nullptr);
      reset_sparse24();
      w.q.prepared = preps.back().get();
    }
    for (int64_t m : ms) {
      auto call = [&](const QWeights& q) { ops.run(t, m, q); };
      std::vector<std::vector<double>> per(ws.size());
      for (auto& w : ws) call(w.q);
      const double c0 = cpu_seconds();
      call(ws[0].q);
      const double one = std::max(1e-6, cpu_seconds() - c0);
      const int n_calls = std::max(calls, std::min(2000, static_cast<int>(std::ceil(0.03 / one))));
      for (int r = 0; r < rounds; ++r)
        for (size_t j = 0; j < ws.size(); ++j) {
          const size_t v = (j + static_cast<size_t>(r)) % ws.size();
          const double t0 = cpu_seconds();
          for (int c = 0; c < n_calls; ++c) call(ws[v].q);
          per[v].push_back((cpu_seconds() - t0) / n_calls);
        }
      std::printf("| %lldx%lld | %lld | %.4f (%s) |", static_cast<long long>(sh.n), static_cast<long long>(sh.k),
                  static_cast<long long>(m), median(per[0]) * 1e3, layout_name(ws[0].q.prepared));
      for (size_t v = 1; v < ws.size(); ++v) {
        std::vector<double> ratio;
        for (int r = 0; r < rounds; ++r) ratio.push_back(per[0][static_cast<size_t>(r)] / per[v][static_cast<size_t>(r)]);
        std::printf(" %.3f [%.3f, %.3f] (%s) |", median(ratio), *std::min_element(ratio.begin(), ratio.end()),
                    *std::max_element(ratio.begin(), ratio.end()), layout_name(ws[v].q.prepared));
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // QF_SLICE_PERM_MAX_M=N: kSparse24SlicePerm's own kernel up to M = N, kSparse24NibbleSlice's
  // above (measurements; default: every M).
  if (const char* e = std::getenv("QF_SLICE_PERM_MAX_M")) qf::kernels::x86::set_avx512_slice_perm_max_m(std::atoll(e));
  CLI::App app{"GOP/s of the runtime's quantized GEMM kernels (int8, int4 per group / per channel, int4 + 2:4)"};
  std::string ms_str = "1,16,128,1024", shapes_str = "1024x1024,4096x4096,11008x4096",
              variants_str = "int8,int4_g128,int4,int4_24,f32", which = "all";
  int threads = 0;
  double budget_s = 1.0, max_call_s = 4.0;
  int64_t max_iters = 50;
  bool json = false;
  app.add_option("--m", ms_str, "Comma-separated M values (rows of activations)")->capture_default_str();
  app.add_option("--shapes", shapes_str, "Comma-separated NxK weight shapes")->capture_default_str();
  app.add_option("--variants", variants_str, "Weight variants: int8, int4_g128, int4, int4_24 (2:4), int4_24_b8 / _c8 (2:4, 8-bit kept values: index bytes / stored controls), int4_24_c4 (2:4, 4-bit values + stored controls, the layout before 2-bit indices), int4_24_ni / _nc / _ns / _pb / _sp[N] (2:4 forced to 2-bit indices / to stored controls read without decoding / to bit-sliced 2-bit indices / to one byte per kept value that is its vpermb index / to the bit-sliced bytes read by vpermb from permuted activations, N: prefetched lines per chunk; int4_24: the default, bit-sliced read by vpermb (= _sp) where groups are whole chunks of 32 k), f32")
      ->capture_default_str();
  app.add_option("--kernels", which, "Kernel table: all, selected, or a table name (ref, ...)")->capture_default_str();
  app.add_option("--threads", threads, "Runtime threads (0: default; no-op until the runtime has a thread setting)")
      ->capture_default_str();
  app.add_option("--budget-s", budget_s, "Seconds of timed calls per case (at least one call)")->capture_default_str();
  app.add_option("--max-iters", max_iters, "Most timed calls per case")->capture_default_str();
  app.add_option("--max-call-s", max_call_s, "Predicted seconds per call above which a row slice is timed")
      ->capture_default_str();
  app.add_flag("--json", json, "One JSON object per case instead of the markdown table");
  bool block_mode = false;
  std::string sparsities_str = "0.5,0.7", block_str = "32x32";
  int rounds = 9, calls = 3;
  app.add_flag("--block-ratio", block_mode,
               "Block-sparse vs dense of the same precision (int8, int4 per channel): CPU-time ratios over "
               "interleaved rounds, on the selected table (--kernels) with --m / --shapes");
  app.add_option("--sparsities", sparsities_str, "--block-ratio: fractions of blocks pruned")->capture_default_str();
  app.add_option("--block", block_str, "--block-ratio: block shape RxC (rows x input columns)")->capture_default_str();
  app.add_option("--rounds", rounds, "--block-ratio: interleaved rounds")->capture_default_str();
  app.add_option("--calls", calls, "--block-ratio / --variant-ratio: calls per variant per round")->capture_default_str();
  bool ratio_mode = false;
  app.add_flag("--variant-ratio", ratio_mode,
               "The --variants (quantized) as CPU-time speed-ups over the first one, interleaved rounds (--rounds), "
               "on the selected table (--kernels) with --m / --shapes");
  CLI11_PARSE(app, argc, argv);

  if (threads > 0) qf::kernels::set_num_threads(threads);

  std::vector<int64_t> ms;
  for (const auto& s : split(ms_str, ',')) ms.push_back(std::stoll(s));
  std::sort(ms.begin(), ms.end());
  std::vector<Shape> shapes;
  for (const auto& s : split(shapes_str, ',')) {
    const auto p = s.find('x');
    if (p == std::string::npos) throw std::runtime_error("--shapes: expected NxK, got '" + s + "'");
    shapes.push_back({std::stoll(s.substr(0, p)), std::stoll(s.substr(p + 1))});
  }
  if (block_mode) {
    std::vector<double> sparsities;
    for (const auto& v : split(sparsities_str, ',')) sparsities.push_back(std::stod(v));
    const BlockShape bs = BlockShape::parse("block:" + block_str);
    const KernelTable& t = which == "all" || which == "selected" ? select_kernels() : *kernel_tables(which).front();
    return block_ratio(t, shapes, ms, sparsities, bs.rows, bs.cols, std::max(1, rounds), std::max(1, calls));
  }
  const auto tables = kernel_tables(which);
  const auto variants = split(variants_str, ',');
  if (ratio_mode) {
    const KernelTable& t = which == "all" || which == "selected" ? select_kernels() : *tables.front();
    return variant_ratio(t, shapes, ms, variants, std::max(1, rounds), std::max(1, calls));
  }

  if (!json) {
    std::printf("| kernels | N x K | M | weights | GOP/s | ms/call | calls | note |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  }
  std::mt19937 rng(1234);
  for (const Shape& sh : shapes) {
    const int64_t max_m = ms.back();
    std::vector<uint8_t> xq(static_cast<size_t>(max_m * sh.k));
    std::vector<float> xf(static_cast<size_t>(max_m * sh.k));
    for (auto& v : xq) v = static_cast<uint8_t>(rng() & 0xFF);
    for (size_t i = 0; i < xf.size(); ++i) xf[i] = (static_cast<float>(xq[i]) - 128.f) * 0.02f;
    std::vector<float> bias(static_cast<size_t>(sh.n), 0.25f);
    std::vector<float> y(static_cast<size_t>(max_m * sh.n));
    const float sx = 0.02f;
    QActs acts;
    acts.codes = xq.data();
    acts.zero_point = 128;
    acts.scales = &sx;
    acts.scale_stride = 0;

    for (const auto& vname : variants) {
      Weight w = make_weight(vname, sh.n, sh.k, rng);
      for (const KernelTable* t : tables) {
        double sec_per_op = 0;  // measured at the previous M, for the slice decision
        for (int64_t m : ms) {
          const double ops = 2.0 * static_cast<double>(m) * static_cast<double>(sh.n) * static_cast<double>(sh.k);
          int64_t rows = sh.n;
          if (sec_per_op > 0 && sec_per_op * ops > max_call_s) {
            rows = static_cast<int64_t>(static_cast<double>(sh.n) * (max_call_s / 2) / (sec_per_op * ops));
            rows = std::min(sh.n, std::max<int64_t>(64, rows / 64 * 64));
          }
          QWeights q = (rows == sh.n || w.is_f32) ? w.q : slice_rows(w, rows);
          std::unique_ptr<PreparedQWeights> prep;
          if (!w.is_f32 && t->prepare_qweights) {
            // int4_24_b8: the same 2:4 weight in the AVX-512 layout with 8-bit kept values (the
            // default packs 4-bit values as nibbles), to measure what the bytes are worth.
            set_sparse24_for(w.name);
            prep = t->prepare_qweights(q);  // load-time work, not timed
            reset_sparse24();
            q.prepared = prep.get();
          }
          auto call = [&] {
            if (w.is_f32)
              t->f32_gemm(m, rows, sh.k, xf.data(), w.f32.data(), bias.data(), y.data());
            else
              t->qgemm[0][static_cast<int>(q.kind)](m, acts, q, bias.data(), y.data());
          };
          std::vector<double> secs;
          // Warm-up call (not timed) unless one call is expected to eat the whole budget.
          if (sec_per_op == 0 || sec_per_op * ops * static_cast<double>(rows) / static_cast<double>(sh.n) < budget_s / 4)
            call();
          const auto t_start = Clock::now();
          while (true) {
            const auto t0 = Clock::now();
            call();
            secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
            if (static_cast<int64_t>(secs.size()) >= max_iters ||
                std::chrono::duration<double>(Clock::now() - t_start).count() >= budget_s)
              break;
          }
          const double med = median(secs);
          const double done_ops = ops * static_cast<double>(rows) / static_cast<double>(sh.n);
          sec_per_op = med / done_ops;
          const double gops = done_ops / med / 1e9;
          const std::string note = rows == sh.n ? "" : "rows=" + std::to_string(rows);
          if (json) {
            std::printf("{\"impl\": \"qforge\", \"kernels\": \"%s\", \"variant\": \"%s\", \"m\": %lld, \"n\": %lld, "
                        "\"k\": %lld, \"gops\": %.6g, \"ms\": %.6g, \"iters\": %zu, \"rows_timed\": %lld, "
                        "\"threads\": %d, \"layout\": \"%s\"}\n",
                        t->name, vname.c_str(), static_cast<long long>(m), static_cast<long long>(sh.n),
                        static_cast<long long>(sh.k), gops, med * 1e3, secs.size(), static_cast<long long>(rows),
                        qf::kernels::num_threads(), w.is_f32 ? "f32" : layout_name(q.prepared));
          } else {
            std::printf("| %s | %lldx%lld | %lld | %s (%s) | %.2f | %.3f | %zu | %s |\n", t->name,
                        static_cast<long long>(sh.n), static_cast<long long>(sh.k), static_cast<long long>(m),
                        vname.c_str(), w.is_f32 ? "f32" : layout_name(q.prepared), gops, med * 1e3, secs.size(),
                        note.c_str());
          }
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
