// Every kernel table this CPU can run (available_kernel_tables(): avx512vnni, avx2, ref) against
// plain loops: the quantized GEMMs exactly (tolerance 0, 1 and 2 threads, with the table's
// prepare_qweights), float entries as documented in x86/x86_float_kernels.h.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "pool_jobs.h"
#include "qgemm_tester.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/ref/ref_kernels.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_kernels.h"
#include "test_util.h"

namespace qf::kernels {
namespace {

using test::QGemmTester;
using test::Values;


struct Shape {
  int64_t n, k, group;
};

// kI8q4 / kNM24q4: 8-bit storage of Q4_0-like codes (x86 packs them as nibbles, sign per group).
enum class W { kI8, kI4, kNM24, kNM24x4bit, kNM14, kNM48, kI8q4, kNM24q4 };

struct QCase {
  W w;
  int64_t m;
  Shape s;
};

std::string case_name(const ::testing::TestParamInfo<std::tuple<std::string, QCase>>& info) {
  const QCase& c = std::get<1>(info.param);
  static const char* wn[] = {"i8", "i4", "nm24", "nm24i4", "nm14", "nm48", "i8q4", "nm24q4"};
  return std::get<0>(info.param) + "_" + wn[static_cast<int>(c.w)] + "_m" + std::to_string(c.m) + "n" +
         std::to_string(c.s.n) + "k" + std::to_string(c.s.k) + (c.s.group ? "g" + std::to_string(c.s.group) : "ch");
}

std::vector<QCase> cases() {
  // Odd N and K, K not a multiple of the 4- / 8-k blocks, groups not a multiple of the block
  // (padded per group), tails of the 16- and 64-output tiles.
  const std::vector<Shape> i8 = {{5, 7, 0}, {37, 129, 0}, {64, 256, 64}, {33, 96, 12}, {17, 300, 30}, {130, 64, 0}, {3, 1, 0}};
  const std::vector<Shape> i4 = {{37, 129, 0}, {64, 256, 32}, {19, 90, 18}, {3, 15, 5}, {70, 64, 0}};
  const std::vector<Shape> nm24 = {{37, 128, 0}, {33, 96, 32}, {20, 40, 20}, {9, 20, 10}, {48, 12, 0}, {66, 4, 0}};
  std::vector<QCase> v;
  for (int64_t m : {1, 2, 3, 17, 128}) {
    for (const Shape& s : i8) v.push_back({W::kI8, m, s});
    for (const Shape& s : i4) v.push_back({W::kI4, m, s});
    for (const Shape& s : nm24) v.push_back({W::kNM24, m, s});
    // 4-bit kept values: groups of 16 k (the nibble-packed gather), per channel, 48, and 40
    // (not a multiple of 16: the 8-bit gather / expand instead).
    for (const Shape& s : {Shape{21, 64, 16}, Shape{37, 128, 0}, Shape{70, 96, 48}, Shape{20, 40, 0}})
      v.push_back({W::kNM24x4bit, m, s});
    // Q4_0-like codes in 8-bit storage: groups of 32 (the GGUF block), odd group / K shapes, per
    // channel (negated codes there keep 8-bit packing: exact either way).
    for (const Shape& s : {Shape{64, 256, 32}, Shape{37, 96, 32}, Shape{19, 90, 18}, Shape{33, 64, 0}})
      v.push_back({W::kI8q4, m, s});
    for (const Shape& s : {Shape{37, 128, 32}, Shape{21, 64, 16}, Shape{20, 40, 20}, Shape{9, 32, 0}})
      v.push_back({W::kNM24q4, m, s});
    v.push_back({W::kNM14, m, {8, 16, 0}});
    v.push_back({W::kNM48, m, {6, 24, 12}});
  }
  // The decoding GEMV on AVX-512 (M = 1, >= 8 panels of 16: strided tiles, TileArgs::panel_stride):
  // 8 panels (no tail), 9 and 19 (a tail tile of 1 / 3 panels after the strided quarters), a
  // partial last panel (N = 130, 250), groups padded (18), a K of one group, many groups; every
  // weight format; M = 2 takes the ordinary tiles.
  for (int64_t m : {1, 2}) {
    for (const Shape& s : {Shape{128, 96, 32}, Shape{144, 64, 32}, Shape{304, 90, 18}, Shape{256, 32, 32},
                           Shape{160, 1024, 32}, Shape{130, 64, 32}, Shape{250, 64, 0}})
      v.push_back({W::kI8q4, m, s});
    for (const Shape& s : {Shape{144, 96, 32}, Shape{250, 64, 0}}) {
      v.push_back({W::kI8, m, s});
      v.push_back({W::kI4, m, s});
      v.push_back({W::kNM24, m, s});
      v.push_back({W::kNM24q4, m, s});
    }
    v.push_back({W::kNM24x4bit, m, {136, 64, 16}});
    // kSparse24NibbleSlice / kSparse24SlicePerm (chunks of 32 k): several groups of 32, groups of 64 / 96 (int16 row
    // sums: 32 kept codes of -8 overflow int8), a tail tile and a partial last panel.
    for (const Shape& s : {Shape{304, 224, 32}, Shape{130, 64, 32}, Shape{37, 192, 64}, Shape{21, 192, 96}})
      v.push_back({W::kNM24q4, m, s});
    // kSparse24PermByte (whole 8-k steps): groups of 8 / 24 / 40 (an odd number of steps: the
    // 16-k loop's second half skipped), K not a multiple of 64 (72, 200, per channel 120 and 8),
    // a tail tile and a partial last panel.
    for (const Shape& s : {Shape{144, 72, 24}, Shape{137, 200, 40}, Shape{35, 120, 0}, Shape{130, 64, 8},
                           Shape{17, 8, 0}})
      v.push_back({W::kNM24q4, m, s});
  }
  // The same layout at M = 3..6 (several rows per tile, ordinary tiles, the MR = 4 tile plus a tail).
  for (int64_t m : {3, 5, 6})
    for (const Shape& s : {Shape{144, 72, 24}, Shape{70, 232, 0}})
      v.push_back({W::kNM24q4, m, s});
  // Enough rows x K that the activation packing itself is split over threads (a prompt of 512
  // tokens at K = 4096: the pool threads must write the caller's buffers, not their own).
  v.push_back({W::kI4, 512, {16, 4096, 32}});
  v.push_back({W::kI8q4, 512, {16, 4096, 32}});
  v.push_back({W::kNM24q4, 512, {16, 4096, 32}});  // kSparse24SlicePerm's permuted activation chunks too
  return v;
}

class QGemmTables : public ::testing::TestWithParam<std::tuple<std::string, QCase>> {};

TEST_P(QGemmTables, BitIdenticalToPlainLoops) {
  const KernelTable& table = kernel_table_for_isa(std::get<0>(GetParam()));
  const QCase c = std::get<1>(GetParam());
  // Every 2:4 strategy the AVX-512 table has.
  std::vector<x86::PackedFormat> strategies = {x86::PackedFormat::kSparse24Expand};
  if (std::string(table.name) == "avx512vnni" && (c.w == W::kNM24 || c.w == W::kNM24x4bit || c.w == W::kNM24q4))
    strategies.insert(strategies.end(), {x86::PackedFormat::kSparse24Gather, x86::PackedFormat::kSparse24GatherI4,
                                         x86::PackedFormat::kSparse24GatherCtl, x86::PackedFormat::kSparse24NibbleIdx,
                                         x86::PackedFormat::kSparse24NibbleCtl, x86::PackedFormat::kSparse24NibbleSlice,
                                         x86::PackedFormat::kSparse24PermByte, x86::PackedFormat::kSparse24SlicePerm});
  // Dense int4 on AVX-512: unsigned nibbles (the default) and the signed-nibble lookup.
  std::vector<bool> unsigned_int4 = {true};
  if (std::string(table.name) == "avx512vnni" && (c.w == W::kI4 || c.w == W::kI8q4)) unsigned_int4.push_back(false);
  for (bool u4 : unsigned_int4)
  for (x86::PackedFormat st : strategies)
  // kSparse24SlicePerm: its own kernel with the side data in the panel stream where groups are 32
  // with fp16 scales (the default), with the side data apart, and kSparse24NibbleSlice's kernel on
  // its bytes (side data apart; a measurement limit on M).
  for (int mode : {0, 1, 2}) {
    if (mode > 0 && st != x86::PackedFormat::kSparse24SlicePerm) continue;  // nothing new
    x86::set_avx512_slice_side_inline(mode == 0);
    x86::set_avx512_slice_perm_max_m(mode == 2 ? 0 : -1);
    SCOPED_TRACE(mode == 0 ? "default" : mode == 1 ? "side data apart" : "kSparse24NibbleSlice's kernel on kSparse24SlicePerm's bytes");
    x86::set_avx512_int4_unsigned(u4);
    SCOPED_TRACE(u4 ? "int4 as unsigned nibbles" : "int4 as signed nibbles");
    x86::set_avx512_sparse24_strategy(st);
    // kSparse24NibbleIdx is the default, which hands small weights to kSparse24NibbleCtl: off here.
    x86::set_avx512_sparse24_ctl_max_bytes(st == x86::PackedFormat::kSparse24NibbleIdx ? 0 : -1);
    SCOPED_TRACE(st == x86::PackedFormat::kSparse24Gather     ? "2:4 gather"
                 : st == x86::PackedFormat::kSparse24GatherI4 ? "2:4 gather, 4-bit values where they fit"
                 : st == x86::PackedFormat::kSparse24GatherCtl ? "2:4 gather, stored controls"
                 : st == x86::PackedFormat::kSparse24NibbleIdx ? "2:4 gather, 4-bit values and 2-bit indices"
                 : st == x86::PackedFormat::kSparse24NibbleCtl ? "2:4 gather, 4-bit values, stored controls as they are"
                 : st == x86::PackedFormat::kSparse24NibbleSlice ? "2:4 gather, 4-bit values, bit-sliced 2-bit indices"
                 : st == x86::PackedFormat::kSparse24PermByte ? "2:4 vpermb, one byte per kept value (value + index)"
                 : st == x86::PackedFormat::kSparse24SlicePerm ? "2:4 bit-sliced, vpermb into permuted activations"
                                                              : "2:4 expand");
    unsigned seed = 1;
    // Activation variants: qu8 with a mid / minimum / maximum zero point, qs8 per tensor and per
    // token; with and without bias; random and clamp-extreme values.
    struct Act {
      bool u8;
      int32_t zx;
      bool tok, bias;
      Values values;
    };
    const Act acts[] = {{true, 131, false, true, Values::kRandom},  {true, 0, false, false, Values::kExtremes},
                        {true, 255, true, true, Values::kExtremes}, {false, 0, false, true, Values::kRandom},
                        {false, 0, true, false, Values::kRandom},   {false, 0, true, true, Values::kExtremes}};
    for (const Act& a : acts) {
      QGemmTester t;
      t.m(c.m).n(c.s.n).k(c.s.k).group(c.s.group).per_token(a.tok).bias(a.bias).values(a.values).seed(seed++);
      if (a.u8) t.qu8(a.zx);
      else t.qs8();
      switch (c.w) {
        case W::kI8: t.int8(); break;
        case W::kI4: t.int4(); break;
        case W::kNM24: t.nm(2, 4); break;
        case W::kNM24x4bit: t.nm(2, 4, 4); break;
        case W::kNM14: t.nm(1, 4); break;
        case W::kNM48: t.nm(4, 8); break;
        case W::kI8q4: t.int8().q4_0_codes(true); break;
        case W::kNM24q4: t.nm(2, 4).q4_0_codes(true); break;
      }
      t.check_unprepared(c.m <= 3);
      t.Test(table);
      if (HasFatalFailure()) {
        x86::set_avx512_slice_perm_max_m(-1);
        x86::set_avx512_slice_side_inline(true);
        x86::set_avx512_int4_unsigned(true);
        x86::set_avx512_sparse24_ctl_max_bytes(-1);
        return;
      }
    }
  }
  x86::set_avx512_sparse24_strategy(x86::PackedFormat::kSparse24SlicePerm);  // the defaults
  x86::set_avx512_slice_perm_max_m(-1);
  x86::set_avx512_slice_side_inline(true);
  x86::set_avx512_sparse24_ctl_max_bytes(-1);
  x86::set_avx512_int4_unsigned(true);
}

// Packing choices the fast paths depend on (a wrong one is exact but slow: every kernel falls back
// to the reference). 4-bit codes in 8-bit storage become nibbles only per group (Q4_0); per
// channel they stay int8, the only packing the fused conv + pool kernel takes.
TEST(QGemmPacking, Int8StorageOf4BitCodesIsNibblesPerGroupOnly) {
  bool found = false;
  for (const std::string& name : qf::kernels::test::kernel_table_names())
    if (name == "avx512vnni") found = true;
  if (!found) GTEST_SKIP() << "no AVX-512 VNNI table on this machine";
  const KernelTable& table = kernel_table_for_isa("avx512vnni");
  std::vector<int8_t> codes(static_cast<size_t>(16 * 64));
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<int8_t>(static_cast<int>(i % 15) - 7);
  std::vector<float> scales(16 * 2, 0.5f);
  for (bool per_group : {false, true}) {
    QWeights w;
    w.kind = QWeightKind::kInt8;
    w.n = 16;
    w.k = 64;
    w.codes = codes.data();
    w.scales = scales.data();
    w.per_group = per_group;
    w.group_size = per_group ? 32 : 0;
    std::unique_ptr<PreparedQWeights> p = table.prepare_qweights(w);
    const auto* P = dynamic_cast<const x86::PackedQWeights*>(p.get());
    ASSERT_NE(P, nullptr);
    EXPECT_EQ(P->format, per_group ? x86::PackedFormat::kInt4PairsU : x86::PackedFormat::kInt8)
        << (per_group ? "per group" : "per channel");
  }
}

// The 2:4 packings the tests above rely on are the ones taken: kSparse24SlicePerm (the default) and
// kSparse24NibbleSlice where groups are whole chunks of 32 k, kSparse24PermByte where they are
// whole steps of 8 k (else the packing falls back, exact but another kernel), with int8 row sums
// exactly when every row sum fits.
TEST(QGemmPacking, Sparse24SliceTakenWhereGroupsAreWholeChunks) {
  bool found = false;
  for (const std::string& name : qf::kernels::test::kernel_table_names())
    if (name == "avx512vnni") found = true;
  if (!found) GTEST_SKIP() << "no AVX-512 VNNI table on this machine";
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("gfni")) GTEST_SKIP() << "no GFNI";
  const KernelTable& table = kernel_table_for_isa("avx512vnni");
  for (x86::PackedFormat st : {x86::PackedFormat::kSparse24SlicePerm, x86::PackedFormat::kSparse24NibbleSlice,
                               x86::PackedFormat::kSparse24PermByte})
  for (int64_t gs : {8, 16, 32, 64}) {
    x86::set_avx512_sparse24_strategy(st);
    const int64_t n = 16, k = 128;
    std::vector<int8_t> values(static_cast<size_t>(n * k / 2), -8);  // row sums: -8 * kept codes per group
    std::vector<uint8_t> index(static_cast<size_t>(n * k / 8), 0x44);  // kept positions 0 and 1
    std::vector<float> scales(static_cast<size_t>(n * k / gs), 0.5f);
    QWeights w;
    w.kind = QWeightKind::kNM;
    w.n = n;
    w.k = k;
    w.codes = values.data();
    w.packed = index.data();
    w.nm_n = 2;
    w.nm_m = 4;
    w.scales = scales.data();
    w.per_group = true;
    w.group_size = gs;
    std::unique_ptr<PreparedQWeights> p = table.prepare_qweights(w);
    const auto* P = dynamic_cast<const x86::PackedQWeights*>(p.get());
    ASSERT_NE(P, nullptr);
    const bool whole = st == x86::PackedFormat::kSparse24PermByte ? gs % 8 == 0 : gs % 32 == 0;
    EXPECT_EQ(P->format == st, whole) << "gs " << gs << ", strategy " << static_cast<int>(st);
    // Side data in the panel stream: kSparse24SlicePerm, groups of 32, fp16 scales (0.5 is one).
    EXPECT_EQ(P->side_inline, st == x86::PackedFormat::kSparse24SlicePerm && gs == 32) << "gs " << gs;
    EXPECT_EQ(P->rowsum8 != nullptr, gs <= 32) << "gs " << gs << ": -4 * gs fits int8 only up to 32";
  }
  // QGemmQuarters' weights really get the 2 MiB quarter layout (else it tests nothing new).
  {
    const int64_t n = 2072, k = 4096;
    std::vector<int8_t> codes(static_cast<size_t>(n * k), 3);
    std::vector<float> scales(static_cast<size_t>(n * k / 32), 0.5f);
    QWeights w;
    w.kind = QWeightKind::kInt8;
    w.n = n;
    w.k = k;
    w.codes = codes.data();
    w.scales = scales.data();
    w.per_group = true;
    w.group_size = 32;
    std::unique_ptr<PreparedQWeights> p = table.prepare_qweights(w);
    const auto* P = dynamic_cast<const x86::PackedQWeights*>(p.get());
    ASSERT_NE(P, nullptr);
    EXPECT_EQ(P->format, x86::PackedFormat::kInt4PairsU);
    EXPECT_EQ(P->quarter_panels, P->panels / 4);
    EXPECT_EQ(P->quarter_bytes % (int64_t{1} << 21), 0);
    EXPECT_GT(P->quarter_bytes, P->quarter_panels * P->panel_bytes);
  }
  x86::set_avx512_sparse24_strategy(x86::PackedFormat::kSparse24SlicePerm);
}

// Weights of >= 4 MiB whose GEMV quarters are not whole huge pages get their quarters 2 MiB apart
// (PackedQWeights::quarter_bytes): the strided GEMV (M = 1) and the ordinary tiles (M = 2, whose
// 4 adjacent panels then cross quarter boundaries) against plain loops, Q4_0-like dense and 2:4
// (the default packing: kSparse24SlicePerm), codes at the clamps. Apart from QGemmTables: two
// big weights there would be packed for every strategy and activation case (minutes).
TEST(QGemmQuarters, LargeWeightsBitIdentical) {
  bool found = false;
  for (const std::string& name : qf::kernels::test::kernel_table_names())
    if (name == "avx512vnni") found = true;
  if (!found) GTEST_SKIP() << "no AVX-512 VNNI table on this machine";
  const KernelTable& table = kernel_table_for_isa("avx512vnni");
  for (int64_t m : {1, 2}) {
    QGemmTester dense, sparse;
    dense.m(m).n(2072).k(4096).group(32).qs8().per_token(true).bias(true).values(Values::kExtremes).seed(5);
    dense.int8().q4_0_codes(true);
    dense.Test(table);
    sparse.m(m).n(2072).k(6144).group(32).qu8(131).bias(true).values(Values::kRandom).seed(6);
    sparse.nm(2, 4).q4_0_codes(true);
    sparse.Test(table);
  }
  // The 2:4 weight's packing: the slice layout in 2 MiB-aligned quarters.
  const int64_t n = 2072, k = 6144;
  std::vector<int8_t> values(static_cast<size_t>(n * k / 2), -8);
  std::vector<uint8_t> index(static_cast<size_t>(n * k / 8), 0x44);
  std::vector<float> scales(static_cast<size_t>(n * k / 32), 0.5f);
  QWeights w;
  w.kind = QWeightKind::kNM;
  w.n = n;
  w.k = k;
  w.codes = values.data();
  w.packed = index.data();
  w.nm_n = 2;
  w.nm_m = 4;
  w.scales = scales.data();
  w.per_group = true;
  w.group_size = 32;
  std::unique_ptr<PreparedQWeights> p = table.prepare_qweights(w);
  const auto* P = dynamic_cast<const x86::PackedQWeights*>(p.get());
  ASSERT_NE(P, nullptr);
  __builtin_cpu_init();
  if (__builtin_cpu_supports("gfni")) {
    EXPECT_EQ(P->format, x86::PackedFormat::kSparse24SlicePerm);
    EXPECT_TRUE(P->side_inline);  // and its side data in the 2 MiB-aligned quarters' streams
  }
  EXPECT_GT(P->quarter_bytes, 0);
  EXPECT_EQ(P->quarter_bytes % (int64_t{1} << 21), 0);
}

INSTANTIATE_TEST_SUITE_P(AllTables, QGemmTables, ::testing::Combine(::testing::ValuesIn(qf::kernels::test::kernel_table_names()), ::testing::ValuesIn(cases())),
                         case_name);

class FloatTables : public ::testing::TestWithParam<std::string> {};

TEST_P(FloatTables, F32GemmWithinTolerance) {
  const KernelTable& table = kernel_table_for_isa(GetParam());
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {3, 37, 129}, {17, 130, 64}, {128, 70, 300}}) {
    auto x = qf::test::randn(m * k, 11), w = qf::test::randn(n * k, 12), b = qf::test::randn(n, 13);
    std::vector<float> want(static_cast<size_t>(m * n)), got(want.size());
    f32_gemm_ref(m, n, k, x.data(), w.data(), b.data(), want.data());
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      table.f32_gemm(m, n, k, x.data(), w.data(), b.data(), got.data());
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 1e-5 * std::sqrt(static_cast<double>(k)) * (std::fabs(want[i]) + 1.0))
            << table.name << " m" << m << " n" << n << " k" << k << " at " << i;
    }
    set_num_threads(0);
  }
}

// Speculative decoding's greedy identity (runtime/generation.h): for M <= 16 a row's outputs are
// the same bits whether the GEMM runs that row alone or with up to 15 others, at any thread
// count. (Tolerance 0: memcmp.) The reference table is row-independent by construction.
TEST_P(FloatTables, F32GemmSmallMRowsDoNotDependOnM) {
  const KernelTable& table = kernel_table_for_isa(GetParam());
  for (auto [n, k] : {std::pair<int64_t, int64_t>{1, 1}, {5, 7}, {37, 17}, {70, 33}, {130, 100}, {64, 256}}) {
    const int64_t m = 16;
    auto x = qf::test::randn(m * k, 21), w = qf::test::randn(n * k, 22), b = qf::test::randn(n, 23);
    std::vector<float> alone(static_cast<size_t>(m * n)), batch(static_cast<size_t>(m * n));
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (int64_t i = 0; i < m; ++i)
        table.f32_gemm(1, n, k, x.data() + i * k, w.data(), b.data(), alone.data() + i * n);
      for (int64_t rows = 2; rows <= m; ++rows) {
        table.f32_gemm(rows, n, k, x.data(), w.data(), b.data(), batch.data());
        ASSERT_EQ(0, std::memcmp(alone.data(), batch.data(), static_cast<size_t>(rows * n) * sizeof(float)))
            << table.name << " m" << rows << " n" << n << " k" << k << " threads " << threads;
      }
    }
    set_num_threads(0);
  }
}

TEST_P(FloatTables, ReluExact) {
  const KernelTable& table = kernel_table_for_isa(GetParam());
  auto x = qf::test::randn(1000, 14);
  x[3] = -0.0f;
  x[5] = NAN;
  x[7] = INFINITY;
  x[8] = -INFINITY;
  std::vector<float> want(x.size()), got(x.size());
  f32_relu_ref(x.data(), 1000, want.data());
  table.relu(x.data(), 1000, got.data());
  EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << table.name;
}

INSTANTIATE_TEST_SUITE_P(AllTables, FloatTables, ::testing::ValuesIn(qf::kernels::test::kernel_table_names()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(Dispatch, TablesAndIsaNames) {
  const auto tables = available_kernel_tables();
  ASSERT_FALSE(tables.empty());
  EXPECT_STREQ(tables.back()->name, "ref");
  EXPECT_EQ(&kernel_table_for_isa("ref"), &ref_kernel_table());
  EXPECT_EQ(&kernel_table_for_isa(""), tables.front());
  EXPECT_THROW(kernel_table_for_isa("sse9"), Error);
  bool avx512 = false;
  for (const KernelTable* t : tables) avx512 |= std::string(t->name) == "avx512vnni";
  if (avx512) EXPECT_STREQ(kernel_table_for_isa("avx512").name, "avx512vnni");
  else EXPECT_THROW(kernel_table_for_isa("avx512"), Error);
}

TEST(Threads, ParallelForCoversEveryTaskOnce) {
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<int> hits(1000, 0);
    parallel_for(1000, 1e6, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
    });
    for (int h : hits) ASSERT_EQ(h, 1);
    // Nested calls run inline.
    std::vector<int> nested(64, 0);
    parallel_for(8, 1e6, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        parallel_for(8, 1e6, [&](int64_t b2, int64_t e2) {
          for (int64_t j = b2; j < e2; ++j) ++nested[static_cast<size_t>(i * 8 + j)];
        });
    });
    for (int h : nested) ASSERT_EQ(h, 1);
  }
  set_num_threads(0);
  EXPECT_GE(num_threads(), 1);
}

// Decoding issues parallel_for calls back to back, so workers join jobs from their spin (not from
// a wake-up), and a job on the caller's stack is replaced right after it returns. Every job must
// still run each task exactly once, from any of several calling threads (all but one run inline).
TEST(Threads, BackToBackJobsFromSeveralCallersRunEachTaskOnce) {
  set_num_threads(2);
  std::atomic<int64_t> wrong{0};
  std::thread other([&] { wrong += miscounted_pool_tasks(3000); });
  wrong += miscounted_pool_tasks(20000);
  other.join();
  EXPECT_EQ(wrong.load(), 0);
  set_num_threads(0);
}

}  // namespace
}  // namespace qf::kernels
