#include "qgemm_tester.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/block_sparse.h"
#include "core/fp16.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "core/quant.h"
#include "runtime/kernels/threads.h"

namespace qf::kernels::test {

void QGemmTester::Test(const KernelTable& table) const {
  std::mt19937 gen(seed_ * 7919u + static_cast<unsigned>(m_ * 131 + n_ * 17 + k_));
  // 4-bit codes span the nibble's full range [-8, 7] (checkpoint feature int4_full_range), a
  // superset of the restricted [-7, 7]: every int4 kernel must take both.
  const QuantRange r = bits_ <= 4 ? full_quant_range(bits_) : quant_range(bits_, true);
  const bool ext = values_ == Values::kExtremes;
  std::uniform_int_distribution<int32_t> wd(r.qmin, r.qmax), coin(0, 3);
  std::vector<int32_t> wc(static_cast<size_t>(n_ * k_));
  for (auto& v : wc) v = ext ? (coin(gen) < 2 ? (coin(gen) & 1 ? r.qmax : r.qmin) : wd(gen)) : wd(gen);
  if (q4_0_) {  // Q4_0-like codes: [-8, 7] times a random sign per (row, group)
    std::uniform_int_distribution<int32_t> d4(-8, 7);
    const int64_t gs = group_ ? group_ : k_;
    for (int64_t r = 0; r < n_; ++r)
      for (int64_t g0 = 0; g0 < k_; g0 += gs) {
        const int32_t sign = coin(gen) & 1 ? 1 : -1;
        for (int64_t kk = g0; kk < std::min(k_, g0 + gs); ++kk)
          wc[static_cast<size_t>(r * k_ + kk)] = sign * (ext ? (coin(gen) < 2 ? -8 : 7) : d4(gen));
      }
  }
  if (kind_ == QWeightKind::kNM)
    for (int64_t r = 0; r < n_; ++r)
      for (int64_t g = 0; g < k_; g += nm_m_) {
        std::vector<int> pos(static_cast<size_t>(nm_m_));
        for (int i = 0; i < nm_m_; ++i) pos[static_cast<size_t>(i)] = i;
        std::shuffle(pos.begin(), pos.end(), gen);
        // Mostly full groups (the common case), sometimes fewer nonzeros (compress pads them).
        const int keep = coin(gen) ? nm_n_ : static_cast<int>(gen() % static_cast<unsigned>(nm_n_ + 1));
        for (int i = keep; i < nm_m_; ++i) wc[static_cast<size_t>(r * k_ + g + pos[static_cast<size_t>(i)])] = 0;
      }
  if (is_block_sparse(kind_)) {  // prune whole blocks
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    const int64_t nbr = block_count(n_, br_), nbc = block_count(k_, bc_);
    for (int64_t R = 0; R < nbr; ++R)
      for (int64_t C = 0; C < nbc; ++C) {
        const bool keep = u01(gen) < keep_ && !(zero_block_row_ && R == nbr / 2);
        if (keep) continue;
        for (int64_t r = R * br_; r < std::min(n_, R * br_ + br_); ++r)
          for (int64_t kk = C * bc_; kk < std::min(k_, C * bc_ + bc_); ++kk) wc[static_cast<size_t>(r * k_ + kk)] = 0;
      }
  }
  const int64_t groups = group_ ? k_ / group_ : 1;
  std::uniform_real_distribution<float> sd(0.001f, 0.1f);
  std::vector<float> sw(static_cast<size_t>(n_ * groups)), bias(static_cast<size_t>(n_));
  for (auto& s : sw) s = sd(gen);
  if (q4_0_)  // Q4_0's block scales are fp16 values (x86 then reads them as fp16)
    for (auto& s : sw) s = fp16_to_fp32(fp32_to_fp16(s));
  for (auto& b : bias) b = sd(gen) - 0.05f;

  std::vector<uint8_t> xu(static_cast<size_t>(m_ * k_));
  std::vector<int8_t> xs(static_cast<size_t>(m_ * k_));
  std::uniform_int_distribution<int> ud(0, 255), sdi(-127, 127);
  for (auto& v : xu) v = static_cast<uint8_t>(ext ? (coin(gen) & 1 ? 255 : 0) : ud(gen));
  for (auto& v : xs) v = static_cast<int8_t>(ext ? (coin(gen) == 0 ? -128 : coin(gen) & 1 ? 127 : -127) : sdi(gen));
  std::vector<float> sx(per_token_ ? static_cast<size_t>(m_) : 1);
  for (auto& s : sx) s = sd(gen);

  std::vector<int8_t> codes8;
  std::vector<uint8_t> packed;
  std::vector<int32_t> block_row_ptr, block_col;
  QWeights w;
  w.kind = kind_;
  w.n = n_;
  w.k = k_;
  w.scales = sw.data();
  w.per_group = group_ != 0;
  w.group_size = group_;
  if (kind_ == QWeightKind::kInt8) {
    codes8.assign(wc.begin(), wc.end());
    w.codes = codes8.data();
  } else if (kind_ == QWeightKind::kInt4) {
    packed = pack_int4_rows(wc.data(), n_, k_);
    w.packed = packed.data();
  } else if (is_block_sparse(kind_)) {
    std::vector<int8_t> dense(wc.begin(), wc.end());
    const BlockCompressed c = block_compress(dense.data(), n_, k_, BlockShape{br_, bc_});
    block_row_ptr.assign(c.row_ptr.begin(), c.row_ptr.end());
    block_col.assign(c.col.begin(), c.col.end());
    if (kind_ == QWeightKind::kBSInt8) {
      codes8 = c.blocks;
    } else {
      const std::vector<int32_t> blk(c.blocks.begin(), c.blocks.end());
      packed = pack_int4_rows(blk.data(), c.nnzb() * br_, bc_);
    }
    w.codes = codes8.data();
    w.packed = packed.data();
    w.bs_rows = br_;
    w.bs_cols = bc_;
    w.block_row_ptr = block_row_ptr.data();
    w.block_col = block_col.data();
  } else {
    std::vector<int8_t> dense(wc.begin(), wc.end());
    auto c = nm_compress(dense.data(), n_, k_, NMPattern{nm_n_, nm_m_});
    codes8 = c.values;
    packed = c.indices;
    w.codes = codes8.data();
    w.packed = packed.data();
    w.nm_n = nm_n_;
    w.nm_m = nm_m_;
  }
  QActs x{unsigned_ ? static_cast<const void*>(xu.data()) : static_cast<const void*>(xs.data()), zx_, sx.data(),
          per_token_ ? 1 : 0};
  const float* b = bias_ ? bias.data() : nullptr;

  // Expected: plain loops, the contract of kernels.h.
  std::vector<float> expect(static_cast<size_t>(m_ * n_));
  for (int64_t i = 0; i < m_; ++i) {
    const float s = sx[per_token_ ? static_cast<size_t>(i) : 0];
    auto xv = [&](int64_t kk) {
      return unsigned_ ? static_cast<int32_t>(xu[static_cast<size_t>(i * k_ + kk)]) - zx_
                       : static_cast<int32_t>(xs[static_cast<size_t>(i * k_ + kk)]);
    };
    for (int64_t o = 0; o < n_; ++o) {
      float v;
      if (!group_) {
        int32_t acc = 0;
        for (int64_t kk = 0; kk < k_; ++kk) acc += xv(kk) * wc[static_cast<size_t>(o * k_ + kk)];
        v = static_cast<float>(acc) * (s * sw[static_cast<size_t>(o)]);
      } else {
        float total = 0.0f;
        for (int64_t g = 0; g < groups; ++g) {
          int32_t acc = 0;
          for (int64_t kk = g * group_; kk < (g + 1) * group_; ++kk) acc += xv(kk) * wc[static_cast<size_t>(o * k_ + kk)];
          total += static_cast<float>(acc) * sw[static_cast<size_t>(o * groups + g)];
        }
        v = s * total;
      }
      expect[static_cast<size_t>(i * n_ + o)] = b ? v + b[o] : v;
    }
  }

  const QGemmFn fn = table.qgemm[unsigned_ ? 0 : 1][static_cast<int>(kind_)];
  auto check = [&](const QWeights& wt, int64_t row0, const float* bt, const std::string& what) {
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> y(static_cast<size_t>(m_ * wt.n), NAN);
      fn(m_, x, wt, bt, y.data());
      for (int64_t i = 0; i < m_; ++i)
        for (int64_t o = 0; o < wt.n; ++o) {
          const float got = y[static_cast<size_t>(i * wt.n + o)], want = expect[static_cast<size_t>(i * n_ + row0 + o)];
          // Bit-identical (also -0.0 vs 0.0): compare representations, not values.
          ASSERT_TRUE(std::memcmp(&got, &want, sizeof(float)) == 0 || (std::isnan(got) && std::isnan(want)))
              << table.name << " " << what << ", " << threads << " thread(s): row " << i << " col " << row0 + o
              << " got " << got << " want " << want;
        }
    }
    set_num_threads(0);
  };

  std::unique_ptr<PreparedQWeights> prep = table.prepare_qweights ? table.prepare_qweights(w) : nullptr;
  QWeights wp = w;
  wp.prepared = prep.get();
  check(wp, 0, b, "prepared");
  if (unprepared_) {
    check(w, 0, b, "unprepared");
    // A conv-group-like slice: stale `prepared` must not leak into it. Block-sparse weights
    // slice on whole block rows.
    const int64_t r0 = is_block_sparse(kind_) ? br_ : 1;
    if (n_ > r0) {
      QWeights tail = wp.rows_slice(r0, n_ - r0);
      check(tail, r0, b ? b + r0 : nullptr, "slice, unprepared");
      std::unique_ptr<PreparedQWeights> tp = table.prepare_qweights ? table.prepare_qweights(tail) : nullptr;
      tail.prepared = tp.get();
      check(tail, r0, b ? b + r0 : nullptr, "slice, prepared");
    }
  }
}

std::vector<std::string> kernel_table_names() {
  std::vector<std::string> v;
  for (const KernelTable* t : available_kernel_tables()) v.push_back(t->name);
  return v;
}

}  // namespace qf::kernels::test
