// Block-sparse weights (bs_int8 / bs_int4, feature block_sparse): the kernels of every table
// against plain loops over the dense decoded weight (tolerance 0), on awkward shapes -- partial
// blocks at the N and K edges, an all-zero block row, 0% and 100% kept, M = 1 / small / large,
// block shapes the x86 tables run on their block path and ones they pack dense -- and a tiny model
// with block-sparse layers written, read and validated bit for bit on every table.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/block_sparse.h"
#include "core/error.h"
#include "core/sha256.h"
#include "fixture_models.h"
#include "qgemm_tester.h"
#include "reference_model.h"
#include "runtime/checkpoint_reader.h"
#include "runtime/engine.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/x86/x86_kernels.h"
#include "runtime/validate.h"
#include "test_util.h"

namespace qf::kernels {
namespace {

using test::QGemmTester;
using test::Values;

struct BCase {
  int bits;
  int64_t m, n, k;
  int br, bc;
  int64_t group;  // 0: per channel
  double keep;
  bool zero_row;
};

std::string bcase_name(const ::testing::TestParamInfo<std::tuple<std::string, BCase>>& info) {
  const BCase& c = std::get<1>(info.param);
  return std::get<0>(info.param) + "_w" + std::to_string(c.bits) + "_m" + std::to_string(c.m) + "n" +
         std::to_string(c.n) + "k" + std::to_string(c.k) + "_b" + std::to_string(c.br) + "x" + std::to_string(c.bc) +
         (c.group ? "_g" + std::to_string(c.group) : "_ch") + "_keep" + std::to_string(static_cast<int>(c.keep * 100)) +
         (c.zero_row ? "_zrow" : "");
}

std::vector<BCase> bcases() {
  std::vector<BCase> v;
  for (int bits : {8, 4})
    for (int64_t m : {1, 3, 17, 128}) {
      // 32x32, N and K not multiples of the block (partial edge blocks), an empty block row.
      v.push_back({bits, m, 70, 100, 32, 32, 0, 0.5, true});
      v.push_back({bits, m, 64, 96, 32, 32, 0, 0.3, false});
      // 0% and 100% kept.
      v.push_back({bits, m, 40, 70, 32, 32, 0, 0.0, false});
      v.push_back({bits, m, 40, 70, 32, 32, 0, 1.0, false});
      // Per-group scales: groups of whole blocks (block path), groups splitting blocks (packed dense).
      v.push_back({bits, m, 48, 128, 16, 16, 32, 0.5, true});
      v.push_back({bits, m, 33, 96, 32, 32, 48, 0.5, false});
      // Smaller blocks: 16x16, 8x8 (a panel spans two block rows), 32x16, 64x32 (tiles of 4 panels).
      v.push_back({bits, m, 37, 81, 16, 16, 0, 0.4, false});
      v.push_back({bits, m, 30, 50, 8, 8, 0, 0.5, true});
      v.push_back({bits, m, 50, 40, 32, 16, 0, 0.5, false});
      v.push_back({bits, m, 130, 64, 64, 32, 0, 0.6, false});
      // Blocks no x86 k-block divides: packed dense (exact, not faster); odd bc pads a nibble.
      v.push_back({bits, m, 11, 23, 5, 3, 0, 0.5, false});
      v.push_back({bits, m, 20, 36, 4, 4, 0, 0.5, false});
    }
  return v;
}

class BlockSparseTables : public ::testing::TestWithParam<std::tuple<std::string, BCase>> {};

TEST_P(BlockSparseTables, BitIdenticalToDenseLoops) {
  const KernelTable& table = kernel_table_for_isa(std::get<0>(GetParam()));
  const BCase c = std::get<1>(GetParam());
  struct Act {
    bool u8;
    int32_t zx;
    bool tok, bias;
    Values values;
  };
  const Act acts[] = {{true, 131, false, true, Values::kRandom},
                      {true, 255, true, false, Values::kExtremes},
                      {false, 0, false, true, Values::kRandom},
                      {false, 0, true, true, Values::kExtremes}};
  unsigned seed = 1;
  for (const Act& a : acts) {
    QGemmTester t;
    t.m(c.m).n(c.n).k(c.k).group(c.group).per_token(a.tok).bias(a.bias).values(a.values).seed(seed++);
    t.block(c.br, c.bc, c.keep, c.bits, c.zero_row);
    if (a.u8) t.qu8(a.zx);
    else t.qs8();
    t.check_unprepared(c.m <= 3);
    t.Test(table);
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTables, BlockSparseTables,
                         ::testing::Combine(::testing::ValuesIn(test::kernel_table_names()), ::testing::ValuesIn(bcases())),
                         bcase_name);

// The x86 tables really take their block path for 32x32 (a test of the kernels above could pass
// on a silent dense fallback): the prepared format and the segments are the kept blocks.
TEST(BlockSparsePrepare, X86TablesSkipZeroBlocks) {
  const int64_t n = 96, k = 128;
  std::vector<int8_t> dense(static_cast<size_t>(n * k), 0);
  // Block row 0: block columns 1 and 3; block row 1: none; block row 2: column 0.
  for (int64_t r = 0; r < 32; ++r) {
    dense[static_cast<size_t>(r * k + 32 + r % 32)] = 5;
    dense[static_cast<size_t>(r * k + 96)] = -3;
    dense[static_cast<size_t>((64 + r) * k + 7)] = 1;
  }
  const BlockCompressed bc = block_compress(dense.data(), n, k, BlockShape{32, 32});
  ASSERT_EQ(bc.nnzb(), 3);
  std::vector<int32_t> ptr(bc.row_ptr.begin(), bc.row_ptr.end()), col(bc.col.begin(), bc.col.end());
  std::vector<float> scales(static_cast<size_t>(n), 0.5f);
  QWeights w;
  w.kind = QWeightKind::kBSInt8;
  w.n = n;
  w.k = k;
  w.codes = bc.blocks.data();
  w.scales = scales.data();
  w.bs_rows = 32;
  w.bs_cols = 32;
  w.block_row_ptr = ptr.data();
  w.block_col = col.data();
  int checked = 0;
  for (const KernelTable* t : available_kernel_tables()) {
    if (!t->prepare_qweights) continue;
    auto prep = t->prepare_qweights(w);
    const auto* P = dynamic_cast<const x86::PackedQWeights*>(prep.get());
    ASSERT_NE(P, nullptr) << t->name;
    EXPECT_EQ(P->format, x86::PackedFormat::kBlockInt8) << t->name;
    // Tiles inside one block row (AVX-512: 2 panels of 16 = the block row; AVX2: 2 of 8, two
    // tiles per block row), each with that block row's segments: {1, 3}, {}, {0}.
    const int64_t rows = P->tile_np * P->nr;
    ASSERT_EQ(32 % rows, 0) << t->name;
    std::vector<int64_t> want = {0};
    for (int64_t per_row : {2, 0, 1})
      for (int64_t i = 0; i < 32 / rows; ++i) want.push_back(want.back() + per_row);
    EXPECT_EQ(P->seg_ptr, want) << t->name;
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no x86 table on this CPU";
}

TEST(BlockSparsePrepare, SliceOffABlockRowIsRefused) {
  std::vector<int32_t> ptr = {0, 0, 0};
  QWeights w;
  w.kind = QWeightKind::kBSInt4;
  w.n = 64;
  w.k = 32;
  w.bs_rows = 32;
  w.bs_cols = 32;
  w.block_row_ptr = ptr.data();
  EXPECT_THROW(w.rows_slice(16, 48), Error);
  EXPECT_EQ(w.rows_slice(32, 32).block_row_ptr, ptr.data() + 1);
}

}  // namespace
}  // namespace qf::kernels

namespace qf {
namespace {

TEST(BlockSparseModel, ExportReadValidateBitForBitOnEveryTable) {
  const std::string path = test::temp_path("block_sparse_model");
  CheckpointContent c = test::block_sparse_cnn();
  const std::map<std::string, Tensor> in = {{"x", test::random_tensor({9, 2, 6, 6}, 140)}};
  Golden g;
  g.inputs = in;
  g.outputs = test::reference_run(c, in, {}, &g.trace);
  c.golden = {g};
  c.golden_reference = "contract";
  write_checkpoint(path, c);
  const Checkpoint ck = read_checkpoint(path);
  EXPECT_EQ(ck.required_features, std::vector<std::string>{"block_sparse"});
  EXPECT_EQ(ck.layers.at("fc1").format, WeightFormat::kBSInt8);
  EXPECT_EQ(ck.layers.at("fc2").format, WeightFormat::kBSInt4);
  EXPECT_EQ(ck.layers.at("conv2").format, WeightFormat::kBSInt4);
  EXPECT_EQ(ck.layers.at("head").format, WeightFormat::kInt8);
  // fc1: 3 block rows (the last partial) x 18 block columns, block row 1 empty, a third pruned.
  const LayerWeights& fc1 = ck.layers.at("fc1");
  EXPECT_EQ(fc1.block_row_ptr.size(), 4u);
  EXPECT_EQ(fc1.block_row_ptr[1], fc1.block_row_ptr[2]);
  EXPECT_LT(fc1.block_col.size(), 2u * 18u);
  Engine ref(read_checkpoint(path), &kernels::ref_kernel_table());
  const Tensor want = ref.run(in).at("logits");
  EXPECT_EQ(want.f32, g.outputs.at("logits").f32) << "the reference table against the golden contract";
  for (const kernels::KernelTable* t : kernels::available_kernel_tables()) {
    Engine e(read_checkpoint(path), t);
    const ValidationReport rep = validate(e);
    EXPECT_TRUE(rep.passed) << t->name << "\n" << rep.summary(true);
    EXPECT_EQ(e.run(in).at("logits").f32, want.f32) << "integer path on " << t->name;
  }
  std::remove(path.c_str());
}

TEST(BlockSparseModel, ReaderRejectsBrokenLayouts) {
  const std::string path = test::temp_path("block_sparse_bad");
  CheckpointContent c = test::block_sparse_cnn();
  Golden g;
  g.inputs = {{"x", test::random_tensor({1, 2, 6, 6}, 141)}};
  g.outputs = test::reference_run(c, g.inputs);
  c.golden = {g};
  c.golden_reference = "contract";
  auto expect_refused = [&](const std::function<void(hid_t)>& edit, const std::string& needle) {
    write_checkpoint(path, c);
    test::mutate_h5(path, edit);
    try {
      read_checkpoint(path);
      ADD_FAILURE() << "accepted a file that should fail with '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // Without the feature named: refused, naming it.
  expect_refused(
      [](hid_t f) {
        H5Adelete(f, "required_features");
        test::set_string_attr(f, "required_features", "");
      },
      "block_sparse");
  // A block column out of range / not increasing (digest rewritten, so only the layout check can catch it).
  auto rewrite_cols = [](hid_t f, std::vector<int64_t> (*edit)(std::vector<int64_t>)) {
    hid_t ds = H5Dopen2(f, "layers/fc1/weight_block_cols", H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    std::vector<int64_t> v(static_cast<size_t>(H5Sget_simple_extent_npoints(sp)));
    H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    v = edit(v);
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Adelete(ds, "sha256");
    H5Sclose(sp);
    H5Dclose(ds);
    // a fresh digest of the edited bytes
    hid_t d2 = H5Dopen2(f, "layers/fc1/weight_block_cols", H5P_DEFAULT);
    test::set_string_attr(d2, "sha256", sha256_hex(v.data(), v.size() * 8));
    H5Dclose(d2);
  };
  expect_refused([&](hid_t f) { rewrite_cols(f, [](std::vector<int64_t> v) { v[0] = 18; return v; }); }, "outside");
  expect_refused([&](hid_t f) { rewrite_cols(f, [](std::vector<int64_t> v) { v[1] = v[0]; return v; }); },
                 "strictly increasing");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace qf
