// One tester for the quantized-GEMM family, XNNPACK style: set up a case with the builder, then
// Test(table) runs that table's entry -- with the table's prepare_qweights applied exactly as the
// executor does -- and compares it with plain loops over the dense decoded weight, tolerance 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kernels/kernels.h"

namespace qf::kernels::test {

enum class Values { kRandom, kExtremes };  // kExtremes: codes at the clamps (+-qmax, 0/255, -128)

class QGemmTester {
 public:
  QGemmTester& m(int64_t v) { m_ = v; return *this; }
  QGemmTester& n(int64_t v) { n_ = v; return *this; }
  QGemmTester& k(int64_t v) { k_ = v; return *this; }
  QGemmTester& int8() { kind_ = QWeightKind::kInt8; bits_ = 8; return *this; }
  QGemmTester& int4() { kind_ = QWeightKind::kInt4; bits_ = 4; return *this; }
  QGemmTester& nm(int nn, int mm, int bits = 8) { kind_ = QWeightKind::kNM; nm_n_ = nn; nm_m_ = mm; bits_ = bits; return *this; }
  // Block-sparse (kBSInt8 / kBSInt4 by `bits`): blocks of br x bc, each kept with probability
  // `keep` (0: none, 1: all); zero_block_row: one block row in the middle pruned entirely.
  QGemmTester& block(int br, int bc, double keep, int bits = 8, bool zero_block_row = false) {
    kind_ = bits <= 4 ? QWeightKind::kBSInt4 : QWeightKind::kBSInt8;
    bits_ = bits;
    br_ = br;
    bc_ = bc;
    keep_ = keep;
    zero_block_row_ = zero_block_row;
    return *this;
  }
  QGemmTester& group(int64_t g) { group_ = g; return *this; }  // 0: per channel
  // 8-bit weights (int8, N:M int8) holding 4-bit codes the way a Q4_0 checkpoint does: each
  // (row, group) in [-8, 7] or, negated, in [-7, 8] (core/ggml_blocks.h, ggml_blocks_as_codes), and
  // scales that are fp16 values.
  QGemmTester& q4_0_codes(bool v) { q4_0_ = v; return *this; }
  QGemmTester& qu8(int32_t zero_point) { unsigned_ = true; zx_ = zero_point; return *this; }
  QGemmTester& qs8() { unsigned_ = false; zx_ = 0; return *this; }
  QGemmTester& per_token(bool v) { per_token_ = v; return *this; }
  QGemmTester& bias(bool v) { bias_ = v; return *this; }
  QGemmTester& values(Values v) { values_ = v; return *this; }
  QGemmTester& seed(unsigned s) { seed_ = s; return *this; }
  // Also run without prepare (the table must fall back to an exact path) and on a row slice.
  QGemmTester& check_unprepared(bool v) { unprepared_ = v; return *this; }

  // Runs with 1 and 2 threads; both must equal the plain loops bit for bit.
  void Test(const KernelTable& table) const;

 private:
  int64_t m_ = 1, n_ = 1, k_ = 1, group_ = 0;
  QWeightKind kind_ = QWeightKind::kInt8;
  int bits_ = 8, nm_n_ = 0, nm_m_ = 0, br_ = 0, bc_ = 0;
  double keep_ = 1.0;
  bool zero_block_row_ = false, q4_0_ = false;
  bool unsigned_ = true, per_token_ = false, bias_ = true, unprepared_ = false;
  int32_t zx_ = 128;
  Values values_ = Values::kRandom;
  unsigned seed_ = 1;
};

// Names of every kernel table this CPU runs: the parameter of the per-table suites (each is a
// name kernels::kernel_table_for_isa takes back).
std::vector<std::string> kernel_table_names();

}  // namespace qf::kernels::test
