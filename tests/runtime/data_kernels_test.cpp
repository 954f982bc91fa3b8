// The data-touching entries of every kernel table this CPU can run (maxpool2d, maxpool2d_nhwc, quantize_u8 /
// _s8 / _per_row_s8, im2col f32 / u8 / s8, transpose) against the reference entries, bit for bit
// (memcmp, tolerance 0), with 1 and 2 threads: awkward sizes (1, odd, not multiples of the
// vector width, 1x1 planes, kernel 3 stride 2 padding 1), NaN payloads, signed zeros, infinities,
// values at the clamps and exact .5 ties for the quantizers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "qgemm_tester.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/threads.h"

namespace qf::kernels {
namespace {


template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

float nan_with_payload(uint32_t payload, bool negative) {
  uint32_t u = 0x7FC00000u | (payload & 0x3FFFFFu) | (negative ? 0x80000000u : 0u);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Random floats with the values that break careless vector code mixed in: NaNs of several
// payloads and signs, +-0, +-inf, and many exact ties (values on a coarse grid).
std::vector<float> tricky_floats(int64_t n, unsigned seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, stddev);
  std::uniform_int_distribution<int> pick(0, 99);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    const int p = pick(rng);
    if (p < 2) x = nan_with_payload(rng(), p == 0);
    else if (p < 4) x = p == 2 ? 0.0f : -0.0f;
    else if (p < 5) x = (rng() & 1) ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
    else if (p < 35) x = std::round(nd(rng) * 2.0f) / 2.0f;  // ties
    else x = nd(rng);
  }
  return v;
}

class DataTables : public ::testing::TestWithParam<std::string> {
 protected:
  void TearDown() override { set_num_threads(0); }
};

struct PoolCase {
  int64_t planes, h, w, kh, kw, sh, sw, ph, pw;
};

TEST_P(DataTables, MaxPoolBitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  const KernelTable& ref = ref_kernel_table();
  const std::vector<PoolCase> cases = {
      {3, 28, 28, 2, 2, 2, 2, 0, 0}, {5, 14, 14, 2, 2, 2, 2, 0, 0}, {4, 7, 7, 2, 2, 2, 2, 0, 0},
      {2, 5, 37, 2, 2, 2, 2, 0, 0},  {3, 33, 71, 2, 2, 2, 2, 0, 0}, {7, 2, 2, 2, 2, 2, 2, 0, 0},
      {2, 3, 3, 2, 2, 2, 2, 0, 0},   {9, 1, 1, 1, 1, 1, 1, 0, 0},   {3, 14, 14, 3, 3, 2, 2, 1, 1},
      {2, 15, 17, 3, 3, 2, 2, 1, 1}, {2, 9, 40, 3, 3, 1, 1, 1, 1},  {2, 6, 33, 3, 2, 1, 1, 1, 0},
      {3, 8, 19, 2, 3, 2, 1, 0, 1},  {2, 11, 13, 3, 3, 3, 3, 0, 0}, {1, 5, 5, 5, 5, 1, 1, 2, 2},
      {2, 4, 20, 1, 1, 1, 1, 0, 0},  {300, 28, 28, 2, 2, 2, 2, 0, 0},  // large enough for 2 threads
      {120, 30, 30, 3, 3, 1, 1, 1, 1}};
  unsigned seed = 1;
  for (const PoolCase& c : cases) {
    const Conv2dGeom g{1, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, (c.h + 2 * c.ph - c.kh) / c.sh + 1,
                       (c.w + 2 * c.pw - c.kw) / c.sw + 1, c.h * c.w};
    const std::vector<float> x = tricky_floats(c.planes * c.h * c.w, seed++);
    const size_t ny = static_cast<size_t>(c.planes * g.oh * g.ow);
    std::vector<float> want(ny), got(ny);
    ref.maxpool2d(x.data(), c.planes, g, want.data());
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::fill(got.begin(), got.end(), 123.0f);
      t.maxpool2d(x.data(), c.planes, g, got.data());
      EXPECT_TRUE(same_bits(want, got)) << t.name << " planes " << c.planes << " " << c.h << "x" << c.w << " k"
                                        << c.kh << "x" << c.kw << " s" << c.sh << "x" << c.sw << " p" << c.ph
                                        << "x" << c.pw << " threads " << threads;
    }
  }
}

// maxpool2d_nhwc of every table against the reference's plane-by-plane maxpool2d (the NCHW
// kernel pools each channel's plane; the channels-last one must give the same bits per channel).
TEST_P(DataTables, MaxPoolNhwcBitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  const KernelTable& ref = ref_kernel_table();
  const std::vector<PoolCase> cases = {
      {3, 28, 28, 2, 2, 2, 2, 0, 0}, {2, 7, 7, 2, 2, 2, 2, 0, 0},  {2, 5, 9, 2, 2, 2, 2, 0, 0},
      {1, 1, 1, 1, 1, 1, 1, 0, 0},   {2, 15, 17, 3, 3, 2, 2, 1, 1}, {2, 6, 13, 3, 2, 1, 1, 1, 0},
      {1, 5, 5, 5, 5, 1, 1, 2, 2},   {40, 28, 28, 2, 2, 2, 2, 0, 0}};  // the last: 2 threads
  unsigned seed = 7;
  for (const PoolCase& c : cases)
    for (int64_t ch : {1, 5, 8, 16, 17, 32, 33}) {
      const Conv2dGeom g{0, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, (c.h + 2 * c.ph - c.kh) / c.sh + 1,
                         (c.w + 2 * c.pw - c.kw) / c.sw + 1, 0};
      const int64_t imgs = c.planes, hw = c.h * c.w, q = g.oh * g.ow;
      const std::vector<float> x = tricky_floats(imgs * hw * ch, seed++);  // [imgs, h, w, ch]
      std::vector<float> planes(x.size());
      for (int64_t b = 0; b < imgs; ++b)
        for (int64_t p = 0; p < hw; ++p)
          for (int64_t k = 0; k < ch; ++k) planes[static_cast<size_t>((b * ch + k) * hw + p)] = x[static_cast<size_t>((b * hw + p) * ch + k)];
      for (bool relu : {false, true}) {
        // The oracle: relu (the reference kernel) then the reference's plane-by-plane maxpool.
        std::vector<float> src = planes;
        if (relu) ref.relu(planes.data(), static_cast<int64_t>(planes.size()), src.data());
        std::vector<float> pooled(static_cast<size_t>(imgs * ch * q));
        ref.maxpool2d(src.data(), imgs * ch, g, pooled.data());
        std::vector<float> want(pooled.size()), got(pooled.size());
        for (int64_t b = 0; b < imgs; ++b)
          for (int64_t p = 0; p < q; ++p)
            for (int64_t k = 0; k < ch; ++k)
              want[static_cast<size_t>((b * q + p) * ch + k)] = pooled[static_cast<size_t>((b * ch + k) * q + p)];
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          std::fill(got.begin(), got.end(), 123.0f);
          t.maxpool2d_nhwc(x.data(), imgs, ch, g, relu, got.data());
          EXPECT_TRUE(same_bits(want, got)) << t.name << " images " << imgs << " channels " << ch << " " << c.h << "x"
                                            << c.w << " k" << c.kh << "x" << c.kw << " s" << c.sh << "x" << c.sw << " p"
                                            << c.ph << "x" << c.pw << " relu " << relu << " threads " << threads;
        }
      }
    }
}

// im2col_nhwc_x8 of every table against the reference, and the reference against the NCHW
// im2col with its K axis permuted from (c, i, j) to (i, j, c): the same patches, reordered.
TEST_P(DataTables, Im2colNhwcBitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  const KernelTable& ref = ref_kernel_table();
  struct C {
    int64_t c, h, w, kh, kw, sh, sw, ph, pw;
  };
  const std::vector<C> cases = {{32, 14, 14, 3, 3, 1, 1, 1, 1}, {1, 28, 28, 3, 3, 1, 1, 1, 1}, {3, 5, 7, 3, 2, 2, 1, 1, 0},
                                {5, 4, 4, 5, 5, 1, 1, 2, 2},    {17, 9, 11, 1, 1, 2, 2, 0, 0}, {2, 3, 3, 3, 3, 1, 1, 4, 4},
                                {1, 5, 7, 3, 3, 1, 1, 1, 1},    {1, 3, 40, 3, 3, 1, 1, 0, 0},  {1, 1, 1, 3, 3, 1, 1, 1, 1},
                                {1, 17, 33, 3, 3, 1, 1, 1, 0},  {1, 90, 70, 3, 3, 1, 1, 1, 1},
                                {64, 20, 20, 3, 3, 1, 1, 1, 1}};  // the last two: 2 threads
  std::mt19937 rng(5);
  for (const C& c : cases) {
    const Conv2dGeom g{c.c, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, (c.h + 2 * c.ph - c.kh) / c.sh + 1,
                       (c.w + 2 * c.pw - c.kw) / c.sw + 1, c.h * c.w};
    const int64_t hw = c.h * c.w, p = g.oh * g.ow, kdim = c.c * c.kh * c.kw;
    std::vector<uint8_t> nhwc(static_cast<size_t>(hw * c.c)), nchw(nhwc.size());
    for (auto& v : nhwc) v = static_cast<uint8_t>(rng());
    for (int64_t q = 0; q < hw; ++q)
      for (int64_t k = 0; k < c.c; ++k) nchw[static_cast<size_t>(k * hw + q)] = nhwc[static_cast<size_t>(q * c.c + k)];
    std::vector<uint8_t> planar(static_cast<size_t>(p * kdim)), want(planar.size()), got(planar.size());
    ref.im2col_u8(nchw.data(), g, 77, planar.data());
    for (int64_t r = 0; r < p; ++r)
      for (int64_t k = 0; k < c.c; ++k)
        for (int64_t ij = 0; ij < c.kh * c.kw; ++ij)
          want[static_cast<size_t>(r * kdim + ij * c.c + k)] = planar[static_cast<size_t>(r * kdim + k * c.kh * c.kw + ij)];
    ref.im2col_nhwc_x8(nhwc.data(), g, 77, kdim, got.data());
    EXPECT_TRUE(same_bits(want, got)) << "ref vs permuted NCHW im2col, c " << c.c << " " << c.h << "x" << c.w;
    // Rows padded to a multiple of 4 (the GEMM's k-block; a 3x3 one-channel conv's 12 is the
    // AVX-512 table's vpermb path), and 3 more: the extra columns hold the pad value.
    for (int64_t ld : {kdim, (kdim + 3) / 4 * 4, (kdim + 3) / 4 * 4 + 3}) {
      std::vector<uint8_t> want_ld(static_cast<size_t>(p * ld), 77), got_ld(want_ld.size());
      for (int64_t r = 0; r < p; ++r)
        std::copy(want.begin() + r * kdim, want.begin() + (r + 1) * kdim, want_ld.begin() + r * ld);
      for (const KernelTable* k : {&ref, &t})
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          std::fill(got_ld.begin(), got_ld.end(), uint8_t{1});
          k->im2col_nhwc_x8(nhwc.data(), g, 77, ld, got_ld.data());
          EXPECT_TRUE(same_bits(want_ld, got_ld)) << k->name << " c " << c.c << " " << c.h << "x" << c.w << " k" << c.kh
                                                  << "x" << c.kw << " s" << c.sh << " p" << c.ph << "x" << c.pw
                                                  << " ldcol " << ld << " threads " << threads;
        }
    }
  }
}

// Values that land exactly on .5 ties, on the clamps and just past them, for scale s (a power
// of two, so (k + 0.5) * s / s is exact) and zero point z.
std::vector<float> quant_edges(float s, int32_t z, int32_t qmin, int32_t qmax) {
  std::vector<float> v;
  for (int32_t k = qmin - z - 3; k <= qmax - z + 3; ++k) {
    v.push_back((static_cast<float>(k) + 0.5f) * s);
    v.push_back(static_cast<float>(k) * s);
    v.push_back((static_cast<float>(k) - 0.5f) * s);
    v.push_back(std::nextafter((static_cast<float>(k) + 0.5f) * s, 1e30f));
  }
  for (float f : {0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  3e38f, -3e38f, 1e-40f, -1e-40f})
    v.push_back(f);
  v.push_back(nan_with_payload(1, false));
  v.push_back(nan_with_payload(77, true));
  return v;
}

TEST_P(DataTables, QuantizeBitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  const KernelTable& ref = ref_kernel_table();
  struct Q {
    float scale;
    int32_t z, qmin, qmax;
  };
  const std::vector<Q> u8 = {{0.125f, 0, 0, 255}, {0.0625f, 128, 0, 255}, {0.5f, 3, 0, 15}, {0.0371f, 17, 0, 255}};
  const std::vector<Q> s8 = {{0.125f, 0, -127, 127}, {0.25f, 0, -128, 127}, {0.5f, 0, -7, 7}, {0.0213f, 0, -127, 127}};
  unsigned seed = 100;
  for (int64_t n : {0, 1, 7, 15, 16, 17, 31, 33, 64, 100, 1001, 600000}) {
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (const Q& q : u8) {
        std::vector<float> x = tricky_floats(n, seed++, 20.0f * q.scale * 16);
        const std::vector<float> e = quant_edges(q.scale, q.z, q.qmin, q.qmax);
        for (size_t i = 0; i < x.size(); ++i)
          if (i % 3 == 0) x[i] = e[i % e.size()];
        std::vector<uint8_t> want(x.size()), got(x.size(), 0xAB);
        ref.quantize_u8(x.data(), n, q.scale, q.z, q.qmin, q.qmax, want.data());
        t.quantize_u8(x.data(), n, q.scale, q.z, q.qmin, q.qmax, got.data());
        EXPECT_TRUE(same_bits(want, got)) << t.name << " u8 n " << n << " s " << q.scale << " z " << q.z
                                          << " threads " << threads;
      }
      for (const Q& q : s8) {
        std::vector<float> x = tricky_floats(n, seed++, 20.0f * q.scale * 8);
        const std::vector<float> e = quant_edges(q.scale, 0, q.qmin, q.qmax);
        for (size_t i = 0; i < x.size(); ++i)
          if (i % 3 == 0) x[i] = e[i % e.size()];
        std::vector<int8_t> want(x.size()), got(x.size(), 0x55);
        ref.quantize_s8(x.data(), n, q.scale, q.qmin, q.qmax, want.data());
        t.quantize_s8(x.data(), n, q.scale, q.qmin, q.qmax, got.data());
        EXPECT_TRUE(same_bits(want, got)) << t.name << " s8 n " << n << " s " << q.scale << " threads " << threads;
      }
    }
  }
  // Every edge value alone (the vector tails too): n = edges, each at every lane position.
  const std::vector<float> e = quant_edges(0.125f, 5, 0, 255);
  std::vector<uint8_t> want(e.size()), got(e.size());
  ref.quantize_u8(e.data(), static_cast<int64_t>(e.size()), 0.125f, 5, 0, 255, want.data());
  t.quantize_u8(e.data(), static_cast<int64_t>(e.size()), 0.125f, 5, 0, 255, got.data());
  EXPECT_TRUE(same_bits(want, got)) << t.name << " edges";
}

TEST_P(DataTables, QuantizePerRowBitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  const KernelTable& ref = ref_kernel_table();
  struct RC {
    int64_t rows, cols;
  };
  unsigned seed = 500;
  for (const RC& c : std::vector<RC>{{1, 1}, {3, 7}, {5, 16}, {17, 33}, {4, 15}, {64, 300}, {2000, 200}}) {
    std::vector<float> x = tricky_floats(c.rows * c.cols, seed++, 3.0f);
    // Row 0: all zeros (scale 1); row 1 (if any): tiny values (scale kMinScale); row 2: only NaN
    // and zeros; row 3: exact ties of a power-of-two scale (absmax 127 * 2^-4).
    auto row = [&](int64_t r) { return x.data() + r * c.cols; };
    std::fill(row(0), row(0) + c.cols, 0.0f);
    if (c.rows > 1)
      for (int64_t k = 0; k < c.cols; ++k) row(1)[k] = (k % 2 ? 1e-38f : -3e-40f);
    if (c.rows > 2)
      for (int64_t k = 0; k < c.cols; ++k) row(2)[k] = k % 3 ? -0.0f : nan_with_payload(static_cast<uint32_t>(k), k % 2);
    if (c.rows > 3)
      for (int64_t k = 0; k < c.cols; ++k)
        row(3)[k] = k == 0 ? 127.0f / 16 : (static_cast<float>(k % 253) - 126.0f + 0.5f) / 16;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<int8_t> want(x.size()), got(x.size(), 0x55);
      std::vector<float> ws(static_cast<size_t>(c.rows)), gs(static_cast<size_t>(c.rows), -1.0f);
      ref.quantize_per_row_s8(x.data(), c.rows, c.cols, want.data(), ws.data());
      t.quantize_per_row_s8(x.data(), c.rows, c.cols, got.data(), gs.data());
      EXPECT_TRUE(same_bits(want, got)) << t.name << " codes " << c.rows << "x" << c.cols << " threads " << threads;
      EXPECT_TRUE(same_bits(ws, gs)) << t.name << " scales " << c.rows << "x" << c.cols << " threads " << threads;
    }
  }
}

struct ColCase {
  int64_t c, h, w, kh, kw, sh, sw, ph, pw, channel_stride_extra;
};

TEST_P(DataTables, Im2colBitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  const KernelTable& ref = ref_kernel_table();
  const std::vector<ColCase> cases = {
      {1, 28, 28, 3, 3, 1, 1, 1, 1, 0}, {32, 14, 14, 3, 3, 1, 1, 1, 1, 0}, {5, 7, 9, 3, 3, 2, 2, 1, 1, 0},
      {1, 1, 1, 1, 1, 1, 1, 0, 0, 0},   {2, 5, 5, 5, 5, 1, 1, 2, 2, 0},    {4, 8, 6, 2, 3, 2, 1, 0, 1, 3},
      {3, 9, 11, 1, 1, 2, 2, 0, 0, 0},  {2, 6, 17, 3, 3, 1, 2, 0, 1, 5},   {3, 2, 2, 3, 3, 1, 1, 1, 1, 0},
      {7, 13, 12, 4, 4, 3, 3, 2, 2, 0}, {64, 40, 40, 3, 3, 1, 1, 1, 1, 0}};  // the last: 2 threads
  unsigned seed = 900;
  for (const ColCase& cc : cases) {
    const int64_t cs = cc.h * cc.w + cc.channel_stride_extra;
    const Conv2dGeom g{cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.sh, cc.sw, cc.ph, cc.pw,
                       (cc.h + 2 * cc.ph - cc.kh) / cc.sh + 1, (cc.w + 2 * cc.pw - cc.kw) / cc.sw + 1, cs};
    const int64_t in_n = cc.c * cs, col_n = g.oh * g.ow * cc.c * cc.kh * cc.kw;
    const std::vector<float> xf = tricky_floats(in_n, seed++);
    std::mt19937 rng(seed++);
    std::vector<uint8_t> xu(static_cast<size_t>(in_n));
    for (auto& b : xu) b = static_cast<uint8_t>(rng());
    std::vector<int8_t> xs(xu.size());
    std::memcpy(xs.data(), xu.data(), xu.size());
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      const std::string what = std::string(t.name) + " c" + std::to_string(cc.c) + " " + std::to_string(cc.h) + "x" +
                                std::to_string(cc.w) + " k" + std::to_string(cc.kh) + "x" + std::to_string(cc.kw) +
                                " threads " + std::to_string(threads);
      {
        std::vector<float> want(static_cast<size_t>(col_n)), got(want.size(), 7.0f);
        ref.im2col_f32(xf.data(), g, -2.5f, want.data());
        t.im2col_f32(xf.data(), g, -2.5f, got.data());
        EXPECT_TRUE(same_bits(want, got)) << what << " f32";
      }
      {
        std::vector<uint8_t> want(static_cast<size_t>(col_n)), got(want.size(), 1);
        ref.im2col_u8(xu.data(), g, 131, want.data());
        t.im2col_u8(xu.data(), g, 131, got.data());
        EXPECT_TRUE(same_bits(want, got)) << what << " u8";
      }
      {
        std::vector<int8_t> want(static_cast<size_t>(col_n)), got(want.size(), 1);
        ref.im2col_s8(xs.data(), g, -3, want.data());
        t.im2col_s8(xs.data(), g, -3, got.data());
        EXPECT_TRUE(same_bits(want, got)) << what << " s8";
      }
    }
  }
}

TEST_P(DataTables, TransposeBitIdentical) {
  const KernelTable& t = kernel_table_for_isa(GetParam());
  const KernelTable& ref = ref_kernel_table();
  struct RC {
    int64_t rows, cols;
  };
  unsigned seed = 1300;
  for (const RC& c : std::vector<RC>{{1, 1}, {1, 17}, {17, 1}, {196, 64}, {784, 32}, {33, 65}, {49, 10}, {1000, 300}}) {
    const std::vector<float> x = tricky_floats(c.rows * c.cols, seed++);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> want(x.size()), got(x.size(), 5.0f);
      ref.transpose(x.data(), c.rows, c.cols, want.data());
      t.transpose(x.data(), c.rows, c.cols, got.data());
      EXPECT_TRUE(same_bits(want, got)) << t.name << " " << c.rows << "x" << c.cols << " threads " << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTables, DataTables, ::testing::ValuesIn(qf::kernels::test::kernel_table_names()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace qf::kernels
