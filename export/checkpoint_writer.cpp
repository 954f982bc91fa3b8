#include "export/checkpoint_writer.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <set>

#include "core/error.h"
#include "core/graph_json.h"
#include "core/int4_pack.h"
#include "core/block_sparse.h"
#include "core/fp8_quantize.h"
#include "core/ggml_blocks.h"
#include "core/nm_sparse.h"
#include "core/op_schema.h"
#include "core/quantize_rows.h"
#include "core/sha256.h"

namespace qf {
namespace {

// ---- minimal HDF5 helpers (RAII + checked calls) ----

struct H5Handle {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  H5Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() {
    if (id >= 0 && close) close(id);
  }
  operator hid_t() const { return id; }
};

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw Error("checkpoint writer: HDF5 failed to " + what);
  return id;
}
void check_status(herr_t s, const std::string& what) {
  if (s < 0) throw Error("checkpoint writer: HDF5 failed to " + what);
}

H5Handle make_group(hid_t parent, const std::string& name) {
  return H5Handle(check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        "create group " + name),
                  H5Gclose);
}

void attr_string(hid_t obj, const char* name, const std::string& value) {
  H5Handle type(check(H5Tcopy(H5T_C_S1), "copy string type"), H5Tclose);
  check_status(H5Tset_size(type, std::max<size_t>(1, value.size())), "set string size");
  check_status(H5Tset_strpad(type, H5T_STR_NULLPAD), "set string padding");
  H5Handle space(check(H5Screate(H5S_SCALAR), "create dataspace"), H5Sclose);
  H5Handle a(check(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT),
                   std::string("create attribute ") + name),
             H5Aclose);
  std::string buf = value;
  if (buf.empty()) buf.push_back('\0');
  check_status(H5Awrite(a, type, buf.data()), std::string("write attribute ") + name);
}

void attr_ints(hid_t obj, const char* name, const std::vector<int64_t>& v, bool scalar = false) {
  const hsize_t n = v.size();
  H5Handle space(check(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr),
                       "create dataspace"),
                 H5Sclose);
  H5Handle a(check(H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
                   std::string("create attribute ") + name),
             H5Aclose);
  if (!v.empty()) check_status(H5Awrite(a, H5T_NATIVE_INT64, v.data()), std::string("write attribute ") + name);
}
void attr_int(hid_t obj, const char* name, int64_t v) { attr_ints(obj, name, {v}, true); }

void attr_float(hid_t obj, const char* name, float v) {
  H5Handle space(check(H5Screate(H5S_SCALAR), "create dataspace"), H5Sclose);
  H5Handle a(check(H5Acreate2(obj, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT),
                   std::string("create attribute ") + name),
             H5Aclose);
  check_status(H5Awrite(a, H5T_NATIVE_FLOAT, &v), std::string("write attribute ") + name);
}

// Writes a dataset. Non-empty datasets are chunked (<= ~1 MiB per chunk, split along the first
// dimension) with the fletcher32 filter, so a flipped byte is detected when it is read.
void write_dataset(hid_t parent, const std::string& name, hid_t file_type, hid_t mem_type,
                   size_t elem_size, const std::vector<int64_t>& shape, const void* data) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  H5Handle space(check(dims.empty() ? H5Screate(H5S_SCALAR)
                                    : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                       "create dataspace for " + name),
                 H5Sclose);
  H5Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "create property list"), H5Pclose);
  const int64_t numel = shape_numel(shape);
  if (!dims.empty() && numel > 0) {
    std::vector<hsize_t> chunk = dims;
    const hsize_t inner = static_cast<hsize_t>(numel) / dims[0] * elem_size;
    const hsize_t target = 1u << 20;
    const hsize_t max_rows = std::max<hsize_t>(1, std::min<hsize_t>(dims[0], target / std::max<hsize_t>(1, inner)));
    // Equal chunks: HDF5 allocates whole chunks, so a short last chunk would waste up to a chunk.
    const hsize_t chunks = (dims[0] + max_rows - 1) / max_rows;
    chunk[0] = (dims[0] + chunks - 1) / chunks;
    check_status(H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()), "set chunking for " + name);
    check_status(H5Pset_fletcher32(dcpl), "enable fletcher32 for " + name);
  }
  H5Handle ds(check(H5Dcreate2(parent, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                    "create dataset " + name),
              H5Dclose);
  if (numel > 0)
    check_status(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write dataset " + name);
  // The content digest covers what fletcher32 does not: the chunk index that locates the data.
  attr_string(ds, fmt::kAttrSha256, sha256_hex(data, static_cast<size_t>(numel) * elem_size));
}

void write_f32(hid_t g, const std::string& n, const std::vector<int64_t>& shape, const std::vector<float>& v) {
  write_dataset(g, n, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, shape, v.data());
}
void write_i64(hid_t g, const std::string& n, const std::vector<int64_t>& shape, const std::vector<int64_t>& v) {
  write_dataset(g, n, H5T_STD_I64LE, H5T_NATIVE_INT64, 8, shape, v.data());
}
void write_i8(hid_t g, const std::string& n, const std::vector<int64_t>& shape, const std::vector<int8_t>& v) {
  write_dataset(g, n, H5T_STD_I8LE, H5T_NATIVE_INT8, 1, shape, v.data());
}
void write_u8(hid_t g, const std::string& n, const std::vector<int64_t>& shape, const std::vector<uint8_t>& v) {
  write_dataset(g, n, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, shape, v.data());
}
void write_text(hid_t g, const std::string& n, const std::string& text) {
  std::vector<uint8_t> bytes(text.begin(), text.end());
  write_u8(g, n, {static_cast<int64_t>(bytes.size())}, bytes);
}

// ---- validation ----

[[noreturn]] void fail(const std::string& layer, const std::string& msg) {
  throw Error("checkpoint writer: layer '" + layer + "': " + msg);
}

void check_float_tensor(const std::string& layer, const std::string& what, const Tensor& t) {
  if (t.dtype != DType::kFloat32) fail(layer, what + " must be float32");
  for (int64_t d : t.shape)
    if (d < 0) fail(layer, what + " has a negative dimension");
  if (static_cast<int64_t>(t.f32.size()) != t.numel())
    fail(layer, what + " has shape " + shape_str(t.shape) + " but " + std::to_string(t.f32.size()) + " values");
  for (float v : t.f32)
    if (!std::isfinite(v)) fail(layer, what + " contains a non-finite value");
}

void write_layer(hid_t layers, const LayerContent& L, std::set<std::string>& features) {
  const bool has_weight = !L.weight.shape.empty();
  if (has_weight) check_float_tensor(L.name, "weight", L.weight);
  for (const auto& kv : L.extra) {
    if (kv.first != fmt::kBias && kv.first.rfind(fmt::kIgnorablePrefix, 0) != 0)
      fail(L.name, "extra tensor '" + kv.first + "' is neither 'bias' nor informational ('x_' prefix)");
    check_float_tensor(L.name, "'" + kv.first + "'", kv.second);
  }
  const bool sparse = L.sparsity != "dense";
  // "block:RxC" (declared by a block pruning mask): block-sparse storage; anything else sparse is N:M.
  const bool block = sparse && BlockShape::is_block(L.sparsity);
  NMPattern nm;
  BlockShape bs;
  try {
    if (block) bs = BlockShape::parse(L.sparsity);
    else if (sparse) nm = NMPattern::parse(L.sparsity);
  } catch (const Error& e) {
    fail(L.name, e.what());
  }
  if (block && L.kind != "linear" && L.kind != "conv2d")
    fail(L.name, "block-sparse storage is defined for linear and conv2d only, not " + L.kind);
  // One rule set for what a layer may be, shared with the recipe check and the reader.
  const WeightScheme* ws_ptr = L.weight_scheme ? &*L.weight_scheme : nullptr;
  const std::string problem = check_layer_quantization(L.kind, ws_ptr, L.input_act);
  if (!problem.empty()) fail(L.name, problem);
  // ggml's Q4_0 / Q8_0 blocks are stored as int8 codes with one positive float32 scale per block
  // of 32 (core/ggml_blocks.h, ggml_blocks_as_codes): no new kind, and code * scale is exactly
  // the value llama.cpp dequantizes.
  const GgmlFormat ggml = ws_ptr ? ws_ptr->ggml_format : GgmlFormat::kNone;
  if (ggml != GgmlFormat::kNone && !L.weight_scales.empty())
    fail(L.name, std::string("ggml's ") + ggml_format_name(ggml) +
                     " computes its own block scales; weight_scales given (a run trained for " + ggml_format_name(ggml) +
                     " exports with --format gguf)");
  const OpSchema& schema = *find_op_schema(L.kind);
  if (schema.weight == WeightRole::kNone && has_weight) fail(L.name, L.kind + " has no weight");
  if (schema.weight != WeightRole::kNone && !has_weight) fail(L.name, L.kind + " needs a weight");
  if (L.extra.count(fmt::kBias) && !schema.bias_allowed) fail(L.name, L.kind + " has no bias");
  if (!L.extra.count(fmt::kBias) && schema.bias_required) fail(L.name, L.kind + " needs a bias");
  if (sparse && !L.weight_scheme)
    fail(L.name, std::string(block ? "block" : "N:M") + " sparse storage needs a weight scheme (quantized weight)");
  if (!L.weight_scales.empty() && !L.weight_scheme) fail(L.name, "weight_scales given without a weight scheme");

  const ActScheme& act = L.input_act;
  if (act.mode == ActMode::kStatic && act.e4m3) {
    if (!std::isfinite(act.scale) || !(act.scale > 0)) fail(L.name, "activation scale must be finite and > 0");
  } else if (act.mode == ActMode::kStatic) {
    if (!std::isfinite(act.scale) || !(act.scale > 0)) fail(L.name, "activation scale must be finite and > 0");
    const QuantRange r = quant_range(act.bits, act.symmetric);
    if (act.symmetric ? act.zero_point != 0 : (act.zero_point < r.qmin || act.zero_point > r.qmax))
      fail(L.name, "activation zero point " + std::to_string(act.zero_point) + " outside the code range");
  }

  H5Handle g = make_group(layers, L.name);
  attr_string(g, fmt::kAttrKind, L.kind);
  attr_ints(g, fmt::kAttrWeightShape, has_weight ? L.weight.shape : std::vector<int64_t>{});
  attr_string(g, fmt::kAttrSparsity, block ? bs.str() : sparse ? nm.str() : "dense");
  attr_string(g, fmt::kAttrActMode, act_mode_name(act.mode));
  attr_int(g, fmt::kAttrActBits, act.mode == ActMode::kNone ? 0 : act.bits);
  attr_int(g, fmt::kAttrActSymmetric, act.mode == ActMode::kNone ? 0 : act.symmetric);
  attr_float(g, fmt::kAttrActScale, act.mode == ActMode::kStatic ? act.scale : 1.0f);
  attr_int(g, fmt::kAttrActZeroPoint, act.mode == ActMode::kStatic ? act.zero_point : 0);

  if (!has_weight) {
    attr_string(g, fmt::kAttrWeightFormat, "none");
  } else if (!L.weight_scheme) {
    attr_string(g, fmt::kAttrWeightFormat, "float32");
    attr_int(g, fmt::kAttrBits, 32);
    attr_string(g, fmt::kAttrGranularity, "tensor");
    attr_int(g, fmt::kAttrGroupSize, 0);
    write_f32(g, fmt::kWeight, L.weight.shape, L.weight.f32);
  } else {
    const WeightScheme& ws = *L.weight_scheme;
    if (L.weight.shape.size() < 2) fail(L.name, "a quantized weight needs at least 2 dimensions");
    const int64_t rows = L.weight.shape[0];
    const int64_t k = L.weight.numel() / std::max<int64_t>(1, rows);
    QuantLayout layout;
    try {
      layout = QuantLayout::make(rows, k, ws.granularity, ws.group_size);
    } catch (const Error& e) {
      fail(L.name, e.what());
    }
    if (ws.e4m3) {  // FORMAT.md, "FP8 E4M3 weights": bit patterns + scales, feature fp8_e4m3
      if (sparse) fail(L.name, "fp8_e4m3 weights are stored dense");
      if (act.mode != ActMode::kNone && k > kFp8MaxK)
        fail(L.name, "K = " + std::to_string(k) + " exceeds " + std::to_string(kFp8MaxK) +
                         ", the longest exact FP8 dot product the format defines");
      std::vector<float> scales(static_cast<size_t>(layout.num_params()));
      std::vector<uint8_t> codes(static_cast<size_t>(rows * k));
      if (!L.weight_scales.empty() && static_cast<int64_t>(L.weight_scales.size()) != layout.num_params())
        fail(L.name, "weight_scales: " + std::to_string(L.weight_scales.size()) + " scales for " +
                         std::to_string(layout.num_params()) + " parameters");
      try {
        quantize_e4m3_matrix(L.weight.f32.data(), layout, L.weight_scales.empty() ? nullptr : L.weight_scales.data(),
                             scales.data(), codes.data());
      } catch (const Error& e) {
        fail(L.name, std::string("weight_scales: ") + e.what());
      }
      features.insert(fmt::kFeatureFp8E4M3);
      attr_string(g, fmt::kAttrWeightFormat, "fp8_e4m3");
      attr_int(g, fmt::kAttrBits, 8);
      attr_string(g, fmt::kAttrGranularity, granularity_name(ws.granularity));
      attr_int(g, fmt::kAttrGroupSize, 0);
      write_f32(g, fmt::kWeightScale, layout.param_shape(), scales);
      write_u8(g, fmt::kWeight, {rows, k}, codes);
      for (const auto& kv : L.extra) write_f32(g, kv.first, kv.second.shape, kv.second.f32);
      return;
    }
    const int bits = ggml != GgmlFormat::kNone ? ggml_storage_bits(ggml) : ws.bits;
    if (act.mode != ActMode::kNone) {  // the runtime accumulates in int32 (FORMAT.md, the contract)
      const int max_code = ggml != GgmlFormat::kNone ? (1 << (bits - 1)) - 1 : -weight_quant_range(ws).qmin;
      const double worst = static_cast<double>(k) * ((1 << act.bits) - 1) * max_code;
      if (worst >= 2147483648.0)
        fail(L.name, "K = " + std::to_string(k) + " could overflow the runtime's int32 accumulator");
    }
    if (sparse && !block) {
      if (k % nm.m != 0) fail(L.name, "K = " + std::to_string(k) + " is not a multiple of M for " + nm.str());
      if (!satisfies_nm(L.weight.f32.data(), rows, k, nm))
        fail(L.name, "weight does not satisfy " + nm.str() + " sparsity along K");
    }
    if (ggml != GgmlFormat::kNone && (ws.granularity != Granularity::kGroup || ws.group_size != kGgmlBlock))
      fail(L.name, std::string(ggml_format_name(ggml)) + " needs groups of 32 along K");
    QuantizedMatrix q;
    try {
      q = quantize_weight_matrix(L.weight.f32.data(), layout, ws, L.weight_scales);
    } catch (const Error& e) {
      fail(L.name, std::string(ggml != GgmlFormat::kNone ? "" : "weight_scales: ") + e.what());
    }
    attr_int(g, fmt::kAttrBits, bits);
    if (ws.full_range) {
      attr_string(g, fmt::kAttrCodeRange, "full");
      features.insert(fmt::kFeatureInt4FullRange);
    }
    attr_string(g, fmt::kAttrGranularity, granularity_name(ws.granularity));
    attr_int(g, fmt::kAttrGroupSize, ws.granularity == Granularity::kGroup ? ws.group_size : 0);
    write_f32(g, fmt::kWeightScale, layout.param_shape(), q.scales);
    if (block) {
      // The kept blocks are exactly those holding a nonzero code: a pruned block is all zeros,
      // and a kept block that quantized to all zeros computes the same as a dropped one.
      const std::vector<int8_t> codes8(q.codes.begin(), q.codes.end());
      const BlockCompressed c = block_compress(codes8.data(), rows, k, bs);
      const int64_t nnzb = c.nnzb();
      features.insert(fmt::kFeatureBlockSparse);
      write_i64(g, fmt::kWeightBlockRowPtr, {static_cast<int64_t>(c.row_ptr.size())}, c.row_ptr);
      write_i64(g, fmt::kWeightBlockCols, {nnzb}, c.col);
      if (bits <= 4) {  // each block row of bc codes packed like an int4 row
        attr_string(g, fmt::kAttrWeightFormat, "bs_int4");
        const std::vector<int32_t> blk(c.blocks.begin(), c.blocks.end());
        write_u8(g, fmt::kWeightBlocks, {nnzb, bs.rows, int4_row_bytes(bs.cols)},
                 pack_int4_rows(blk.data(), nnzb * bs.rows, bs.cols, true));
      } else {
        attr_string(g, fmt::kAttrWeightFormat, "bs_int8");
        write_i8(g, fmt::kWeightBlocks, {nnzb, bs.rows, bs.cols}, c.blocks);
      }
    } else if (sparse) {
      std::vector<int8_t> codes8(q.codes.begin(), q.codes.end());
      NMCompressed<int8_t> c = nm_compress(codes8.data(), rows, k, nm);
      const int64_t kept = nm_kept_per_row(k, nm.n, nm.m);
      if (bits <= 4) {  // kept values nibble-packed like dense int4: 2:4 int4 = 3 bits/weight
        attr_string(g, fmt::kAttrWeightFormat, "nm_int4");
        features.insert(fmt::kFeatureNMInt4);
        const std::vector<int32_t> kept_codes(c.values.begin(), c.values.end());
        write_u8(g, fmt::kWeightValues, {rows, int4_row_bytes(kept)}, pack_int4_rows(kept_codes.data(), rows, kept, true));
      } else {
        attr_string(g, fmt::kAttrWeightFormat, "nm_int8");
        write_i8(g, fmt::kWeightValues, {rows, kept}, c.values);
      }
      write_u8(g, fmt::kWeightIndices, {rows, nm_index_row_bytes(k, nm.n, nm.m)}, c.indices);
    } else if (bits <= 4) {
      attr_string(g, fmt::kAttrWeightFormat, "int4");
      write_u8(g, fmt::kWeight, {rows, int4_row_bytes(k)}, pack_int4_rows(q.codes.data(), rows, k, true));
    } else {
      attr_string(g, fmt::kAttrWeightFormat, "int8");
      write_i8(g, fmt::kWeight, {rows, k}, std::vector<int8_t>(q.codes.begin(), q.codes.end()));
    }
  }
  for (const auto& kv : L.extra) write_f32(g, kv.first, kv.second.shape, kv.second.f32);
}

void write_golden(hid_t file, const CheckpointContent& c) {
  H5Handle gold = make_group(file, fmt::kGolden);
  attr_int(gold, "num_cases", static_cast<int64_t>(c.golden.size()));
  if (c.golden_reference != "contract" && c.golden_reference != "model")
    throw Error("checkpoint writer: golden_reference must be 'contract' or 'model', got '" + c.golden_reference + "'");
  attr_string(gold, "reference", c.golden_reference);
  for (size_t i = 0; i < c.golden.size(); ++i) {
    const Golden& gc = c.golden[i];
    const std::string where = "checkpoint writer: golden case " + std::to_string(i) + ": ";
    H5Handle g = make_group(gold, std::to_string(i));
    H5Handle in = make_group(g, "inputs");
    H5Handle out = make_group(g, "outputs");
    for (const TensorSpec& spec : c.graph.inputs) {
      auto it = gc.inputs.find(spec.name);
      if (it == gc.inputs.end()) throw Error(where + "missing input '" + spec.name + "'");
      const Tensor& t = it->second;
      const std::string problem = check_input(spec, t);
      if (!problem.empty()) throw Error(where + "input '" + spec.name + "' " + problem);
      if (t.dtype == DType::kFloat32) write_f32(in, spec.name, t.shape, t.f32);
      else write_i64(in, spec.name, t.shape, t.i64);
    }
    if (gc.inputs.size() != c.graph.inputs.size()) throw Error(where + "has inputs that are not graph inputs");
    for (const std::string& name : c.graph.outputs) {
      auto it = gc.outputs.find(name);
      if (it == gc.outputs.end()) throw Error(where + "missing output '" + name + "'");
      const Tensor& t = it->second;
      if (t.dtype != DType::kFloat32 || static_cast<int64_t>(t.f32.size()) != t.numel() || t.shape.empty())
        throw Error(where + "output '" + name + "' must be a float32 tensor matching its shape");
      write_f32(out, name, t.shape, t.f32);
    }
    if (gc.outputs.size() != c.graph.outputs.size()) throw Error(where + "has outputs that are not graph outputs");
    if (!gc.model_outputs.empty()) {
      H5Handle mo = make_group(g, fmt::kGoldenModelOutputs);
      for (const std::string& name : c.graph.outputs) {
        auto it = gc.model_outputs.find(name);
        if (it == gc.model_outputs.end()) throw Error(where + "model_outputs lacks output '" + name + "'");
        if (it->second.shape != gc.outputs.at(name).shape || it->second.dtype != DType::kFloat32 ||
            static_cast<int64_t>(it->second.f32.size()) != it->second.numel())
          throw Error(where + "model output '" + name + "' must be float32 shaped like the output");
        write_f32(mo, name, it->second.shape, it->second.f32);
      }
      if (gc.model_outputs.size() != c.graph.outputs.size()) throw Error(where + "model_outputs has extra tensors");
    }
    if (!gc.trace.empty()) {
      H5Handle tr = make_group(g, fmt::kGoldenTrace);
      for (const Op& op : c.graph.ops) {
        auto it = gc.trace.find(op.outputs.at(0));
        if (it == gc.trace.end()) throw Error(where + "trace lacks tensor '" + op.outputs.at(0) + "'");
        const Tensor& t = it->second;
        if (t.dtype != DType::kFloat32 || static_cast<int64_t>(t.f32.size()) != t.numel() || t.shape.empty())
          throw Error(where + "trace tensor '" + it->first + "' must be a float32 tensor matching its shape");
        write_f32(tr, it->first, t.shape, t.f32);
      }
      if (gc.trace.size() != c.graph.ops.size())
        throw Error(where + "trace has tensors that are not op outputs (it holds exactly one per op)");
    }
  }
}

void write_all(const std::string& tmp, const CheckpointContent& c) {
  H5Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "create file access list"), H5Pclose);
  // v1.8+ object headers carry checksums, so corrupted metadata is detected as well.
  check_status(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "set format bounds");
  H5Handle file(check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "create file " + tmp), H5Fclose);
  attr_string(file, fmt::kAttrFormat, fmt::kFormatName);
  attr_int(file, fmt::kAttrVersion, fmt::kVersion);
  attr_int(file, fmt::kAttrMinor, fmt::kMinor);
  attr_string(file, fmt::kAttrWriter, "qforge export/checkpoint_writer");
  write_text(file, fmt::kGraph, graph_to_json_string(c.graph));
  std::set<std::string> features;
  {
    H5Handle layers = make_group(file, fmt::kLayers);
    for (const LayerContent& L : c.layers) write_layer(layers, L, features);
  }
  for (const Op& op : c.graph.ops)  // op kinds and attributes beyond the base format
    for (const std::string& f : op_features(op)) features.insert(f);
  std::string required;
  for (const std::string& f : features) required += (required.empty() ? "" : ",") + f;
  attr_string(file, fmt::kAttrRequiredFeatures, required);
  write_golden(file, c);
  {
    H5Handle prov = make_group(file, fmt::kProvenance);
    std::map<std::string, std::string> provenance = c.provenance;
    if (!provenance.count("date")) {  // when the file was written, ISO 8601 UTC
      char buf[32];
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      gmtime_r(&now, &tm);
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
      provenance["date"] = buf;
    }
    for (const auto& kv : provenance) {
      if (kv.first.empty() || kv.first.find('/') != std::string::npos)
        throw Error("checkpoint writer: provenance key '" + kv.first + "' is empty or contains '/'");
      attr_string(prov, kv.first.c_str(), kv.second);
    }
  }
  write_text(file, fmt::kRecipe, c.recipe_yaml);
  write_text(file, fmt::kMetrics, c.metrics_json);
  check_status(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush " + tmp);
}

void validate_layers(const CheckpointContent& c) {
  validate_graph(c.graph);
  std::map<std::string, const Op*> ops;
  std::vector<Op> subs;  // moe_experts' expert linears: layer groups of their own
  for (const Op& op : c.graph.ops) {
    const std::string problem = check_op(op);
    if (!problem.empty()) throw Error("checkpoint writer: op '" + op.name + "': " + problem);
    ops[op.name] = &op;
    for (Op& sub : sub_layer_ops(op)) subs.push_back(std::move(sub));
  }
  for (const Op& sub : subs)
    if (!ops.emplace(sub.name, &sub).second) fail(sub.name, "an expert linear's name is also an op's");
  std::set<std::string> seen;
  for (const LayerContent& L : c.layers) {
    auto it = ops.find(L.name);
    if (it == ops.end()) fail(L.name, "no op of that name in the graph");
    if (it->second->kind != L.kind) fail(L.name, "kind '" + L.kind + "' but the graph op is '" + it->second->kind + "'");
    if (!seen.insert(L.name).second) fail(L.name, "given twice");
  }
  for (const Op& op : c.graph.ops)
    if (find_op_schema(op.kind)->weight != WeightRole::kNone && !seen.count(op.name))
      fail(op.name, op.kind + " needs its parameters (no LayerContent of that name)");
  for (const Op& sub : subs)
    if (!seen.count(sub.name)) fail(sub.name, "expert linear without parameters (no LayerContent of that name)");
  if (!c.metrics_json.empty()) {
    try {
      Json::parse(c.metrics_json);
    } catch (const Error& e) {
      throw Error(std::string("checkpoint writer: metrics_json is not valid JSON: ") + e.what());
    }
  }
}

}  // namespace

void write_checkpoint(const std::string& path, const CheckpointContent& content) {
  validate_layers(content);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become qf::Error, not stderr dumps
  const std::string tmp = path + ".tmp";
  try {
    write_all(tmp, content);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("checkpoint writer: cannot rename " + tmp + " to " + path);
  }
}

}  // namespace qf
