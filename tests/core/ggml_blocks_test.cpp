// Q4_0 / Q8_0 against ggml's reference quantizers: hand-computed blocks (ties, half-way codes,
// the fp16 rounding of d, all-zero and extreme blocks) and random rows compared with a second,
// literal transcription of quantize_row_q4_0_ref / quantize_row_q8_0_ref whose fp16 conversion is
// the CPU's own F16C instruction (an outside oracle for the rounding of d).
#include <gtest/gtest.h>

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/ggml_blocks.h"

namespace qf {
namespace {

bool have_f16c() { return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c"); }

__attribute__((target("f16c"))) uint16_t hw_fp32_to_fp16(float x) {
  return static_cast<uint16_t>(_cvtss_sh(x, 0));  // 0: round to nearest even
}
__attribute__((target("f16c"))) float hw_fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }

// ggml's reference, transcribed statement by statement (MIN/MAX macros, (int8_t) casts, roundf).
void oracle_q4_0(const float* x, int64_t k, BlockQ4_0* y) {
  for (int64_t i = 0; i < k / 32; i++) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
      const float v = x[i * 32 + j];
      if (amax < fabsf(v)) { amax = fabsf(v); max = v; }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = hw_fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[i * 32 + 0 + j] * id;
      const float x1 = x[i * 32 + 16 + j] * id;
      const int8_t t0 = static_cast<int8_t>(x0 + 8.5f), t1 = static_cast<int8_t>(x1 + 8.5f);
      const uint8_t xi0 = static_cast<uint8_t>(t0 < 15 ? t0 : 15);
      const uint8_t xi1 = static_cast<uint8_t>(t1 < 15 ? t1 : 15);
      y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
}
void oracle_q8_0(const float* x, int64_t k, BlockQ8_0* y) {
  for (int64_t i = 0; i < k / 32; i++) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = amax > fabsf(x[i * 32 + j]) ? amax : fabsf(x[i * 32 + j]);
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = hw_fp32_to_fp16(d);
    for (int j = 0; j < 32; ++j) y[i].qs[j] = static_cast<int8_t>(roundf(x[i * 32 + j] * id));
  }
}

// Codes of a single-block Q4_0 quantization as values in [-8, 7].
std::vector<int> q4_values(const std::vector<float>& x, float* d = nullptr) {
  BlockQ4_0 b;
  quantize_row_q4_0(x.data(), 32, &b);
  if (d) *d = fp16_to_fp32(b.d);
  std::vector<int> v(32);
  for (int j = 0; j < 16; ++j) {
    v[j] = (b.qs[j] & 15) - 8;
    v[j + 16] = (b.qs[j] >> 4) - 8;
  }
  return v;
}

TEST(Fp16, MatchesTheF16cInstructionEverywhere) {
  if (!have_f16c()) GTEST_SKIP() << "CPU has no F16C";
  // Every fp16 value converts exactly and back.
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    const float g = hw_fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(g)) { EXPECT_TRUE(std::isnan(f)); continue; }
    ASSERT_EQ(std::memcmp(&f, &g, 4), 0) << "h=" << h;
    ASSERT_EQ(fp32_to_fp16(f), h) << "h=" << h;
  }
  // Every float near the fp16 rounding boundaries, subnormals, overflow, and random bits.
  std::mt19937 rng(7);
  for (int i = 0; i < 2000000; ++i) {
    uint32_t bits = rng();
    if (i % 4 == 0) bits = (bits & 0x80000000u) | (0x33000000u + (bits % (0x47800000u - 0x33000000u)));
    if (i % 4 == 1) bits = (bits & ~0x1FFFu) | (rng() & 1 ? 0x1000u : (rng() & 0x1FFFu));  // ties
    float f;
    std::memcpy(&f, &bits, 4);
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), hw_fp32_to_fp16(f)) << "bits=" << std::hex << bits;
  }
}

TEST(GgmlQ4_0, HandCheckedBlocks) {
  // One non-zero element: it maps to -8 exactly; zeros stay zero (code 8).
  std::vector<float> x(32, 0.0f);
  x[5] = 1.0f;
  float d = 0;
  auto v = q4_values(x, &d);
  EXPECT_EQ(d, -0.125f);  // d = 1 / -8
  EXPECT_EQ(v[5], -8);
  for (int j = 0; j < 32; ++j) {
    if (j != 5) {
      EXPECT_EQ(v[j], 0);
    }
  }
  // A magnitude tie: the first element wins the sign of d; the other side clamps to +7.
  x.assign(32, 0.0f);
  x[0] = -2.0f;
  x[1] = 2.0f;
  v = q4_values(x, &d);
  EXPECT_EQ(d, 0.25f);
  EXPECT_EQ(v[0], -8);
  EXPECT_EQ(v[1], 7);  // 2 / 0.25 + 8.5 = 16.5 -> 16 -> clamped to 15
  x[0] = 2.0f;
  x[1] = -2.0f;
  v = q4_values(x, &d);
  EXPECT_EQ(d, -0.25f);
  EXPECT_EQ(v[0], -8);
  EXPECT_EQ(v[1], 7);
  // Half-way values round up (trunc(t + 8.5)), not to even: d = 1 (max = -8).
  x.assign(32, 0.0f);
  x[0] = -8.0f;
  const float halves[] = {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 6.5f, -7.5f, 0.49999997f};
  // (0.49999997 + 8.5 rounds to 9.0 in float32 before the truncation: ggml gives 1, not 0.)
  const int want[] = {1, 0, 2, -1, 3, -2, 7, -7, 1};
  for (int i = 0; i < 9; ++i) x[1 + i] = halves[i];
  v = q4_values(x, &d);
  EXPECT_EQ(d, 1.0f);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(v[1 + i], want[i]) << halves[i];
  // The fp16 rounding of d: d = 1 + 2^-11 is a tie between 1 and 1 + 2^-10 and goes to even (1);
  // the codes use the float32 d, the dequantized value the fp16 one.
  x.assign(32, 0.0f);
  x[0] = -8.0f * (1.0f + 1.0f / 2048);
  std::vector<float> y(32);
  fake_quantize_ggml(GgmlFormat::kQ4_0, x.data(), 1, 32, y.data());
  EXPECT_EQ(y[0], -8.0f);
  // All zeros: d = -0 (stored 0x8000), every value 0.
  x.assign(32, 0.0f);
  BlockQ4_0 b;
  quantize_row_q4_0(x.data(), 32, &b);
  EXPECT_EQ(b.d, 0x8000);
  fake_quantize_ggml(GgmlFormat::kQ4_0, x.data(), 1, 32, y.data());
  for (float f : y) EXPECT_EQ(f, 0.0f);
}

TEST(GgmlQ8_0, HandCheckedBlocks) {
  std::vector<float> x(32, 0.0f), y(32);
  x[0] = 127.0f;  // d = 1
  const float vals[] = {0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 126.5f, 0.49999997f};
  const int want[] = {1, -1, 2, 3, -3, 127, 0};  // roundf: half away from zero
  for (int i = 0; i < 7; ++i) x[1 + i] = vals[i];
  BlockQ8_0 b;
  quantize_row_q8_0(x.data(), 32, &b);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0], 127);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(b.qs[1 + i], want[i]) << vals[i];
  // Negative extreme maps to -127.
  x.assign(32, 0.0f);
  x[3] = -3.0f;
  x[4] = 1.0f;
  quantize_row_q8_0(x.data(), 32, &b);
  EXPECT_EQ(b.qs[3], -127);
  EXPECT_EQ(b.qs[4], 42);  // 1 * 127 / 3 = 42.33
  fake_quantize_ggml(GgmlFormat::kQ8_0, x.data(), 1, 32, y.data());
  EXPECT_EQ(y[4], 42.0f * fp16_to_fp32(fp32_to_fp16(3.0f / 127.0f)));
}

template <typename Block>
void expect_same_blocks(const std::vector<Block>& a, const std::vector<Block>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(std::memcmp(&a[i], &b[i], sizeof(Block)), 0) << "block " << i;
}

TEST(GgmlBlocks, RandomRowsMatchTheReferenceTranscription) {
  if (!have_f16c()) GTEST_SKIP() << "CPU has no F16C";
  std::mt19937 rng(11);
  const int64_t k = 256;
  std::vector<float> x(k);
  std::vector<BlockQ4_0> a4(k / 32), b4(k / 32);
  std::vector<BlockQ8_0> a8(k / 32), b8(k / 32);
  for (int trial = 0; trial < 4000; ++trial) {
    const int dist = trial % 5;
    std::normal_distribution<float> normal(0.0f, trial % 7 == 0 ? 1e-6f : 0.05f);
    for (auto& v : x) {
      v = normal(rng);
      if (dist == 1) v = std::round(v * 64.0f) / 64.0f;  // many exact ties / half-way codes
      if (dist == 2 && rng() % 8 == 0) v = 0.0f;
      if (dist == 3) v *= (rng() % 16 == 0) ? 1000.0f : 1.0f;  // outliers
      if (dist == 4 && rng() % 4 == 0) v = -v;
    }
    if (trial % 11 == 0) std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block
    if (trial % 13 == 0) x[40] = 60000.0f;                              // d near fp16's top
    if (trial % 17 == 0) x[70] = 1e-30f;                                // d subnormal in fp16
    quantize_row_q4_0(x.data(), k, a4.data());
    oracle_q4_0(x.data(), k, b4.data());
    expect_same_blocks(a4, b4);
    quantize_row_q8_0(x.data(), k, a8.data());
    oracle_q8_0(x.data(), k, b8.data());
    expect_same_blocks(a8, b8);
  }
}

TEST(GgmlBlocks, RowLengthMustBeAMultipleOf32) {
  std::vector<float> x(40);
  std::vector<BlockQ4_0> b(2);
  EXPECT_THROW(quantize_row_q4_0(x.data(), 40, b.data()), Error);
  EXPECT_THROW(fake_quantize_ggml(GgmlFormat::kQ8_0, x.data(), 1, 40, x.data()), Error);
  EXPECT_THROW(parse_ggml_format("q4_1"), Error);
  EXPECT_EQ(parse_ggml_format("q4_0"), GgmlFormat::kQ4_0);
}

// The .qf.h5 storage of the blocks: code * scale equals ggml's dequantized value exactly, every
// scale is positive, codes stay in the documented ranges and both Q4_0 signs of d occur.
TEST(GgmlBlocks, StorageCodesTimesScaleAreTheDequantizedValues) {
  std::mt19937 rng(5);
  const int64_t rows = 7, k = 128;
  std::vector<float> x(rows * k), deq(rows * k);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (auto& v : x) v = normal(rng);
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
  x[200] = 1e-30f;                                   // a block of tiny values: fp16 d rounds to 0
  std::fill(x.begin() + 192, x.begin() + 224, 1e-30f);
  for (GgmlFormat f : {GgmlFormat::kQ4_0, GgmlFormat::kQ8_0}) {
    std::vector<int32_t> codes(rows * k);
    std::vector<float> scales(rows * k / 32);
    ggml_blocks_as_codes(f, x.data(), rows, k, codes.data(), scales.data());
    fake_quantize_ggml(f, x.data(), rows, k, deq.data());
    const int32_t lim = f == GgmlFormat::kQ4_0 ? 8 : 127;
    int plus8 = 0, minus8 = 0;
    for (int64_t i = 0; i < rows * k; ++i) {
      const float s = scales[i / 32];
      ASSERT_GT(s, 0.0f);
      ASSERT_LE(std::abs(codes[i]), lim);
      ASSERT_EQ(static_cast<float>(codes[i]) * s, deq[i]) << ggml_format_name(f) << " element " << i;
      plus8 += codes[i] == 8;
      minus8 += codes[i] == -8;
    }
    EXPECT_EQ(ggml_storage_bits(f), f == GgmlFormat::kQ4_0 ? 5 : 8);
    if (f == GgmlFormat::kQ4_0) {
      EXPECT_GT(plus8, 0);   // d < 0: the block's extreme element is positive
      EXPECT_GT(minus8, 0);  // d > 0
    }
    for (int64_t i = 32; i < 64; ++i) EXPECT_EQ(codes[i], 0);
    for (int64_t i = 192; i < 224; ++i) EXPECT_EQ(codes[i], 0);
  }
}

}  // namespace
}  // namespace qf
