// The kernel interface of the runtime: argument structs and one dispatch table.
//
// The executor calls kernels only through `KernelTable`, chosen once when a model is loaded
// (select_kernels). The scalar reference kernels (kernels/ref/) fill every entry and are the
// oracle for x86 / CUDA variants, which will fill the same table from their own files, compiled
// with their own flags. Naming: see kernels/README.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/buffer.h"

namespace qf::kernels {

// The quantized activation operand of a GEMM: M rows of K codes.
struct QActs {
  const void* codes = nullptr;  // uint8 (is_unsigned) or int8, [M, K] row-major
  int32_t zero_point = 0;       // subtracted from every code (0 for symmetric)
  const float* scales = nullptr;
  int64_t scale_stride = 0;     // 0: one per-tensor scale; 1: one scale per row (per-token)
};

// kBSInt8 / kBSInt4: block-sparse (core/block_sparse.h): only the kept br x bc blocks are
// stored, as int8 codes or nibble-packed like int4 (each block row of bc codes packed on its own).
// kFp8E4M3 weights (feature fp8_e4m3) go to KernelTable::qf8_gemm, never to qgemm[][]: they stay
// outside the kNumQWeightKinds kinds that index it.
enum class QWeightKind { kInt8, kInt4, kNM, kBSInt8, kBSInt4, kFp8E4M3 };
inline constexpr int kNumQWeightKinds = 5;
inline bool is_block_sparse(QWeightKind k) { return k == QWeightKind::kBSInt8 || k == QWeightKind::kBSInt4; }

// A weight a backend re-laid out once, at load time (packed / interleaved for its GEMM tiles).
// Opaque to the executor, which only keeps it alive; the checkpoint's layout stays the format's.
struct PreparedQWeights {
  virtual ~PreparedQWeights() = default;
};

// The quantized weight operand: N output rows over K, symmetric codes (zero point 0).
struct QWeights {
  QWeightKind kind = QWeightKind::kInt8;
  int64_t n = 0, k = 0;
  const int8_t* codes = nullptr;     // kInt8: [N, K]; kNM: kept values [N, K/M*NM_N]; kBSInt8: blocks [nnzb, br, bc]
  const uint8_t* packed = nullptr;   // kInt4: [N, ceil(K/2)] (core/int4_pack.h); kNM: indices;
                                     // kBSInt4: blocks [nnzb, br, ceil(bc/2)];
                                     // kFp8E4M3: [N, K] E4M3 bit patterns (core/fp8_e4m3.h)
  int nm_n = 0, nm_m = 0;            // kNM pattern (core/nm_sparse.h layout)
  // Block-sparse kinds: block shape, and the BSR index arrays of core/block_sparse.h (as int32):
  // block row R keeps blocks j in [block_row_ptr[R], block_row_ptr[R+1]) at block columns
  // block_col[j]. Offsets are absolute into codes / packed (a row slice moves block_row_ptr only).
  int bs_rows = 0, bs_cols = 0;
  const int32_t* block_row_ptr = nullptr;
  const int32_t* block_col = nullptr;
  const float* scales = nullptr;     // [N] (per channel) or [N, K/group_size] (per group)
  bool per_group = false;
  int64_t group_size = 0;            // per_group only
  // Set by the executor to what the table's prepare_qweights returned for exactly this weight
  // (null when the table prepares nothing); kernels of that table may read it instead of the
  // fields above.
  const PreparedQWeights* prepared = nullptr;

  // Rows [r0, r0 + rows) as a weight of its own (conv groups slice this way). The slice has no
  // `prepared` (the whole weight's packing does not describe it): prepare each slice.
  // Block-sparse kinds: r0 must be a multiple of bs_rows (throws qf::Error otherwise).
  QWeights rows_slice(int64_t r0, int64_t rows) const;
};

// y[M, N] = dequantized contract of FORMAT.md ("The quantization contract"):
//   per channel: y = float(acc) * (sx * sw[n]) + bias[n]
//   per group:   y = sx * sum_g float(acc_g) * sw[n, g] + bias[n]
// with acc = sum_k (qx[k] - zx) * qw[n, k] in int32. bias may be null.
using QGemmFn = void (*)(int64_t m, const QActs& x, const QWeights& w, const float* bias, float* y);

// Re-lays out one weight for this table's GEMMs (called once per weight at load; conv groups
// are prepared slice by slice). Null entry: the table reads the format's layout directly.
using PrepareQWeightsFn = std::unique_ptr<PreparedQWeights> (*)(const QWeights& w);

// y[M, N] = x[M, K] * w[N, K]^T + bias (bias may be null). Float accumulation in k order.
using F32GemmFn = void (*)(int64_t m, int64_t n, int64_t k, const float* x, const float* w,
                           const float* bias, float* y);

struct Conv2dGeom {
  int64_t c, h, w;        // input channels (of this group), height, width
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t oh, ow;
  int64_t channel_stride;  // elements between channels of the input (h*w for NCHW)
};

// col[P = oh*ow, K = c*kh*kw], K order (c, i, j) like PyTorch's weight.reshape(O, -1); padding
// positions take `pad` (0 for float, the zero point for quantized codes).
using Im2colF32Fn = void (*)(const float* x, const Conv2dGeom& g, float pad, float* col);
using Im2colU8Fn = void (*)(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, uint8_t* col);
using Im2colS8Fn = void (*)(const int8_t* x, const Conv2dGeom& g, int8_t pad, int8_t* col);
// Channels-last 8-bit codes of one image, x [h, w, c] (channel_stride unused) -> col [P, ldcol]:
// K = kh*kw*c columns in K order (i, j, c) (each window element is one contiguous run of c
// codes), then ldcol - K columns of `pad` (rows padded to the GEMM's k-block, matched by zero
// weights). A GEMM on these columns needs its weight's K permuted the same way (the integer sum
// does not depend on the order of k, so the result is exactly the (c, i, j) one).
using Im2colNhwcX8Fn = void (*)(const uint8_t* x, const Conv2dGeom& g, uint8_t pad, int64_t ldcol, uint8_t* col);

// Pooling over planes: x [planes, h, w] -> y [planes, oh, ow] (geometry's c unused).
using Pool2dFn = void (*)(const float* x, int64_t planes, const Conv2dGeom& g, float* y);
// Max pooling of channels-last images: x [images, h, w, channels] -> y [images, oh, ow, channels]
// (geometry's c unused), each channel exactly as maxpool2d pools its plane. The conv ops pool
// their GEMM output ([pixels, O] rows, i.e. NHWC) with it while it is still in cache.
// relu_first: every element goes through relu's function (x > 0 ? x : 0) before it is pooled,
// i.e. the graph's relu -> maxpool in one pass, with the same bits.
using Pool2dNhwcFn = void (*)(const float* x, int64_t images, int64_t channels, const Conv2dGeom& g, bool relu_first,
                              float* y);

// A convolution's quantized GEMM with its relu -> 2x2 stride-2 max pool -> relu -> [quantize]
// chain fused into the epilogue: each pooled output is computed from its window's four GEMM
// rows while they are in registers, so the [pixels, O] float output never exists. Exactly the
// composition qgemm -> maxpool2d_nhwc(relu_first = relu_before) -> relu (relu_after) ->
// quantize_u8/_s8 (out_codes) of the reference kernels, on the pooled pixels only (a window
// needs conv rows 2py, 2py+1 and columns 2px, 2px+1; rows and columns pooling drops are never
// computed). Implicit GEMM addressing: the K codes of conv output pixel (img, oy, ox) are
// `segs` runs of w.k / segs codes, run s starting at
//   x + img * x_image + oy * x_row + ox * x_pixel + s * x_seg
// (an im2col buffer: segs = 1; channels-last codes of a padded image: segs = kh). Output
// element (img, py, px, n) of N = w.n: y + img * y_image + py * y_row + px * N + n, floats, or
// codes (bytes) when out_codes.
struct QConvPoolArgs {
  const uint8_t* x = nullptr;
  bool x_unsigned = true;  // u8 codes with zero_point, else s8 codes (zero_point 0)
  int32_t zero_point = 0;
  float sx = 0.0f;         // the activation's per-tensor scale
  int64_t images = 0, pooled_h = 0, pooled_w = 0;  // pooled output size
  int64_t x_image = 0, x_row = 0, x_pixel = 0, segs = 1, x_seg = 0;
  bool relu_before = false, relu_after = false;
  void* y = nullptr;
  int64_t y_image = 0, y_row = 0;
  bool out_codes = false;  // quantize the pooled value (core/quant.h): scale, zero point, range
  bool out_unsigned = true;  // quantize_u8 (asymmetric) or quantize_s8 (symmetric, zero point 0)
  float out_scale = 1.0f;
  int32_t out_zero_point = 0, out_qmin = 0, out_qmax = 255;
  // 0: the runs hold K in the weight's order (above). C > 0: the weight's K is in the checkpoint's
  // (c, i, j) order (K = C * segs * kw, its N:M groups intact) while the runs are channels-last
  // window rows: run s is row i = s of the window, kw pixels of C codes, so k = (c * segs + i) *
  // kw + j is byte j * C + c of run i. A kernel that exploits 2:4 weights reads them this way
  // (prepare_qconv_pool); the result is the same integer sum, hence the same bits.
  int64_t cij_channels = 0;
};
using QConvPoolFn = void (*)(const QConvPoolArgs& a, const QWeights& w, const float* bias);
// Packs a conv weight [O, channels * kh * kw] (K in (c, i, j) order) for qconv_pool with
// cij_channels = channels and segs = kh (KernelTable::prepare_qconv_pool).
using PrepareQConvPoolFn = std::unique_ptr<PreparedQWeights> (*)(const QWeights& w, int64_t channels, int64_t kh,
                                                                 int64_t kw);

using UnaryFn = void (*)(const float* x, int64_t n, float* y);
using RowsFn = void (*)(const float* x, int64_t rows, int64_t cols, float* y);
using LayerNormFn = void (*)(const float* x, int64_t rows, int64_t cols, const float* gamma,
                             const float* beta, float eps, float* y);

// Causal multi-head attention for one batch element. q: [T, C] rows with stride q_stride;
// k, v: the cache [L, C] rows (stride kv_stride) where the T queries are positions
// L-T .. L-1; query t sees keys 0 .. L-T+t. y: [T, C]. scratch: >= L floats.
using AttentionFn = void (*)(const float* q, int64_t q_stride, const float* k, const float* v,
                             int64_t kv_stride, int64_t t, int64_t l, int64_t c, int64_t heads,
                             float* scratch, float* y);

// ---- the quantized KV cache (format feature kv_cache_int4; core/kv_quant.h's rule) ----

// The scheme of a quantized cache, as the kernels need it.
struct KvQuant {
  int bits = 4;          // 4: two codes per byte (core/int4_pack.h nibble order); 8: one per byte
  int64_t group = 32;    // values per scale along the row (divides the head dimension)
  bool symmetric = true; // false: unsigned codes + an fp16 offset per group
  float clip = 1.0f;
  // Asymmetric with an integer zero point per group (feature kv_cache_zero_point) instead of the
  // fp16 offset: the zero points are `bits`-bit codes after the row's codes (QuantKvRows::zero_at).
  bool int_zero_point = false;
};
// One batch element's quantized K or V cache: row j (token j) holds the codes of C values at
// codes + j * code_stride and C / group fp16 scales (and offsets) at scales + j * scale_stride.
struct QuantKvRows {
  const uint8_t* codes = nullptr;
  const uint16_t* scales = nullptr;
  const uint16_t* offsets = nullptr;  // asymmetric with fp16 offsets only
  int64_t code_stride = 0, scale_stride = 0;
  KvQuant q;
  // int_zero_point: the byte at which each code row's zero points start (kv_code_bytes(C, bits));
  // group g's zero point is code g counted from there (same packing as the codes).
  int64_t zero_at = 0;
};
// Quantizes `rows` rows of c floats (row stride x_stride) with core/kv_quant.h's rule into rows
// of kv_row_code_bytes(c) codes (+ integer zero points) (stride code_stride) and c / group scales
// (fp16 offsets) (stride scale_stride).
using QuantizeKvRowsFn = void (*)(const float* x, int64_t rows, int64_t x_stride, int64_t c, const KvQuant& q,
                                  uint8_t* codes, int64_t code_stride, uint16_t* scales, uint16_t* offsets,
                                  int64_t scale_stride);
// causal_attention / gqa_attention (contracts above) over a quantized cache, each key and value
// dequantized as it is read (never the whole cache): the result equals the float kernel run on
// the dequantized cache.
using QkvAttentionFn = void (*)(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                                int64_t t, int64_t l, int64_t c, int64_t heads, float* scratch, float* y);
using QkvGqaAttentionFn = void (*)(const float* q, int64_t q_stride, const QuantKvRows& k, const QuantKvRows& v,
                                   int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                                   float scale, float* scratch, float* y);

// ---- data movement and elementwise steps: the executor and the ops never touch data
// themselves, so a device backend runs the whole graph on its own memory ----

using AddFn = void (*)(const float* a, const float* b, int64_t n, float* y);
// y[r, :] = x[r, :] + rows[r % period, :] for r < n_rows (positional embeddings: period = T,
// rows = table + p0 * d).
using AddRowsFn = void (*)(const float* x, int64_t n_rows, int64_t period, int64_t d, const float* rows, float* y);
// y[i, :] = table[ids[i], :]; ids already checked to be in range.
using GatherRowsFn = void (*)(const float* table, int64_t d, const int64_t* ids, int64_t n, float* y);
// y[c, r] = x[r, c] for x [rows, cols] (the conv GEMM's [P, O] output to NCHW planes).
using TransposeFn = void (*)(const float* x, int64_t rows, int64_t cols, float* y);
// rows x cols floats from src (row stride src_stride) to dst (row stride dst_stride).
using CopyRowsFn = void (*)(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                            int64_t dst_stride);
// Activation quantization with core/quantize_rows.h's rules (the same loops the exporter and
// the contract use): dynamic per-token int8, and static per-tensor codes into 8-bit storage.
using QuantizePerRowS8Fn = void (*)(const float* x, int64_t rows, int64_t cols, int8_t* codes, float* scales);
using QuantizeU8Fn = void (*)(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin,
                              int32_t qmax, uint8_t* codes);
using QuantizeS8Fn = void (*)(const float* x, int64_t n, float scale, int32_t qmin, int32_t qmax, int8_t* codes);

// ---- FP8 E4M3 (format feature `fp8_e4m3`; core/fp8_quantize.h's rules) ----

// Activation codes: static per tensor, code = fp32_to_e4m3(x / scale); dynamic per row,
// scales[r] = e4m3_scale(amax(row)) then codes.
using QuantizeE4M3Fn = void (*)(const float* x, int64_t n, float scale, uint8_t* codes);
using QuantizePerRowE4M3Fn = void (*)(const float* x, int64_t rows, int64_t cols, uint8_t* codes, float* scales);
// The exact FP8 GEMM (QGemmFn's signature; x.codes are E4M3 patterns [M, K], zero point 0;
// w.kind == kFp8E4M3, scales [N]): y[m, n] = P * (sx * sw[n]) + bias[n], float32 in that order,
// where P = the exact sum over k of e4m3(x[m, k]) * e4m3(w[n, k]) rounded once to float32
// (NaN when a code of row m is NaN). Exact, hence order-free: a SIMD variant must give the
// same bits.
// The one exception is a table whose qf8_gemm runs FP8 tensor cores (KernelTable::
// qf8_gemm_rel_bound > 0): their accumulator is not float32 (products are aligned to the largest
// exponent and bits below about 2^-13 of it are dropped, DeepSeek-V3 report section 3.3.2), so such
// a kernel promises only
//   |P - P_exact| <= qf8_gemm_rel_bound * sum_k |e4m3(x[m, k]) * e4m3(w[n, k])|
// (NaN rows still NaN). kFp8TensorCoreRelBound, the cuda table's: each wgmma instruction adds 32
// products to its accumulator, each of the 33 addends may lose up to 2^-13 of the largest; the
// kernel moves the partial sum into float32 every 4 instructions (128 values of K): 4 * 33 *
// 2^-13 < 2^-5.9 of the chunk's magnitude sum, plus float32 roundings (K / 128 * 2^-24) -- 2^-5
// covers both for K <= kFp8MaxK. Measured errors are far below it (tests/runtime_cuda/
// cuda_fp8_test.cpp prints them); validate holds such GEMMs to it (FORMAT.md, "Validation").
inline constexpr double kFp8TensorCoreRelBound = 1.0 / 32;

// ---- decoder ops of Hugging Face models (format feature `decoder_ops`) ----

// RMSNorm over every run of d values: y = x * (1 / sqrt(mean(x^2) + eps)) * (w + plus_one),
// x and y [n, d] (per-head q/k norms pass n = tokens * heads). Statistics in double.
using RmsNormFn = void (*)(const float* x, int64_t n, int64_t d, const float* w, float eps, int plus_one, float* y);
// Rotary embedding, rotate-half layout (the two halves of each head are the pair), on
// x [rows, heads * 2 * h2] where row r is position p0 + r % period:
//   a = float(pos) * inv_freq[i] (one float32 multiply), c = cos(a), s = sin(a);
//   y[i] = x[i] * c - x[i + h2] * s,  y[i + h2] = x[i + h2] * c + x[i] * s.
using RopeFn = void (*)(const float* x, int64_t rows, int64_t period, int64_t p0, int64_t heads, int64_t h2,
                        const float* inv_freq, float* y);
// Grouped-query causal attention for one batch element. q [T, heads * d] (row stride q_stride);
// k, v: the cache [L, kv_heads * d] (row stride kv_stride), the T queries being positions
// L-T .. L-1; query head h reads key/value head h / (heads / kv_heads); query at position p sees
// keys j <= p, and only j > p - window when window > 0. Scores are (q . k) * scale.
// y [T, heads * d]; scratch >= L floats.
using GqaAttentionFn = void (*)(const float* q, int64_t q_stride, const float* k, const float* v, int64_t kv_stride,
                                int64_t t, int64_t l, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                                float scale, float* scratch, float* y);
// y = act(g) * u, act 0 = SiLU (g / (1 + exp(-g))), 1 = GELU tanh approximation.
using GatedActFn = void (*)(const float* g, const float* u, int64_t n, int act, float* y);
// y = x * s (one float32 multiply per element).
using ScaleFn = void (*)(const float* x, int64_t n, float s, float* y);

struct KernelTable {
  const char* name;  // "ref", later "avx2", "cuda", ...
  const MemoryOps* memory;  // where this table's kernels read and write
  QGemmFn qgemm[2][kNumQWeightKinds];  // [activation: 0 = qu8, 1 = qs8][QWeightKind]
  PrepareQWeightsFn prepare_qweights;  // may be null
  F32GemmFn f32_gemm;
  Im2colF32Fn im2col_f32;
  Im2colU8Fn im2col_u8;
  Im2colS8Fn im2col_s8;
  Im2colNhwcX8Fn im2col_nhwc_x8;
  Pool2dFn maxpool2d, avgpool2d;
  Pool2dNhwcFn maxpool2d_nhwc;
  UnaryFn relu, gelu;
  RowsFn softmax;
  LayerNormFn layernorm;
  AttentionFn causal_attention;
  AddFn add;
  AddRowsFn add_rows;
  GatherRowsFn gather_rows;
  TransposeFn transpose;
  CopyRowsFn copy_rows;
  QuantizePerRowS8Fn quantize_per_row_s8;
  QuantizeU8Fn quantize_u8;
  QuantizeS8Fn quantize_s8;
  // decoder ops (null in a table that does not implement them: the op then refuses to load)
  RmsNormFn rms_norm;
  RopeFn rope;
  GqaAttentionFn gqa_attention;
  GatedActFn gated_act;
  ScaleFn scale;
  // conv2d with its relu / 2x2 max pool fused (null: the op runs qgemm, maxpool2d_nhwc, ... itself)
  QConvPoolFn qconv_pool;
  // quantized KV cache (null in a table without it: attention ops with a quantized cache then
  // refuse to load)
  QuantizeKvRowsFn quantize_kv_rows;
  QkvAttentionFn qkv_causal_attention;
  QkvGqaAttentionFn qkv_gqa_attention;
  // FP8 E4M3 (null in a table that does not implement them: fp8_e4m3 layers with quantized
  // inputs then refuse to load)
  QGemmFn qf8_gemm;
  QuantizeE4M3Fn quantize_e4m3;
  QuantizePerRowE4M3Fn quantize_per_row_e4m3;
  // A conv weight (K in (c, i, j) order) packed for qconv_pool with cij_channels > 0: the table's
  // 2:4 convolution (null, or a null result for a weight it has no such path for: the conv op
  // then runs qconv_pool on its channels-last int8 copy). Called once per weight at load.
  PrepareQConvPoolFn prepare_qconv_pool;
  // 0 (tables listing entries in order leave it so): qf8_gemm gives the contract's bits; > 0: it
  // runs FP8 tensor cores and promises only this bound ("FP8 E4M3" above).
  double qf8_gemm_rel_bound;
  // Re-lays out / uploads one kFp8E4M3 weight (or conv-group slice) for this table's qf8_gemm,
  // once at load (null: qf8_gemm reads the format's [O, K] patterns and scales where they are).
  PrepareQWeightsFn prepare_qf8_weights;
};

const KernelTable& ref_kernel_table();
// Every table this CPU can run, best first, the reference table last ("avx512vnni", "avx2",
// "ref"). The table-driven testers run all of them.
std::vector<const KernelTable*> available_kernel_tables();
// The table the engine uses, chosen once per process by CPUID: the best available, or the one
// the environment variable QFORGE_ISA=ref|avx2|avx512 forces (an unknown value, or an ISA this
// CPU lacks, throws qf::Error saying so).
const KernelTable& select_kernels();
// The table for an ISA name as QFORGE_ISA spells it ("ref", "avx2", "avx512"/"avx512vnni");
// throws qf::Error for an unknown name or an ISA this CPU lacks. "" = the best available.
const KernelTable& kernel_table_for_isa(const std::string& isa);
// The table for a device (`--device`): "cpu" (or "") = select_kernels(); "cuda" = the CUDA
// table (kernels/cuda/cuda_table.h). Throws qf::Error when this build has no CUDA, when no GPU
// is present, or for another name. (kernels/device_select.cpp)
const KernelTable& kernel_table_for_device(const std::string& device);
bool cuda_built();  // whether this build has the CUDA table

}  // namespace qf::kernels
