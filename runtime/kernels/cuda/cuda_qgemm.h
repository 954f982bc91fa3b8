// CUDA deployment GEMMs of the quantized linear layers (W4A16, 4-bit + 2:4 sparse, W8A8).
//
// This header is plain C++ (no CUDA headers): the tests, the bench and a future `cuda` kernel
// table include it from .cpp files. Device pointers are passed as raw pointers; `stream` is a
// cudaStream_t passed as void* (null: the default stream). Every launcher checks its
// arguments and throws qf::Error on what it cannot run (an unsupported group size, a
// misaligned stride) or on a CUDA error.
//
// Weights are re-laid out once, at load time, on the host (the *_prepare functions, std-only
// and testable without a GPU): the checkpoint's layout (export/FORMAT.md, core/int4_pack.h,
// core/nm_sparse.h) becomes the fragment order of the tensor-core instructions, so every lane
// of a warp fetches its whole operand with one 16-byte load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qf::cuda {

// ---- W4A16: y[M, N] = x[M, K] (fp16 or bf16) * (code[N, K] * scale[N, K/gs])^T ----
//
// Layout made by w4_prepare (ntiles = ceil(N/16), chunks = ceil(K/64)):
//   packed [ntiles][chunks][32 lanes][4 words]: word t of lane (g = lane/4, c = lane%4) holds the
//     8 codes (+8, so 0..15) that lane feeds to k16 tile t of m16n8k16 for weight rows g and g+8
//     at the chunk-relative k = 16c + 4t + {0,1,2,3} (the k order inside a chunk is permuted,
//     identically for weights and activations, so each lane's 16 activations are contiguous);
//     nibble i and i+4 of a word become the half2 of A register i.
//   scales float32 [groups][ntiles*16], zero rows for the padding.
// group_size: the checkpoint's per-group size (a multiple of 16), or 0 for per-channel scales.
struct W4Prepared {
  int64_t n = 0, k = 0, ntiles = 0, chunks = 0, groups = 0, group_size = 0;
  bool bf16 = false;
  std::vector<uint32_t> packed;
  std::vector<float> scales;
};
// codes4: the checkpoint's int4 weight [N, ceil(K/2)] (core/int4_pack.h, signed nibbles);
// scales: float32 [N] (group_size 0) or [N, K/group_size].
W4Prepared w4_prepare(const uint8_t* codes4, const float* scales, int64_t n, int64_t k, int64_t group_size,
                      bool bf16);

// ---- 4-bit + 2:4 sparse: the same product with a 2:4 weight, on mma.sp m16n8k32 ----
//
// Layout made by w4sp_prepare (chunks = ceil(K/128), 4 tiles of k32 per chunk):
//   packed [ntiles][chunks][32 lanes][4 words]: word t holds lane's 8 kept codes (+8) of tile t
//     (A registers of mma.sp: kept pair of logical quartet c and c+4, rows g and g+8);
//   meta   [ntiles][chunks][32 lanes][2 words]: the sparsity metadata that mma.sp takes from
//     lane (g, c < 2) for k32 tile t (bits 0..15 row g, 16..31 row g+8; 4 bits per quartet, two
//     2-bit indices) is word t of lane (g, c) for t = 0, 1 (sparsity selector 0) and word t - 2
//     of lane (g, c + 2) for t = 2, 3 (selector 1), so all 32 lanes load 8 bytes of every chunk;
//     logical quartet q of tile t is the chunk's physical quartet 8t + 4(q%2) + q/2, so lanes
//     c = 2p, 2p+1 read their activations from one contiguous 16-element run.
struct W4SparsePrepared {
  int64_t n = 0, k = 0, ntiles = 0, chunks = 0, groups = 0, group_size = 0;
  bool bf16 = false;
  std::vector<uint32_t> packed, meta;
  std::vector<float> scales;
};
// values4: the checkpoint's nm_int4 kept codes [N, ceil(K/2/2)] packed as int4;
// indices: its 2-bit N:M indices [N, nm_index_row_bytes(K, 2, 4)] (core/nm_sparse.h). K % 4 == 0.
W4SparsePrepared w4sp_prepare(const uint8_t* values4, const uint8_t* indices, const float* scales, int64_t n,
                              int64_t k, int64_t group_size, bool bf16);

// Device copies of a prepared weight (owned; freed by the destructor).
struct W4Device {
  int64_t n = 0, k = 0, ntiles = 0, chunks = 0, groups = 0, group_size = 0;
  bool bf16 = false, sparse = false;
  void* packed = nullptr;
  void* meta = nullptr;  // sparse only
  void* scales = nullptr;
  // Workspace of the streaming small-M kernel (w4_stream_gemm.cu), allocated by its first call:
  // split-K partials and per-unit counters. One call at a time per W4Device.
  mutable void* stream_ws = nullptr;
  mutable int64_t stream_ws_bytes = 0;
  W4Device() = default;
  explicit W4Device(const W4Prepared& p);
  explicit W4Device(const W4SparsePrepared& p);
  W4Device(const W4Device&) = delete;
  W4Device& operator=(const W4Device&) = delete;
  ~W4Device();
  int64_t bytes() const;  // weight bytes the GEMM streams (packed + meta + scales)
};

// Kernel configuration (warps across rows x warps across K, 16-row tiles per warp). 0 = pick.
// gemv (dense weights only): 0 = pick by M (the CUDA-core kernel of w4_gemv.cu at M <= kW4GemvMaxM,
// which is 0 now, the tensor-core kernel otherwise; a non-zero warps_n also selects the latter);
// 1 = the CUDA-core kernel, with warps_k warps per block splitting K (1..32) and tiles_per_warp
// 16-row tiles per warp (1 or 2), 0 = pick; -1 = the tensor-core kernel. gemv_pipeline: 0 = the
// CUDA-core kernel double-buffers its weight loads, -1 = one batch at a time (for measuring).
// stream (dense, M <= 16, compute capability 9.x): 0 = pick (the launcher uses the streaming
// kernel of w4_stream_gemm.cu where it measured faster: M = 9..16 on weights of >= 64 MB int4),
// 1 = force it (throws where it cannot run), -1 = never; stream_ctas: its persistent grid (0 = one CTA per SM; tests use odd sizes to
// exercise the split-K fix-up); stream_tile_rows: weight rows per work unit (64; 128 at M > 8;
// 32: whole units per CTA, no split-K; 0 = 64); stream_cpw: consecutive 64-k chunks per consumer warp in one ring stage (1 or 2, 0 =
// pick); stream_pdl: 1 = launch it with programmatic dependent launch (its first weight stages
// load while the previous kernel of the stream finishes), 0 / -1 = a plain launch.
struct W4Config {
  int warps_n = 0, warps_k = 0, tiles_per_warp = 0;
  int gemv = 0;
  int gemv_pipeline = 0;
  int stream = 0;
  int stream_ctas = 0;
  int stream_tile_rows = 0;
  int stream_pdl = 0;
  int stream_cpw = 0;
  int stream_warps = 0;  // consumer warps per CTA: 12 (M <= 8 only) or 0 = 8
  // 2:4 at M <= 16 with group sizes that are multiples of 128 (or per channel): 0 = pick (the
  // register-streaming kernel w4sp_reg_kernel), -1 = the earlier cp.async-ring kernel (for
  // measuring); sparse_depth: 128-k chunks in flight per warp (2 or 3; 0 = 2);
  // sparse_meta_shfl: 1 = the metadata of k32 tiles 2, 3 moved by a shuffle instead of read
  // through sparsity selector 1 (for measuring; always depth 2 without the bulk prefetch: it
  // overrides sparse_depth and sparse_bulk_prefetch); sparse_bulk_prefetch: 1 = each warp first
  // asks its whole slice of codes and metadata into L2 (cp.async.bulk.prefetch), 0 / -1 = not;
  // sparse_msplit (M = 9..16): 0 / 1 = two 8-row slices of the M <= 8 kernel in neighbouring
  // blocks (the pick), -1 = one 16-row kernel (for measuring).
  int sparse = 0;
  int sparse_depth = 0;
  int sparse_meta_shfl = 0;
  int sparse_bulk_prefetch = 0;
  int sparse_msplit = 0;
  // pdl: programmatic dependent launch of the register kernels (w4a16_dense_kernel, w4sp_reg_kernel,
  // w4sp_kernel): a call's first weight loads start while the previous kernel of the stream
  // finishes (if that kernel triggers early, as these do; otherwise the launch behaves as a plain
  // one). 1 = with it, -1 = without, 0 = the `cuda` table's default (launch_util.cuh: on 9.0+ GPUs
  // unless QF_CUDA_PDL=0). The streaming kernel has its own switch, stream_pdl.
  int pdl = 0;
};

// y [M, N] (fp16/bf16, row stride N) = x [M, K] (row stride ldx >= K, elements; x must be
// 16-byte aligned and ldx a multiple of 8) * W^T. Dense or sparse by w.sparse.
void w4a16_gemm(const W4Device& w, int64_t m, const void* x, int64_t ldx, void* y, void* stream = nullptr,
                W4Config cfg = {});
// True when the current device and this build can run the streaming small-M kernel
// (W4Config::stream): compute capability 9.x and sm_90 machine code embedded.
bool w4a16_stream_supported();

// ---- W8A8: int8 x int8 -> int32 on tensor cores (mma.sync m16n8k32, or Hopper's wgmma) with a
//      fused epilogue ----
//
// The float arithmetic of the epilogue is the reference kernels' (runtime/kernels/ref,
// export/FORMAT.md "The quantization contract") operation for operation, so the outputs are
// bit-identical to qs8_qs8w_gemm_f32_ref / qu8_qs8w_gemm_f32_ref:
//   per channel: y = float(acc) * (sx * sw[n]) + bias[n]
//   per group:   y = sx * sum_g float(acc_g) * sw[n, g] + bias[n]   (sum in increasing g)
// then optionally ReLU, then optionally quantized as the next layer's static input
// (q = clamp(rint(y / s) + z, qmin, qmax), core/quant.h).
struct W8Prepared {
  int64_t n = 0, k = 0, kpad = 0, groups = 0, group_size = 0;
  std::vector<int8_t> codes;      // [N, kpad], zero padded
  std::vector<float> scales;      // [N, groups]
  std::vector<int32_t> rowsums;   // [N, groups]: sum of codes per group (zero-point correction)
};
// codes: int8 [N, K]; scales [N] (group_size 0) or [N, K/group_size] (group_size % 64 == 0).
W8Prepared w8_prepare(const int8_t* codes, const float* scales, int64_t n, int64_t k, int64_t group_size);

struct W8Device {
  int64_t n = 0, k = 0, kpad = 0, groups = 0, group_size = 0;
  void* codes = nullptr;
  void* scales = nullptr;
  void* rowsums = nullptr;
  W8Device() = default;
  explicit W8Device(const W8Prepared& p);
  W8Device(const W8Device&) = delete;
  W8Device& operator=(const W8Device&) = delete;
  ~W8Device();
};

struct W8Acts {
  const void* codes = nullptr;  // [M, ldx] int8 (or uint8 when is_unsigned); ldx % 16 == 0, ldx >= K
  int64_t ldx = 0;
  bool is_unsigned = false;
  int32_t zero_point = 0;       // unsigned only
  const float* scales = nullptr;  // device: [1] per tensor or [M] per row
  bool per_row = false;
};
struct W8Epilogue {
  const float* bias = nullptr;  // device [N] or null
  bool relu = false;
  float* y = nullptr;           // float [M, N] (may be null when quantizing)
  // Next input quantization: codes written to q_out [M, ldq] (uint8 if q_unsigned, else int8).
  void* q_out = nullptr;
  int64_t ldq = 0;
  bool q_unsigned = true;
  float q_scale = 1.0f;
  int32_t q_zero_point = 0, q_min = 0, q_max = 255;
};
// Which kernel runs: kernel 0 = the launcher's rule (w8a8_gemm.cu: the Hopper wgmma kernel where
// it runs -- sm_90a GPU, per-channel scales -- and M >= kW8WgmmaMinM, else mma.sync),
// 1 = the mma.sync kernel, 2 = the wgmma kernel (throws where it cannot run). consumers
// (BM / 64), block_n, persistent (1 on, -1 off) and cluster (2: CTA pairs multicast the w tile;
// persistent only with persistent = 1, the ping-pong schedule always is) and block_k (codes per
// pipeline stage: 128, or 64 with 128-row tiles and ping-pong 64 x 256; 0 = 128)
// set the wgmma kernel's tiles (0 = pick), as fp8_gemm.h's Fp8Tiles; pingpong as there (1: the
// forced shape on the ping-pong schedule, -1: the pick never chooses it); release_cluster_scope as
// there (1: multicast's first stage-release form).
struct W8Config {
  int kernel = 0;
  int consumers = 0, block_n = 0, persistent = 0, cluster = 1, block_k = 0;
  int pingpong = 0;
  int release_cluster_scope = 0;
};
void w8a8_gemm(const W8Device& w, int64_t m, const W8Acts& x, const W8Epilogue& e, void* stream = nullptr,
               W8Config cfg = {});
// The Hopper kernel (w8a8_wgmma_gemm.cu: wgmma.mma_async s8/u8 x s8 -> s32 on TMA-fed tiles,
// the FP8 GEMM's mainloop): true when it can run here, the reason in *why otherwise. The
// launcher returns false, launching nothing, when it cannot take these operands (no sm_90a GPU,
// per-group weights, a code base not 16-byte aligned); arguments are checked by w8a8_gemm.
bool w8a8_wgmma_available(std::string* why = nullptr);
bool w8a8_gemm_wgmma(const W8Device& w, int64_t m, const W8Acts& x, const W8Epilogue& e, void* stream,
                     const W8Config& cfg);
// Whether this build has the wgmma kernel for cfg's tiles: the launcher's pick always; a forced
// shape that the pick could choose, or any with the CMake option QFORGE_CUDA_KERNEL_VARIANTS
// (the benchmarks' variants: one CTA per tile, 64-code stages, multicast, other ping-pong tiles).
bool w8a8_wgmma_tiles_built(const W8Config& cfg);

// ---- small helpers ----
bool device_available(std::string* why = nullptr);  // false (and why) when no usable GPU
void* device_alloc(int64_t bytes);
void device_free(void* p);
void copy_to_device(void* dst, const void* src, int64_t bytes);
void copy_to_host(void* dst, const void* src, int64_t bytes);
void device_sync();

}  // namespace qf::cuda
