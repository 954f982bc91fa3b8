#include "runtime/weight_prep.h"

#include "core/block_sparse.h"
#include "core/fp8_quantize.h"
#include "core/int4_pack.h"
#include "core/nm_sparse.h"
#include "core/quantize_rows.h"

namespace qf {

namespace {

// The dense [O, K] codes of a quantized weight (empty for float weights).
std::vector<int32_t> dense_codes(const LayerWeights& L) {
  std::vector<int32_t> codes;
  switch (L.format) {
    case WeightFormat::kInt8: codes.assign(L.codes.begin(), L.codes.end()); break;
    case WeightFormat::kInt4: codes = unpack_int4_rows(L.packed.data(), L.rows, L.cols); break;
    case WeightFormat::kNMInt8:
    case WeightFormat::kNMInt4: {
      NMCompressed<int8_t> c;
      c.rows = L.rows;
      c.cols = L.cols;
      c.pattern = L.nm;
      c.values = L.codes;
      c.indices = L.packed;
      auto dense = nm_decompress(c);
      codes.assign(dense.begin(), dense.end());
      break;
    }
    case WeightFormat::kBSInt8:
    case WeightFormat::kBSInt4: {
      BlockCompressed c;
      c.rows = L.rows;
      c.cols = L.cols;
      c.shape = L.block;
      c.row_ptr.assign(L.block_row_ptr.begin(), L.block_row_ptr.end());
      c.col.assign(L.block_col.begin(), L.block_col.end());
      if (L.format == WeightFormat::kBSInt8) {
        c.blocks = L.codes;
      } else {
        const std::vector<int32_t> u =
            unpack_int4_rows(L.packed.data(), c.nnzb() * L.block.rows, L.block.cols);
        c.blocks.assign(u.begin(), u.end());
      }
      auto dense = block_decompress(c);
      codes.assign(dense.begin(), dense.end());
      break;
    }
    default: break;
  }
  return codes;
}

}  // namespace

std::unique_ptr<LayerWeights> channels_last_int8(const LayerWeights& L, int64_t c, int64_t kh, int64_t kw, int64_t kpad) {
  if (L.format == WeightFormat::kNone || L.format == WeightFormat::kFloat32 || L.format == WeightFormat::kFp8E4M3 ||
      L.granularity == Granularity::kGroup ||
      L.cols != c * kh * kw || kpad < L.cols)
    return nullptr;
  const std::vector<int32_t> codes = dense_codes(L);
  auto P = std::make_unique<LayerWeights>(L);
  P->format = WeightFormat::kInt8;
  P->sparse = false;
  P->packed.clear();
  P->cols = kpad;
  P->codes.assign(static_cast<size_t>(L.rows * kpad), 0);
  for (int64_t o = 0; o < L.rows; ++o)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t ij = 0; ij < kh * kw; ++ij)
        P->codes[static_cast<size_t>(o * kpad + ij * c + ch)] =
            static_cast<int8_t>(codes[static_cast<size_t>(o * L.cols + ch * kh * kw + ij)]);
  return P;
}

std::vector<float> dequantized_weight(const LayerWeights& L) {
  if (L.format == WeightFormat::kNone || L.format == WeightFormat::kFloat32) return L.f32;
  if (L.format == WeightFormat::kFp8E4M3) {  // e4m3_to_fp32(code) * scale, one float32 multiply
    std::vector<float> w(L.packed.size());
    dequantize_e4m3_matrix(L.packed.data(), QuantLayout::make(L.rows, L.cols, L.granularity, 0), L.scales.data(),
                           w.data());
    return w;
  }
  const std::vector<int32_t> codes = dense_codes(L);
  std::vector<float> w(codes.size());
  const QuantLayout layout = QuantLayout::make(L.rows, L.cols, L.granularity, L.group_size);
  dequantize_with_params(codes.data(), layout, L.scales.data(), nullptr, w.data());
  return w;
}

GemmWeight::GemmWeight(const LayerWeights& L, const kernels::KernelTable& kt, int64_t slices)
    : o_(L.rows), k_(L.cols), act_(L.input_act), bias_(*kt.memory), f32_(*kt.memory) {
  if (auto b = L.extra.find("bias"); b != L.extra.end())
    bias_ = Buffer::constant(*kt.memory, b->second.f32.data(), b->second.f32.size() * sizeof(float));
  integer_ = L.format != WeightFormat::kFloat32 && act_.mode != ActMode::kNone;
  if (!integer_) {
    f32_host_ = dequantized_weight(L);
    f32_ = Buffer::constant(*kt.memory, f32_host_.data(), f32_host_.size() * sizeof(float));
    return;
  }
  kernels::QWeights q;
  q.n = o_;
  q.k = k_;
  q.per_group = L.granularity == Granularity::kGroup;
  q.group_size = L.group_size;
  if (L.granularity == Granularity::kTensor) {
    expanded_scales_.assign(static_cast<size_t>(o_), L.scales[0]);  // kernels read one scale per row
    q.scales = expanded_scales_.data();
  } else {
    q.scales = L.scales.data();
  }
  if (L.format == WeightFormat::kFp8E4M3) {
    // The exact FP8 GEMM reads the format's [O, K] bit patterns as they are (no table packs
    // them), conv groups as row slices.
    q.kind = kernels::QWeightKind::kFp8E4M3;
    q.packed = L.packed.data();
    const int64_t per = o_ / slices;
    for (int64_t s = 0; s < slices; ++s) {
      kernels::QWeights w = slices == 1 ? q : q.rows_slice(s * per, per);
      if (kt.prepare_qf8_weights) {  // a device table: its own copy of the codes and scales
        prepared_.push_back(kt.prepare_qf8_weights(w));
        w.prepared = prepared_.back().get();
      }
      slices_.push_back(w);
    }
    return;
  }
  switch (L.format) {
    case WeightFormat::kInt8:
      q.kind = kernels::QWeightKind::kInt8;
      q.codes = L.codes.data();
      break;
    case WeightFormat::kInt4:
      q.kind = kernels::QWeightKind::kInt4;
      q.packed = L.packed.data();
      break;
    case WeightFormat::kBSInt8:
    case WeightFormat::kBSInt4:
      q.kind = L.format == WeightFormat::kBSInt8 ? kernels::QWeightKind::kBSInt8 : kernels::QWeightKind::kBSInt4;
      q.codes = L.codes.data();
      q.packed = L.packed.data();
      q.bs_rows = L.block.rows;
      q.bs_cols = L.block.cols;
      q.block_row_ptr = L.block_row_ptr.data();
      q.block_col = L.block_col.data();
      break;
    default:
      q.kind = kernels::QWeightKind::kNM;
      q.codes = L.codes.data();
      q.packed = L.packed.data();
      q.nm_n = L.nm.n;
      q.nm_m = L.nm.m;
  }
  const int64_t per = o_ / slices;
  for (int64_t s = 0; s < slices; ++s) {
    kernels::QWeights w = slices == 1 ? q : q.rows_slice(s * per, per);
    if (kt.prepare_qweights) {
      prepared_.push_back(kt.prepare_qweights(w));
      w.prepared = prepared_.back().get();
    }
    slices_.push_back(w);
  }
}

void ActQuantizer::upload_static_scale(float scale) {
  // The static scale lives on the device like everything the kernels read. Uploaded once, not
  // per call: on a GPU each upload is a synchronous copy that waits for every queued kernel.
  if (static_scale_on_device_ && static_scale_ == scale && scales_.capacity() >= sizeof(float)) return;
  scales_.reserve(sizeof(float));
  kt_.memory->to_device(scales_.data(), &scale, sizeof(float));
  static_scale_ = scale;
  static_scale_on_device_ = true;
}

kernels::QActs ActQuantizer::quantize(const ActScheme& a, const float* x, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  codes_.reserve(static_cast<size_t>(n));
  if (a.e4m3) {  // FP8 E4M3 codes: per token, or static with the stored scale
    unsigned_ = true;
    if (a.mode == ActMode::kDynamicPerToken) {
      scales_.reserve(static_cast<size_t>(rows) * sizeof(float));
      static_scale_on_device_ = false;
      kt_.quantize_per_row_e4m3(x, rows, cols, codes_.as<uint8_t>(), scales_.f32());
      return {codes_.data(), 0, scales_.f32(), 1};
    }
    upload_static_scale(a.scale);
    kt_.quantize_e4m3(x, n, a.scale, codes_.as<uint8_t>());
    return {codes_.data(), 0, scales_.f32(), 0};
  }
  if (a.mode == ActMode::kDynamicPerToken) {
    scales_.reserve(static_cast<size_t>(rows) * sizeof(float));
    static_scale_on_device_ = false;
    kt_.quantize_per_row_s8(x, rows, cols, codes_.as<int8_t>(), scales_.f32());
    unsigned_ = false;
    return {codes_.data(), 0, scales_.f32(), 1};
  }
  upload_static_scale(a.scale);
  const QuantRange r = quant_range(a.bits, a.symmetric);
  unsigned_ = !a.symmetric;
  if (unsigned_) kt_.quantize_u8(x, n, a.scale, a.zero_point, r.qmin, r.qmax, codes_.as<uint8_t>());
  else kt_.quantize_s8(x, n, a.scale, r.qmin, r.qmax, codes_.as<int8_t>());
  return {codes_.data(), unsigned_ ? a.zero_point : 0, scales_.f32(), 0};
}

}  // namespace qf
