// The fused conv + relu / 2x2 max pool / quantize entry (KernelTable::qconv_pool) of every table
// this CPU runs, bit for bit (memcmp, tolerance 0) against the reference entry, with 1 and 2
// threads; and the reference entry itself against the unfused composition it stands for (the
// reference GEMM over every conv row, maxpool2d_nhwc, relu, quantize). Cases: a first conv
// (1 channel, K = 9 padded to 12, 32 outputs) read from an im2col buffer, a second conv
// (32 -> 64, K = 288) read implicitly from a padded channels-last image (3 runs of 96 codes),
// outputs that leave a partial panel (20, 80), odd conv sizes (pooling drops a row / column),
// u8 and s8 activations and outputs, float output, no bias, relu before / after / both /
// neither, codes at the clamps, zero and negative weight scales, -0.0 biases; and weights the
// fused kernel does not take (int4, per group, k-runs not a multiple of 4), which must still be
// exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/nm_sparse.h"
#include "qgemm_tester.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/ref/ref_kernels.h"
#include "runtime/kernels/threads.h"
#include "runtime/kernels/x86/x86_conv_kernels.h"  // set_conv_pool_int32_pooling

namespace qf::kernels {
namespace {

struct ConvPoolCase {
  int64_t images, c, h, w, n;      // conv: c channels, h x w (3x3, stride 1, padding 1), n outputs
  bool implicit;                   // read a padded channels-last image (segs = 3), else im2col rows
  bool x_unsigned, out_codes, out_unsigned, bias, relu_before, relu_after;
  bool extremes;                   // codes at the clamps
  QWeightKind kind = QWeightKind::kInt8;
  int64_t group = 0;               // per-group weight scales (0: per channel)
  // 0: one zero and one negative scale (panel 0 takes the four-value fold); 1: signs alternate,
  // none zero (the int32 pooling, max and min lanes); 2: huge scales (products overflow to inf)
  // in panel 0, one subnormal product in panel 1 (the fold again); 3: an infinite bias.
  int scale_mode = 0;
  // kNM 2:4 weight with K in the checkpoint's (c, i, j) order, read from channels-last runs
  // (QConvPoolArgs::cij_channels = c; implicit only): the tables' 2:4 convolution.
  bool cij = false;
};

struct Built {
  std::vector<uint8_t> x;          // activation source the args address
  std::vector<int8_t> codes;       // int8 weight [n, k]
  std::vector<uint8_t> packed;     // int4 weight
  std::vector<float> scales, bias;
  std::vector<int8_t> dense_ijc;   // cij: the same weight as dense int8 codes, K in (i, j, c) order
  QWeights w;
  QConvPoolArgs a;
  int64_t out_elems = 0;
};

Built build(const ConvPoolCase& cc, unsigned seed) {
  std::mt19937 rng(seed);
  Built b;
  const int64_t oh = cc.h, ow = cc.w;  // 3x3, padding 1, stride 1
  const int64_t kdim = 9 * cc.c;
  int64_t k;
  const int32_t zx = cc.x_unsigned ? static_cast<int32_t>(rng() % 256) : 0;
  auto code = [&]() -> uint8_t {
    if (cc.extremes) {
      const uint32_t p = rng() % 3;
      return cc.x_unsigned ? (p == 0 ? 0 : p == 1 ? 255 : uint8_t(zx)) : (p == 0 ? 0x80 : p == 1 ? 0x7F : 0);
    }
    return static_cast<uint8_t>(rng());
  };
  const uint8_t pad = cc.x_unsigned ? static_cast<uint8_t>(zx) : 0;
  if (cc.implicit) {  // [images, h+2, w+2, c] with a border of pad codes
    k = kdim;
    const int64_t hp = cc.h + 2, wp = cc.w + 2;
    b.x.assign(static_cast<size_t>(cc.images * hp * wp * cc.c), pad);
    for (int64_t i = 0; i < cc.images; ++i)
      for (int64_t y = 1; y <= cc.h; ++y)
        for (int64_t xx = 1; xx <= cc.w; ++xx)
          for (int64_t ch = 0; ch < cc.c; ++ch) b.x[static_cast<size_t>(((i * hp + y) * wp + xx) * cc.c + ch)] = code();
    b.a.x_image = hp * wp * cc.c;
    b.a.x_row = wp * cc.c;
    b.a.x_pixel = cc.c;
    b.a.segs = 3;
    b.a.x_seg = wp * cc.c;
  } else {  // im2col rows of ld = K rounded up to 4, padding columns of pad codes
    k = (kdim + 3) / 4 * 4;
    std::vector<uint8_t> img(static_cast<size_t>(cc.h * cc.w * cc.c));
    b.x.resize(static_cast<size_t>(cc.images * oh * ow * k));
    const Conv2dGeom g{cc.c, cc.h, cc.w, 3, 3, 1, 1, 1, 1, oh, ow, 0};
    for (int64_t i = 0; i < cc.images; ++i) {
      for (auto& v : img) v = code();
      x8_im2col_nhwc_ref(img.data(), g, pad, k, b.x.data() + i * oh * ow * k);
    }
    b.a.x_image = oh * ow * k;
    b.a.x_row = ow * k;
    b.a.x_pixel = k;
    b.a.segs = 1;
  }
  b.a.x = b.x.data();
  b.a.x_unsigned = cc.x_unsigned;
  b.a.zero_point = zx;
  b.a.sx = 0.0123f;
  b.a.images = cc.images;
  b.a.pooled_h = oh / 2;
  b.a.pooled_w = ow / 2;
  b.a.relu_before = cc.relu_before;
  b.a.relu_after = cc.relu_after;
  b.a.y_image = b.a.pooled_h * b.a.pooled_w * cc.n;
  b.a.y_row = b.a.pooled_w * cc.n;
  b.a.out_codes = cc.out_codes;
  b.a.out_unsigned = cc.out_unsigned;
  b.a.out_scale = cc.extremes ? 0.001f : 0.05f;  // tiny: most values clamp
  b.a.out_zero_point = cc.out_unsigned ? 37 : 0;
  b.a.out_qmin = cc.out_unsigned ? 0 : -127;
  b.a.out_qmax = cc.out_unsigned ? 255 : 127;
  b.out_elems = cc.images * b.a.y_image;

  const int64_t groups = cc.group > 0 ? k / cc.group : 1;
  b.codes.resize(static_cast<size_t>(cc.n * k));
  for (auto& v : b.codes)
    v = cc.extremes ? static_cast<int8_t>(rng() % 2 ? 127 : -127)
                    : static_cast<int8_t>(static_cast<int>(rng() % (cc.kind == QWeightKind::kInt4 ? 16 : 255)) -
                                          (cc.kind == QWeightKind::kInt4 ? 8 : 127));
  b.scales.resize(static_cast<size_t>(cc.n * groups));
  std::uniform_real_distribution<float> us(0.001f, 0.02f);
  for (size_t i = 0; i < b.scales.size(); ++i) {
    switch (cc.scale_mode) {
      case 1: b.scales[i] = i % 2 ? -us(rng) : us(rng); break;
      case 2: b.scales[i] = i < 16 ? (i % 3 ? 1e36f : -1e36f) : i == 20 ? 1e-40f : us(rng); break;
      default: b.scales[i] = i == 3 ? 0.0f : i == 5 ? -us(rng) : us(rng);
    }
  }
  b.bias.resize(static_cast<size_t>(cc.n));
  std::normal_distribution<float> nb(0.0f, 2.0f);
  for (size_t i = 0; i < b.bias.size(); ++i) b.bias[i] = i % 7 == 1 ? -0.0f : nb(rng);
  if (cc.scale_mode == 3) b.bias[2] = -std::numeric_limits<float>::infinity();
  if (cc.cij) {  // 2:4 along the (c, i, j) K: keep 2 (sometimes fewer) of every 4, compress
    for (int64_t r = 0; r < cc.n; ++r)
      for (int64_t g = 0; g < k / 4; ++g) {
        const int keep = rng() % 8 == 0 ? static_cast<int>(rng() % 2) : 2;
        int pos[4] = {0, 1, 2, 3};
        std::shuffle(pos, pos + 4, rng);
        for (int q = keep; q < 4; ++q) b.codes[static_cast<size_t>(r * k + g * 4 + pos[q])] = 0;
      }
    b.dense_ijc.resize(b.codes.size());
    for (int64_t r = 0; r < cc.n; ++r)
      for (int64_t ch = 0; ch < cc.c; ++ch)
        for (int64_t ij = 0; ij < 9; ++ij)
          b.dense_ijc[static_cast<size_t>(r * k + ij * cc.c + ch)] = b.codes[static_cast<size_t>(r * k + ch * 9 + ij)];
    const NMCompressed<int8_t> nm = nm_compress(b.codes.data(), cc.n, k, NMPattern{2, 4});
    b.codes = nm.values;
    b.packed = nm.indices;
    b.w.kind = QWeightKind::kNM;
    b.w.nm_n = 2;
    b.w.nm_m = 4;
    b.w.n = cc.n;
    b.w.k = k;
    b.w.codes = b.codes.data();
    b.w.packed = b.packed.data();
    b.w.scales = b.scales.data();
    b.a.cij_channels = cc.c;
    return b;
  }
  b.w.kind = cc.kind;
  b.w.n = cc.n;
  b.w.k = k;
  b.w.scales = b.scales.data();
  b.w.per_group = cc.group > 0;
  b.w.group_size = cc.group;
  if (cc.kind == QWeightKind::kInt4) {
    const int64_t rb = (k + 1) / 2;
    b.packed.assign(static_cast<size_t>(cc.n * rb), 0);
    for (int64_t r = 0; r < cc.n; ++r)
      for (int64_t j = 0; j < k; ++j)
        b.packed[static_cast<size_t>(r * rb + j / 2)] |=
            static_cast<uint8_t>((b.codes[static_cast<size_t>(r * k + j)] & 0xF) << (4 * (j & 1)));
    b.w.packed = b.packed.data();
  } else {
    b.w.codes = b.codes.data();
  }
  return b;
}

std::vector<uint8_t> run(const QConvPoolFn fn, Built& b, const QWeights& w) {
  const int64_t esize = b.a.out_codes ? 1 : 4;
  std::vector<uint8_t> y(static_cast<size_t>(b.out_elems * esize), 0xCD);
  QConvPoolArgs a = b.a;
  a.y = y.data();
  fn(a, w, b.w.n && !b.bias.empty() ? b.bias.data() : nullptr);
  return y;
}

// The unfused reference composition over the whole conv output (what the conv op does without
// the fused entry).
std::vector<uint8_t> composed(Built& b, const ConvPoolCase& cc) {
  const int64_t oh = cc.h, ow = cc.w, k = b.w.k, rows = oh * ow;
  std::vector<uint8_t> col(static_cast<size_t>(rows * k));
  std::vector<float> y(static_cast<size_t>(rows * cc.n)), pooled(static_cast<size_t>(b.a.y_image));
  std::vector<uint8_t> out(static_cast<size_t>(b.out_elems * (b.a.out_codes ? 1 : 4)));
  const QActs acts{col.data(), b.a.zero_point, &b.a.sx, 0};
  const QGemmFn gemm = cc.kind == QWeightKind::kInt4 ? (cc.x_unsigned ? qu8_qs4w_gemm_f32_ref : qs8_qs4w_gemm_f32_ref)
                                                     : (cc.x_unsigned ? qu8_qs8w_gemm_f32_ref : qs8_qs8w_gemm_f32_ref);
  const Conv2dGeom pg{0, oh, ow, 2, 2, 2, 2, 0, 0, oh / 2, ow / 2, 0};
  const int64_t seg = k / b.a.segs;
  for (int64_t i = 0; i < cc.images; ++i) {
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t s = 0; s < b.a.segs; ++s)
          std::memcpy(col.data() + (oy * ow + ox) * k + s * seg,
                      b.x.data() + i * b.a.x_image + oy * b.a.x_row + ox * b.a.x_pixel + s * b.a.x_seg,
                      static_cast<size_t>(seg));
    gemm(rows, acts, b.w, cc.bias ? b.bias.data() : nullptr, y.data());
    f32_maxpool2d_nhwc_ref(y.data(), 1, cc.n, pg, cc.relu_before, pooled.data());
    if (cc.relu_after) f32_relu_ref(pooled.data(), b.a.y_image, pooled.data());
    if (!b.a.out_codes)
      std::memcpy(out.data() + i * b.a.y_image * 4, pooled.data(), pooled.size() * 4);
    else if (b.a.out_unsigned)
      f32_quantize_u8_ref(pooled.data(), b.a.y_image, b.a.out_scale, b.a.out_zero_point, b.a.out_qmin, b.a.out_qmax,
                          out.data() + i * b.a.y_image);
    else
      f32_quantize_s8_ref(pooled.data(), b.a.y_image, b.a.out_scale, b.a.out_qmin, b.a.out_qmax,
                          reinterpret_cast<int8_t*>(out.data() + i * b.a.y_image));
  }
  return out;
}

std::vector<ConvPoolCase> conv_pool_cases() {
  std::vector<ConvPoolCase> v;
  //            imgs  c   h   w   n  impl   xu8    codes  ou8    bias   rb     ra     ext
  v.push_back({3, 1, 28, 28, 32, false, true, true, true, true, true, false, false});   // first conv
  v.push_back({2, 32, 14, 14, 64, true, true, false, true, true, true, false, false});  // second conv
  v.push_back({2, 32, 14, 14, 64, false, true, true, true, true, true, false, false});
  v.push_back({2, 3, 9, 7, 20, false, false, true, false, false, false, true, false});  // odd, s8, partial panel
  v.push_back({1, 4, 7, 9, 80, true, false, false, true, true, true, true, false});     // 5 panels
  v.push_back({2, 8, 6, 6, 16, true, true, true, true, true, false, false, true});      // clamps
  v.push_back({2, 1, 5, 11, 48, false, true, true, false, true, false, false, true});
  v.push_back({1, 2, 3, 3, 33, false, true, false, true, false, true, true, false});    // pooled 1x1
  ConvPoolCase c4{2, 4, 6, 6, 32, true, true, true, true, true, true, false, false};
  c4.kind = QWeightKind::kInt4;  // not the fused kernel's: exact fallback
  v.push_back(c4);
  ConvPoolCase cg{2, 4, 6, 6, 32, true, true, true, true, true, true, false, false};
  cg.group = 12;  // per group
  v.push_back(cg);
  v.push_back({2, 3, 6, 6, 16, true, true, true, true, true, true, false, false});  // runs of 9 codes
  // Pooling in int32 (monotone epilogue) and the lanes that must not take it.
  for (int mode : {1, 2, 3}) {
    for (bool rb : {false, true}) {
      ConvPoolCase m1{3, 1, 28, 28, 32, false, true, true, true, true, rb, !rb, false};
      m1.scale_mode = mode;
      v.push_back(m1);
      ConvPoolCase m2{2, 32, 6, 6, 64, true, false, false, true, mode != 1, rb, false, mode == 2};
      m2.scale_mode = mode;
      v.push_back(m2);
    }
  }
  return v;
}

// The 2:4 convolution's cases (cij): c a multiple of 4 so that K = 9 c holds whole groups of 4.
std::vector<ConvPoolCase> sp24_cases() {
  std::vector<ConvPoolCase> v;
  //            imgs  c   h   w   n  impl  xu8    codes  ou8    bias   rb     ra     ext
  v.push_back({2, 32, 14, 14, 64, true, true, true, true, true, true, false, false});  // the CNN's conv2
  v.push_back({2, 4, 6, 6, 20, true, false, false, false, true, true, true, false});   // K = 36: half a step, s8
  v.push_back({1, 12, 7, 9, 80, true, true, true, false, true, false, true, false});   // K = 108, 5 panels, odd
  v.push_back({2, 8, 6, 6, 16, true, true, true, true, true, true, false, true});      // clamps
  v.push_back({2, 20, 5, 5, 48, true, false, true, true, false, true, true, false});   // K = 180, pooled 2x2
  // K = 576: a block's codes span more than the shared window reads hold; the AVX-512 table
  // declines the weight (its dense conv is faster there) and the entry must stay exact anyway.
  v.push_back({1, 64, 4, 4, 32, true, true, true, true, true, true, false, false});
  v.push_back({1, 64, 4, 6, 64, true, false, true, true, true, false, true, false});
  for (int mode : {1, 2, 3}) {
    ConvPoolCase m{2, 32, 6, 6, 64, true, mode != 2, false, true, mode != 1, true, false, mode == 2};
    m.scale_mode = mode;
    v.push_back(m);
  }
  for (auto& c : v) {
    c.cij = true;
    c.kind = QWeightKind::kNM;
  }
  return v;
}

TEST(ConvPoolRef, CijOrderIsThePermutedDenseConv) {
  // The reference reading K in (c, i, j) order from channels-last runs equals the reference on
  // the same codes as a dense (i, j, c) weight read run by run: the permutation the conv op
  // applies to its weight otherwise.
  unsigned seed = 11;
  for (const ConvPoolCase& cc : sp24_cases()) {
    Built b = build(cc, seed++);
    if (!cc.bias) b.bias.clear();
    QWeights dense;
    dense.kind = QWeightKind::kInt8;
    dense.n = b.w.n;
    dense.k = b.w.k;
    dense.codes = b.dense_ijc.data();
    dense.scales = b.w.scales;
    Built plain = b;
    plain.a.cij_channels = 0;
    EXPECT_EQ(run(x8_conv2d_pool_ref, b, b.w), run(x8_conv2d_pool_ref, plain, dense)) << "case c=" << cc.c << " n=" << cc.n;
  }
}

TEST(ConvPoolRef, IsTheUnfusedComposition) {
  unsigned seed = 7;
  for (const ConvPoolCase& cc : conv_pool_cases()) {
    Built b = build(cc, seed++);
    if (!cc.bias) b.bias.clear();
    EXPECT_EQ(run(x8_conv2d_pool_ref, b, b.w), composed(b, cc)) << "case c=" << cc.c << " n=" << cc.n;
  }
}

class ConvPoolTables : public ::testing::TestWithParam<std::string> {
 protected:
  void TearDown() override { set_num_threads(0); }
};

TEST_P(ConvPoolTables, FusedBitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  if (!t.qconv_pool) GTEST_SKIP() << t.name << " has no fused conv + pool entry (the op composes qgemm, pool, quantize)";
  unsigned seed = 100;
  for (const ConvPoolCase& cc : conv_pool_cases()) {
    Built b = build(cc, seed++);
    if (!cc.bias) b.bias.clear();
    const std::vector<uint8_t> want = run(x8_conv2d_pool_ref, b, b.w);
    std::unique_ptr<PreparedQWeights> prep = t.prepare_qweights ? t.prepare_qweights(b.w) : nullptr;
    QWeights w = b.w;
    w.prepared = prep.get();
    for (bool int32_pooling : {true, false}) {
      x86::set_conv_pool_int32_pooling(int32_pooling);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        EXPECT_EQ(run(t.qconv_pool, b, w), want)
            << t.name << " threads " << threads << " c=" << cc.c << " h=" << cc.h << " w=" << cc.w << " n=" << cc.n
            << (cc.implicit ? " implicit" : " im2col") << " scale_mode " << cc.scale_mode
            << (int32_pooling ? " int32 pooling" : " float fold");
      }
    }
    x86::set_conv_pool_int32_pooling(true);
    QWeights unprepared = b.w;  // no packing: the entry must still be exact
    EXPECT_EQ(run(t.qconv_pool, b, unprepared), want) << t.name << " unprepared";
  }
}

TEST_P(ConvPoolTables, Sparse24BitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  if (!t.qconv_pool) GTEST_SKIP() << t.name << " has no fused conv + pool entry (the op composes qgemm, pool, quantize)";
  unsigned seed = 300;
  for (const ConvPoolCase& cc : sp24_cases()) {
    Built b = build(cc, seed++);
    if (!cc.bias) b.bias.clear();
    const std::vector<uint8_t> want = run(x8_conv2d_pool_ref, b, b.w);
    std::unique_ptr<PreparedQWeights> prep = t.prepare_qconv_pool ? t.prepare_qconv_pool(b.w, cc.c, 3, 3) : nullptr;
    if (std::string(t.name) == "avx512vnni") {  // the table's own 2:4 path where it has one, not a silent fallback
      ASSERT_EQ(prep != nullptr, x86::cij_window_fits(cc.c, 3, 3)) << "avx512vnni packs 2:4 conv weights, c=" << cc.c;
    }
    QWeights w = b.w;
    w.prepared = prep.get();
    for (bool int32_pooling : {true, false}) {
      x86::set_conv_pool_int32_pooling(int32_pooling);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        EXPECT_EQ(run(t.qconv_pool, b, w), want)
            << t.name << " 2:4 threads " << threads << " c=" << cc.c << " h=" << cc.h << " w=" << cc.w << " n=" << cc.n
            << " scale_mode " << cc.scale_mode << (int32_pooling ? " int32 pooling" : " float fold");
      }
    }
    x86::set_conv_pool_int32_pooling(true);
    // The GEMM packing (prepare_qweights) is not the conv's: the entry must notice and stay exact.
    std::unique_ptr<PreparedQWeights> gemm_prep = t.prepare_qweights ? t.prepare_qweights(b.w) : nullptr;
    QWeights other = b.w;
    other.prepared = gemm_prep.get();
    EXPECT_EQ(run(t.qconv_pool, b, other), want) << t.name << " 2:4 with another packing";
  }
}

INSTANTIATE_TEST_SUITE_P(AllTables, ConvPoolTables, ::testing::ValuesIn(qf::kernels::test::kernel_table_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace qf::kernels
