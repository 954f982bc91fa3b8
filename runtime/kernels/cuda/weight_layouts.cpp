// Load-time re-layout of quantized weights into the fragment order of the CUDA kernels
// (cuda_qgemm.h describes each layout). Host code, std-only: it runs once per weight.
#include "core/error.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "runtime/kernels/cuda/cuda_qgemm.h"

namespace qf::cuda {
namespace {

void check_scales(int64_t n, int64_t k, int64_t group_size, int64_t granule) {
  if (n <= 0 || k <= 0) throw Error("cuda weight prep: empty weight [" + std::to_string(n) + ", " + std::to_string(k) + "]");
  if (group_size < 0 || (group_size > 0 && (k % group_size != 0 || group_size % granule != 0)))
    throw Error("cuda weight prep: group size " + std::to_string(group_size) + " must divide K = " +
                std::to_string(k) + " and be a multiple of " + std::to_string(granule) +
                " (the CUDA kernels apply one scale per lane-run of " + std::to_string(granule) + " k)");
}

// Scales as float32 [groups][ntiles*16] (a group's scales of 16 consecutive rows are adjacent),
// padding rows zero.
std::vector<float> layout_scales(const float* scales, int64_t n, int64_t k, int64_t group_size, int64_t ntiles,
                                 int64_t* groups_out) {
  const int64_t groups = group_size > 0 ? k / group_size : 1;
  const int64_t npad = ntiles * 16;
  std::vector<float> out(static_cast<size_t>(groups * npad), 0.0f);
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t r = 0; r < n; ++r) {
      out[static_cast<size_t>(g * npad + r)] = scales[r * groups + g];
    }
  *groups_out = groups;
  return out;
}

// The 8 biased codes (code + 8) of one A fragment word: v[0..3] = row g at k positions
// {p0, p0+1 | p1, p1+1} ... ordered as the dequantizer reads them: nibble i and i+4 form A
// register i: reg0 = (g, a, b), reg1 = (g+8, a, b), reg2 = (g, c, d), reg3 = (g+8, c, d).
uint32_t pack_fragment(const int32_t r0[4], const int32_t r1[4]) {
  const int32_t lo[4] = {r0[0], r1[0], r0[2], r1[2]};  // nibbles 0..3
  const int32_t hi[4] = {r0[1], r1[1], r0[3], r1[3]};  // nibbles 4..7
  uint32_t w = 0;
  for (int i = 0; i < 4; ++i) {
    w |= static_cast<uint32_t>(lo[i] + 8) << (4 * i);
    w |= static_cast<uint32_t>(hi[i] + 8) << (4 * (i + 4));
  }
  return w;
}

}  // namespace

W4Prepared w4_prepare(const uint8_t* codes4, const float* scales, int64_t n, int64_t k, int64_t group_size,
                      bool bf16) {
  check_scales(n, k, group_size, 16);
  W4Prepared p;
  p.n = n;
  p.k = k;
  p.bf16 = bf16;
  p.group_size = group_size;
  p.ntiles = (n + 15) / 16;
  p.chunks = (k + 63) / 64;
  const int64_t rb = int4_row_bytes(k);
  auto code = [&](int64_t r, int64_t kk) -> int32_t {
    if (r >= n || kk >= k) return 0;
    const uint8_t b = codes4[r * rb + kk / 2];
    return (kk & 1) ? int4_hi_signed(b) : int4_lo_signed(b);
  };
  p.packed.assign(static_cast<size_t>(p.ntiles * p.chunks * 32 * 4), 0);
  for (int64_t nt = 0; nt < p.ntiles; ++nt)
    for (int64_t c = 0; c < p.chunks; ++c)
      for (int lane = 0; lane < 32; ++lane) {
        const int64_t g = lane / 4, cq = lane % 4;
        const int64_t r0 = nt * 16 + g, r1 = r0 + 8;
        for (int t = 0; t < 4; ++t) {
          const int64_t kb = c * 64 + 16 * cq + 4 * t;
          int32_t a[4], b[4];
          for (int j = 0; j < 4; ++j) {
            a[j] = code(r0, kb + j);
            b[j] = code(r1, kb + j);
          }
          p.packed[static_cast<size_t>(((nt * p.chunks + c) * 32 + lane) * 4 + t)] = pack_fragment(a, b);
        }
      }
  p.scales = layout_scales(scales, n, k, group_size, p.ntiles, &p.groups);
  return p;
}

W4SparsePrepared w4sp_prepare(const uint8_t* values4, const uint8_t* indices, const float* scales, int64_t n,
                              int64_t k, int64_t group_size, bool bf16) {
  check_scales(n, k, group_size, 16);
  if (k % 4 != 0) throw Error("cuda 2:4 weight prep: K = " + std::to_string(k) + " is not a multiple of 4");
  W4SparsePrepared p;
  p.n = n;
  p.k = k;
  p.bf16 = bf16;
  p.group_size = group_size;
  p.ntiles = (n + 15) / 16;
  p.chunks = (k + 127) / 128;
  const int64_t kept = nm_kept_per_row(k, 2, 4);
  const int64_t vrb = int4_row_bytes(kept), irb = nm_index_row_bytes(k, 2, 4);
  // Quartet q (global) of row r: its two kept codes and their positions 0..3.
  auto quartet = [&](int64_t r, int64_t q, int32_t v[2], int idx[2]) {
    if (r >= n || 4 * q >= k) {
      v[0] = v[1] = 0;
      idx[0] = 0;
      idx[1] = 1;
      return;
    }
    for (int j = 0; j < 2; ++j) {
      const int64_t e = 2 * q + j;
      const uint8_t b = values4[r * vrb + e / 2];
      v[j] = (e & 1) ? int4_hi_signed(b) : int4_lo_signed(b);
      idx[j] = nm_get_index(indices + r * irb, e, 2);
    }
    if (!(idx[0] < idx[1]))
      throw Error("cuda 2:4 weight prep: N:M indices not strictly increasing at row " + std::to_string(r) +
                  ", group " + std::to_string(q));
  };
  p.packed.assign(static_cast<size_t>(p.ntiles * p.chunks * 32 * 4), 0);
  p.meta.assign(static_cast<size_t>(p.ntiles * p.chunks * 32 * 2), 0);  // [tile][chunk][32 lanes][2 words]
  for (int64_t nt = 0; nt < p.ntiles; ++nt)
    for (int64_t c = 0; c < p.chunks; ++c) {
      const int64_t q0 = c * 32;  // first quartet of the chunk
      // Logical quartet lq (0..7) of tile t is physical quartet 8t + 4(lq%2) + lq/2 of the chunk.
      auto phys = [&](int t, int lq) { return q0 + 8 * t + 4 * (lq % 2) + lq / 2; };
      for (int lane = 0; lane < 32; ++lane) {
        const int64_t g = lane / 4, cq = lane % 4;
        const int64_t r0 = nt * 16 + g, r1 = r0 + 8;
        for (int t = 0; t < 4; ++t) {
          int32_t va[2], vb[2], vc[2], vd[2];
          int ia[2], ib[2], ic[2], id[2];
          quartet(r0, phys(t, static_cast<int>(cq)), va, ia);
          quartet(r1, phys(t, static_cast<int>(cq)), vb, ib);
          quartet(r0, phys(t, static_cast<int>(cq) + 4), vc, ic);
          quartet(r1, phys(t, static_cast<int>(cq) + 4), vd, id);
          const int32_t a[4] = {va[0], va[1], vc[0], vc[1]};
          const int32_t b[4] = {vb[0], vb[1], vd[0], vd[1]};
          p.packed[static_cast<size_t>(((nt * p.chunks + c) * 32 + lane) * 4 + t)] = pack_fragment(a, b);
          if (cq < 2) {
            // Lane (g, cq) gives the metadata of logical quartets 4cq .. 4cq+3: row g in bits
            // 0..15, row g+8 in bits 16..31, one nibble per quartet (first index low).
            uint32_t m = 0;
            for (int j = 0; j < 4; ++j) {
              int32_t v[2];
              int ix[2];
              quartet(r0, phys(t, static_cast<int>(4 * cq) + j), v, ix);
              m |= static_cast<uint32_t>(ix[0] | (ix[1] << 2)) << (4 * j);
              quartet(r1, phys(t, static_cast<int>(4 * cq) + j), v, ix);
              m |= static_cast<uint32_t>(ix[0] | (ix[1] << 2)) << (16 + 4 * j);
            }
            // Stored [tile][chunk][32 lanes][2 words] so that every lane loads 8 bytes of it:
            // tiles 0, 1 at lane (g, cq) (sparsity selector 0), tiles 2, 3 at lane (g, cq + 2)
            // (selector 1, which reads the metadata from lanes 2 and 3 of each quad).
            p.meta[static_cast<size_t>(((nt * p.chunks + c) * 32 + g * 4 + cq + (t >= 2 ? 2 : 0)) * 2 + (t & 1))] = m;
          }
        }
      }
    }
  p.scales = layout_scales(scales, n, k, group_size, p.ntiles, &p.groups);
  return p;
}

W8Prepared w8_prepare(const int8_t* codes, const float* scales, int64_t n, int64_t k, int64_t group_size) {
  check_scales(n, k, group_size, 64);
  W8Prepared p;
  p.n = n;
  p.k = k;
  p.group_size = group_size;
  p.kpad = (k + 63) / 64 * 64;
  p.groups = group_size > 0 ? k / group_size : 1;
  p.codes.assign(static_cast<size_t>(n * p.kpad), 0);
  p.scales.assign(scales, scales + n * p.groups);
  p.rowsums.assign(static_cast<size_t>(n * p.groups), 0);
  const int64_t gs = group_size > 0 ? group_size : k;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t kk = 0; kk < k; ++kk) {
      const int8_t c = codes[r * k + kk];
      p.codes[static_cast<size_t>(r * p.kpad + kk)] = c;
      p.rowsums[static_cast<size_t>(r * p.groups + kk / gs)] += c;
    }
  return p;
}

}  // namespace qf::cuda
