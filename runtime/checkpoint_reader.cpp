#include "runtime/checkpoint_reader.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "core/block_sparse.h"
#include "core/checkpoint_format.h"
#include "core/error.h"
#include "core/fp8_quantize.h"
#include "core/graph_json.h"
#include "core/int4_pack.h"
#include "core/json.h"
#include "core/op_schema.h"
#include "core/sha256.h"
#include "core/quant.h"
#include "core/quantize_rows.h"

namespace qf {

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kNone: return "none";
    case WeightFormat::kFloat32: return "float32";
    case WeightFormat::kInt8: return "int8";
    case WeightFormat::kInt4: return "int4";
    case WeightFormat::kNMInt4: return "nm_int4";
    case WeightFormat::kBSInt8: return "bs_int8";
    case WeightFormat::kBSInt4: return "bs_int4";
    case WeightFormat::kFp8E4M3: return "fp8_e4m3";
    default: return "nm_int8";
  }
}

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 31;  // per dataset; keeps index math in range
constexpr int64_t kMaxTextBytes = int64_t{64} << 20;

// Collects HDF5's error stack into one line, e.g. "... Fletcher32 checksum error ...", so that
// qf::Error messages say *why* HDF5 failed without HDF5 printing to stderr.
std::string h5_error_detail() {
  std::string out;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        auto* s = static_cast<std::string*>(data);
        if (n < 4 && e->desc && *e->desc) {
          if (!s->empty()) *s += "; ";
          *s += e->desc;
        }
        return 0;
      },
      &out);
  H5Eclear2(H5E_DEFAULT);
  return out.empty() ? "" : " (HDF5: " + out + ")";
}

struct H5Handle {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  H5Handle() = default;
  H5Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  H5Handle(H5Handle&& o) noexcept : id(o.id), close(o.close) { o.id = -1; }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle& operator=(H5Handle&& o) noexcept {
    std::swap(id, o.id);
    std::swap(close, o.close);
    return *this;
  }
  ~H5Handle() {
    if (id >= 0 && close) close(id);
  }
  operator hid_t() const { return id; }
};

class Reader {
 public:
  explicit Reader(std::string source) { ck_.source = std::move(source); }

  Checkpoint read(hid_t file) {
    file_ = file;
    hsize_t size = 0;
    if (H5Fget_filesize(file, &size) < 0) fail("/", "cannot get file size");
    ck_.file_bytes = static_cast<int64_t>(size);
    read_root_attrs();
    const std::string graph_text = read_text(fmt::kGraph, true);
    try {
      ck_.graph = graph_from_json_string(graph_text);
    } catch (const Error& e) {
      fail("/graph", e.what());
    }
    read_layers();
    read_golden();
    read_provenance();
    ck_.recipe_yaml = read_text(fmt::kRecipe, false);
    ck_.metrics_json = read_text(fmt::kMetrics, false);
    return std::move(ck_);
  }

 private:
  [[noreturn]] void fail(const std::string& object, const std::string& msg) const {
    throw Error("checkpoint " + ck_.source + ": " + object + ": " + msg);
  }

  bool exists(hid_t loc, const std::string& path) const {
    // Check each component: H5Lexists fails on a missing intermediate group.
    std::string prefix;
    size_t start = 0;
    while (start <= path.size()) {
      const size_t slash = path.find('/', start);
      prefix = path.substr(0, slash);
      const htri_t e = H5Lexists(loc, prefix.c_str(), H5P_DEFAULT);
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return true;
  }

  // ---- attributes ----

  H5Handle open_attr(hid_t obj, const std::string& obj_name, const char* name) const {
    if (H5Aexists(obj, name) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      fail(obj_name, std::string("missing attribute '") + name + "'");
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) fail(obj_name, std::string("cannot open attribute '") + name + "'" + h5_error_detail());
    return H5Handle(a, H5Aclose);
  }

  std::string attr_string(hid_t obj, const std::string& obj_name, const char* name) const {
    H5Handle a = open_attr(obj, obj_name, name);
    H5Handle t(H5Aget_type(a), H5Tclose);
    H5Handle s(H5Aget_space(a), H5Sclose);
    if (t < 0 || s < 0) fail(obj_name, std::string("attribute '") + name + "' is unreadable" + h5_error_detail());
    if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) > 0 || H5Sget_simple_extent_npoints(s) != 1)
      fail(obj_name, std::string("attribute '") + name + "' must be a fixed-length scalar string");
    const size_t n = H5Tget_size(t);
    if (n == 0 || n > 65536) fail(obj_name, std::string("attribute '") + name + "' has an invalid length");
    std::string buf(n, '\0');
    if (H5Aread(a, t, buf.data()) < 0)
      fail(obj_name, std::string("cannot read attribute '") + name + "'" + h5_error_detail());
    return buf.substr(0, buf.find('\0'));
  }

  std::vector<int64_t> attr_ints(hid_t obj, const std::string& obj_name, const char* name) const {
    H5Handle a = open_attr(obj, obj_name, name);
    H5Handle t(H5Aget_type(a), H5Tclose);
    H5Handle s(H5Aget_space(a), H5Sclose);
    if (t < 0 || s < 0) fail(obj_name, std::string("attribute '") + name + "' is unreadable" + h5_error_detail());
    const hssize_t n = H5Sget_simple_extent_npoints(s);
    if (H5Tget_class(t) != H5T_INTEGER || n < 0 || n > 16)
      fail(obj_name, std::string("attribute '") + name + "' must be an integer (list of at most 16)");
    std::vector<int64_t> v(static_cast<size_t>(n));
    if (n > 0 && H5Aread(a, H5T_NATIVE_INT64, v.data()) < 0)
      fail(obj_name, std::string("cannot read attribute '") + name + "'" + h5_error_detail());
    return v;
  }

  int64_t attr_int(hid_t obj, const std::string& obj_name, const char* name) const {
    auto v = attr_ints(obj, obj_name, name);
    if (v.size() != 1) fail(obj_name, std::string("attribute '") + name + "' must be a single integer");
    return v[0];
  }

  float attr_float(hid_t obj, const std::string& obj_name, const char* name) const {
    H5Handle a = open_attr(obj, obj_name, name);
    H5Handle t(H5Aget_type(a), H5Tclose);
    H5Handle s(H5Aget_space(a), H5Sclose);
    if (t < 0 || s < 0 || H5Tget_class(t) != H5T_FLOAT || H5Sget_simple_extent_npoints(s) != 1)
      fail(obj_name, std::string("attribute '") + name + "' must be a scalar float");
    float v = 0;
    if (H5Aread(a, H5T_NATIVE_FLOAT, &v) < 0)
      fail(obj_name, std::string("cannot read attribute '") + name + "'" + h5_error_detail());
    return v;
  }

  // ---- datasets ----

  enum class Kind { kF32, kI64, kI8, kU8 };
  static const char* kind_name(Kind k) {
    switch (k) {
      case Kind::kF32: return "float32";
      case Kind::kI64: return "int64";
      case Kind::kI8: return "int8";
      default: return "uint8";
    }
  }

  struct Opened {
    H5Handle ds;
    std::vector<int64_t> shape;
  };

  // Opens `path`, checks its dtype and that its storage is fully written and fits the file.
  Opened open_dataset(const std::string& path, Kind kind) const {
    if (!exists(file_, path)) fail("/" + path, "missing dataset");
    {
      // H5Oopen + H5Iget_type rather than H5Oget_info: the latter changed signature in 1.12.
      H5Handle obj(H5Oopen(file_, path.c_str(), H5P_DEFAULT), H5Oclose);
      if (obj < 0 || H5Iget_type(obj) != H5I_DATASET) fail("/" + path, "is not a dataset" + h5_error_detail());
    }
    Opened o;
    o.ds = H5Handle(H5Dopen2(file_, path.c_str(), H5P_DEFAULT), H5Dclose);
    if (o.ds < 0) fail("/" + path, "cannot open dataset" + h5_error_detail());
    H5Handle t(H5Dget_type(o.ds), H5Tclose);
    H5Handle s(H5Dget_space(o.ds), H5Sclose);
    if (t < 0 || s < 0) fail("/" + path, "unreadable type or shape" + h5_error_detail());
    const H5T_class_t cls = H5Tget_class(t);
    const size_t sz = H5Tget_size(t);
    bool ok = false;
    switch (kind) {
      case Kind::kF32: ok = cls == H5T_FLOAT && sz == 4; break;
      case Kind::kI64: ok = cls == H5T_INTEGER && sz == 8 && H5Tget_sign(t) == H5T_SGN_2; break;
      case Kind::kI8: ok = cls == H5T_INTEGER && sz == 1 && H5Tget_sign(t) == H5T_SGN_2; break;
      case Kind::kU8: ok = cls == H5T_INTEGER && sz == 1 && H5Tget_sign(t) == H5T_SGN_NONE; break;
    }
    if (!ok) fail("/" + path, std::string("has the wrong dtype (expected ") + kind_name(kind) + ")");
    const int rank = H5Sget_simple_extent_ndims(s);
    if (rank < 0 || rank > 8) fail("/" + path, "has an invalid rank");
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0 && H5Sget_simple_extent_dims(s, dims.data(), nullptr) < 0)
      fail("/" + path, "unreadable shape" + h5_error_detail());
    int64_t numel = 1;
    for (hsize_t d : dims) {
      if (d > static_cast<hsize_t>(kMaxElements)) fail("/" + path, "dimension too large");
      o.shape.push_back(static_cast<int64_t>(d));
      numel *= static_cast<int64_t>(d);
      if (numel > kMaxElements) fail("/" + path, "too many elements");
    }
    // Unwritten chunks would read as fill values, and a huge declared shape would make us
    // allocate memory the file cannot back: require the data to be stored, within the file.
    const int64_t bytes = numel * static_cast<int64_t>(sz);
    const int64_t stored = static_cast<int64_t>(H5Dget_storage_size(o.ds));
    if (bytes > 0 && (stored < bytes || stored > ck_.file_bytes))
      fail("/" + path, "data is missing or truncated (stored " + std::to_string(stored) + " of " +
                           std::to_string(bytes) + " bytes)");
    return o;
  }

  template <class T>
  std::vector<T> read_into(Opened& o, const std::string& path, hid_t mem_type) const {
    std::vector<T> v(static_cast<size_t>(shape_numel(o.shape)));
    if (!v.empty() && H5Dread(o.ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
      fail("/" + path, "read failed (corrupted data?)" + h5_error_detail());
    verify_digest(o, path, v.data(), v.size() * sizeof(T));
    return v;
  }

  // Format >= 1.2: every dataset carries the SHA-256 of its bytes; a mismatch means the data
  // read is not the data written (e.g. an edited chunk index reads zeros without any HDF5 error).
  void verify_digest(const Opened& o, const std::string& path, const void* data, size_t bytes) const {
    const bool present = H5Aexists(o.ds, fmt::kAttrSha256) > 0;
    H5Eclear2(H5E_DEFAULT);
    if (!present) {
      if (digests_required_) fail("/" + path, "missing its sha256 digest attribute (required since format 1.2)");
      return;
    }
    const std::string want = attr_string(o.ds, "/" + path, fmt::kAttrSha256);
    const std::string got = sha256_hex(data, bytes);
    if (want != got)
      fail("/" + path, "content digest mismatch: the data read is not the data written (sha256 " + got +
                           ", file says " + want + ")");
  }

  void expect_shape(const std::string& path, const std::vector<int64_t>& got, const std::vector<int64_t>& want) const {
    if (got != want) fail("/" + path, "has shape " + shape_str(got) + ", expected " + shape_str(want));
  }

  template <class T>
  std::vector<T> read_exact(const std::string& path, Kind kind, hid_t mem_type, const std::vector<int64_t>& shape,
                            int64_t* bytes = nullptr) {
    Opened o = open_dataset(path, kind);
    expect_shape(path, o.shape, shape);
    if (bytes) *bytes += static_cast<int64_t>(H5Dget_storage_size(o.ds));
    return read_into<T>(o, path, mem_type);
  }

  std::string read_text(const char* name, bool required) {
    if (!exists(file_, name)) {
      if (required) fail(std::string("/") + name, "missing dataset");
      return "";
    }
    Opened o = open_dataset(name, Kind::kU8);
    if (o.shape.size() != 1) fail(std::string("/") + name, "text must be a 1-D uint8 dataset");
    if (o.shape[0] > kMaxTextBytes) fail(std::string("/") + name, "text too large");
    auto bytes = read_into<uint8_t>(o, name, H5T_NATIVE_UINT8);
    return std::string(bytes.begin(), bytes.end());
  }

  // ---- root ----

  void read_root_attrs() {
    H5Handle root(H5Gopen2(file_, "/", H5P_DEFAULT), H5Gclose);
    if (root < 0) fail("/", "cannot open the root group" + h5_error_detail());
    if (H5Aexists(root, fmt::kAttrFormat) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      fail("/", "not a qforge checkpoint (no 'format' attribute)");
    }
    const std::string format = attr_string(root, "/", fmt::kAttrFormat);
    if (format != fmt::kFormatName) fail("/", "not a qforge checkpoint (format is '" + format + "')");
    ck_.format_version = attr_int(root, "/", fmt::kAttrVersion);
    if (ck_.format_version > fmt::kVersion)
      fail("/", "written by a newer qforge (format_version " + std::to_string(ck_.format_version) +
                    ", this reader supports " + std::to_string(fmt::kVersion) + ")");
    if (ck_.format_version < 1) fail("/", "invalid format_version " + std::to_string(ck_.format_version));
    if (H5Aexists(root, fmt::kAttrMinor) > 0) ck_.format_minor = attr_int(root, "/", fmt::kAttrMinor);
    H5Eclear2(H5E_DEFAULT);
    digests_required_ = ck_.format_version > 1 || ck_.format_minor >= 2;
    const bool has_features = H5Aexists(root, fmt::kAttrRequiredFeatures) > 0;
    H5Eclear2(H5E_DEFAULT);
    if (!has_features) {
      if (digests_required_) fail("/", "missing attribute 'required_features' (required since format 1.2)");
      return;
    }
    const std::string list = attr_string(root, "/", fmt::kAttrRequiredFeatures);
    size_t start = 0;
    while (start < list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      const std::string name = list.substr(start, comma - start);
      bool known = false;
      for (const char* k : fmt::kKnownFeatures) known = known || name == k;
      if (!known)
        fail("/", "requires feature '" + name + "', which this reader does not implement (qforge format " +
                      std::to_string(fmt::kVersion) + "." + std::to_string(fmt::kMinor) +
                      "); a newer qforge can read it");
      ck_.required_features.push_back(name);
      start = comma + 1;
    }
  }

  // ---- layers ----

  void read_layers() {
    // /layers holds exactly the groups of ops with parameters: a stray group is a writer bug or a
    // file edited by hand, and a reader must not guess what it was meant for.
    std::set<std::string> expected;
    for (const Op& op : ck_.graph.ops) {
      // Attributes are range-checked here, before any shape arithmetic uses them.
      const std::string problem = check_op(op);
      if (!problem.empty()) fail("/graph", "op '" + op.name + "': " + problem);
      // An op kind beyond the base format must be announced (FORMAT.md, "Versioning").
      // (So must an attribute beyond it, e.g. a quantized KV cache.)
      for (const std::string& feature : op_features(op))
        if (std::find(ck_.required_features.begin(), ck_.required_features.end(), feature) ==
            ck_.required_features.end())
          fail("/graph", "op '" + op.name + "' (" + op.kind + ") needs feature '" + feature +
                             "', but the file does not list it in required_features");
      if (find_op_schema(op.kind)->weight != WeightRole::kNone) expected.insert(op.name);
      for (const Op& sub : sub_layer_ops(op)) expected.insert(sub.name);  // moe_experts' expert linears
    }
    if (exists(file_, fmt::kLayers)) {
      H5Handle lg(H5Gopen2(file_, fmt::kLayers, H5P_DEFAULT), H5Gclose);
      H5G_info_t info;
      if (lg < 0 || H5Gget_info(lg, &info) < 0) fail("/layers", "unreadable group" + h5_error_detail());
      if (info.nlinks > expected.size()) {
        for (hsize_t i = 0; i < info.nlinks; ++i) {
          char name[1024] = {0};
          if (H5Lget_name_by_idx(lg, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
            fail("/layers", "unreadable group" + h5_error_detail());
          if (!expected.count(name)) fail(std::string("/layers/") + name, "no op with parameters has this name");
        }
      }
    }
    for (const Op& op : ck_.graph.ops) {
      const OpSchema& rule = *find_op_schema(op.kind);
      if (rule.weight == WeightRole::kNone) continue;
      const std::string gpath = std::string(fmt::kLayers) + "/" + op.name;
      if (!exists(file_, gpath)) fail("/" + gpath, "missing layer group for op '" + op.name + "' (" + op.kind + ")");
      ck_.layers[op.name] = read_layer(op, rule, gpath);
    }
    for (const Op& op : ck_.graph.ops)
      for (const Op& sub : sub_layer_ops(op)) {
        const std::string gpath = std::string(fmt::kLayers) + "/" + sub.name;
        if (!exists(file_, gpath))
          fail("/" + gpath, "missing layer group for expert linear '" + sub.name + "' of op '" + op.name + "'");
        ck_.layers[sub.name] = read_layer(sub, *find_op_schema(sub.kind), gpath);
      }
  }

  // A layer group holds only names this reader interprets (or informational "x_" ones): an
  // unknown attribute or dataset such as weight_zero_point would change the math if ignored.
  void check_layer_names(hid_t g, const std::string& where) const {
    static const std::set<std::string> attrs = {
        fmt::kAttrKind,     fmt::kAttrWeightFormat, fmt::kAttrWeightShape, fmt::kAttrBits,
        fmt::kAttrGranularity, fmt::kAttrGroupSize, fmt::kAttrSparsity, fmt::kAttrActMode,
        fmt::kAttrActBits,  fmt::kAttrActSymmetric, fmt::kAttrActScale,   fmt::kAttrActZeroPoint,
        fmt::kAttrCodeRange};
    static const std::set<std::string> datasets = {fmt::kWeight,           fmt::kWeightScale,      fmt::kWeightValues,
                                                   fmt::kWeightIndices,    fmt::kWeightBlockRowPtr, fmt::kWeightBlockCols,
                                                   fmt::kWeightBlocks,     fmt::kBias};
    auto collect = [&](bool links) {
      std::vector<std::string> names;
      hsize_t idx = 0;
      auto cb_attr = [](hid_t, const char* name, const H5A_info_t*, void* d) -> herr_t {
        auto* v = static_cast<std::vector<std::string>*>(d);
        if (v->size() >= 256) return 1;
        v->emplace_back(name);
        return 0;
      };
      if (links) {  // by index: H5Literate's callback type differs between HDF5 1.10 and 1.12+
        H5G_info_t info;
        if (H5Gget_info(g, &info) < 0) fail(where, "unreadable layer group" + h5_error_detail());
        if (info.nlinks >= 256) fail(where, "too many entries in the layer group");
        for (hsize_t i = 0; i < info.nlinks; ++i) {
          char name[256] = {0};
          if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
            fail(where, "unreadable layer group" + h5_error_detail());
          names.emplace_back(name);
        }
        return names;
      }
      const herr_t st = H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, cb_attr, &names);
      if (st < 0) fail(where, "unreadable layer group" + h5_error_detail());
      if (names.size() >= 256) fail(where, "too many entries in the layer group");
      return names;
    };
    for (const std::string& n : collect(false))
      if (!attrs.count(n) && n.rfind(fmt::kIgnorablePrefix, 0) != 0)
        fail(where, "unknown attribute '" + n + "': this reader cannot interpret it and must not ignore it "
                    "(FORMAT.md, Versioning)");
    for (const std::string& n : collect(true))
      if (!datasets.count(n) && n.rfind(fmt::kIgnorablePrefix, 0) != 0)
        fail(where, "unknown dataset '" + n + "': this reader cannot interpret it and must not ignore it "
                    "(FORMAT.md, Versioning)");
  }

  // bs_int8 / bs_int4 (FORMAT.md, "Block sparsity"): the index arrays are checked before the
  // blocks are sized from them, the blocks' codes and padding like any other weight's.
  template <class CheckCode>
  void read_block_sparse(const std::string& gpath, LayerWeights& L, CheckCode& check_code) {
    const int64_t br = L.block.rows, bc = L.block.cols;
    const int64_t nbr = block_count(L.rows, br), nbc = block_count(L.cols, bc);
    const std::string ppath = gpath + "/" + fmt::kWeightBlockRowPtr, cpath = gpath + "/" + fmt::kWeightBlockCols,
                      bpath = gpath + "/" + fmt::kWeightBlocks;
    BlockCompressed c;
    c.rows = L.rows;
    c.cols = L.cols;
    c.shape = L.block;
    c.row_ptr = read_exact<int64_t>(ppath, Kind::kI64, H5T_NATIVE_INT64, {nbr + 1}, &L.bytes_stored);
    const int64_t nnzb = c.row_ptr.back();
    if (c.row_ptr[0] != 0 || nnzb < 0 || nnzb > nbr * nbc)
      fail("/" + ppath, "must start at 0 and end at the number of kept blocks (at most " + std::to_string(nbr * nbc) + ")");
    for (int64_t R = 0; R < nbr; ++R)
      if (c.row_ptr[R + 1] < c.row_ptr[R] || c.row_ptr[R + 1] - c.row_ptr[R] > nbc)
        fail("/" + ppath, "invalid at block row " + std::to_string(R));
    c.col = read_exact<int64_t>(cpath, Kind::kI64, H5T_NATIVE_INT64, {nnzb}, &L.bytes_stored);
    if (L.format == WeightFormat::kBSInt8) {
      c.blocks = read_exact<int8_t>(bpath, Kind::kI8, H5T_NATIVE_INT8, {nnzb, br, bc}, &L.bytes_stored);
      for (int8_t v : c.blocks) check_code(v, bpath);
    } else {
      // [nnzb, br, ceil(bc/2)]: read as nnzb*br packed rows of bc codes (same bytes).
      const int64_t rb = int4_row_bytes(bc);
      L.packed = read_exact<uint8_t>(bpath, Kind::kU8, H5T_NATIVE_UINT8, {nnzb, br, rb}, &L.bytes_stored);
      for (int64_t r = 0; r < nnzb * br; ++r)
        for (int64_t b = 0; b < rb; ++b) {
          const uint8_t byte = L.packed[static_cast<size_t>(r * rb + b)];
          check_code(int4_lo_signed(byte), bpath);
          if (2 * b + 1 < bc) check_code(int4_hi_signed(byte), bpath);
          else if ((byte >> 4) != 0) fail("/" + bpath, "padding nibble of block row " + std::to_string(r) + " is not 0");
        }
      const std::vector<int32_t> u = unpack_int4_rows(L.packed.data(), nnzb * br, bc);
      c.blocks.assign(u.begin(), u.end());
    }
    const std::string bad = block_check(c);
    if (!bad.empty()) fail("/" + gpath, "invalid block-sparse layout: " + bad);
    if (L.format == WeightFormat::kBSInt8) L.codes = std::move(c.blocks);
    L.block_row_ptr.assign(c.row_ptr.begin(), c.row_ptr.end());
    L.block_col.assign(c.col.begin(), c.col.end());
  }

  LayerWeights read_layer(const Op& op, const OpSchema& rule, const std::string& gpath) {
    const std::string where = "/" + gpath;
    H5Handle g(H5Gopen2(file_, gpath.c_str(), H5P_DEFAULT), H5Gclose);
    if (g < 0) fail(where, "cannot open layer group" + h5_error_detail());
    check_layer_names(g, where);
    LayerWeights L;
    L.name = op.name;
    L.kind = attr_string(g, where, fmt::kAttrKind);
    if (L.kind != op.kind) fail(where, "kind '" + L.kind + "' does not match the graph op kind '" + op.kind + "'");
    const std::string wf = attr_string(g, where, fmt::kAttrWeightFormat);
    if (wf == "none") L.format = WeightFormat::kNone;
    else if (wf == "float32") L.format = WeightFormat::kFloat32;
    else if (wf == "int8") L.format = WeightFormat::kInt8;
    else if (wf == "int4") L.format = WeightFormat::kInt4;
    else if (wf == "nm_int8") L.format = WeightFormat::kNMInt8;
    else if (wf == "nm_int4") L.format = WeightFormat::kNMInt4;
    else if (wf == "bs_int8") L.format = WeightFormat::kBSInt8;
    else if (wf == "bs_int4") L.format = WeightFormat::kBSInt4;
    else if (wf == "fp8_e4m3") L.format = WeightFormat::kFp8E4M3;
    else fail(where, "unknown weight_format '" + wf + "'");
    const bool block_sparse = L.format == WeightFormat::kBSInt8 || L.format == WeightFormat::kBSInt4;
    if (block_sparse &&
        std::find(ck_.required_features.begin(), ck_.required_features.end(), fmt::kFeatureBlockSparse) ==
            ck_.required_features.end())
      fail(where, "uses " + wf + " but the file does not list 'block_sparse' in required_features");
    if (block_sparse && op.kind != "linear" && op.kind != "conv2d")
      fail(where, wf + " weights are defined for linear and conv2d only, not " + op.kind);
    if (L.format == WeightFormat::kNone) fail(where, op.kind + " needs a weight");
    const bool quantized = L.format != WeightFormat::kFloat32;
    if (quantized && rule.weight != WeightRole::kQuantizable) fail(where, op.kind + " weights cannot be quantized");
    if (L.format == WeightFormat::kNMInt4 && digests_required_ &&
        std::find(ck_.required_features.begin(), ck_.required_features.end(), fmt::kFeatureNMInt4) ==
            ck_.required_features.end())
      fail(where, "uses nm_int4 but the file does not list it in required_features");
    const bool fp8 = L.format == WeightFormat::kFp8E4M3;
    if (fp8 && std::find(ck_.required_features.begin(), ck_.required_features.end(), fmt::kFeatureFp8E4M3) ==
                   ck_.required_features.end())
      fail(where, "uses fp8_e4m3 but the file does not list it in required_features");

    L.shape = attr_ints(g, where, fmt::kAttrWeightShape);
    if (static_cast<int>(L.shape.size()) != rule.weight_rank)
      fail(where, "weight_shape " + shape_str(L.shape) + " must have rank " + std::to_string(rule.weight_rank) +
                      " for " + op.kind);
    int64_t numel = 1;
    for (int64_t d : L.shape) {
      if (d <= 0 || d > kMaxElements) fail(where, "weight_shape " + shape_str(L.shape) + " has an invalid dimension");
      numel *= d;
      if (numel > kMaxElements) fail(where, "weight too large");
    }
    L.rows = L.shape[0];
    L.cols = numel / L.rows;
    L.bits = static_cast<int>(std::max<int64_t>(-1, std::min<int64_t>(99, attr_int(g, where, fmt::kAttrBits))));
    try {
      L.granularity = parse_granularity(attr_string(g, where, fmt::kAttrGranularity));
    } catch (const Error& e) {
      fail(where, e.what());
    }
    L.group_size = attr_int(g, where, fmt::kAttrGroupSize);
    if (H5Aexists(g, fmt::kAttrCodeRange) > 0) {
      const std::string range = attr_string(g, where, fmt::kAttrCodeRange);
      if (range != "full")
        fail(where, "code_range must be 'full' (absent: the restricted symmetric range), got '" + range + "'");
      if (std::find(ck_.required_features.begin(), ck_.required_features.end(), fmt::kFeatureInt4FullRange) ==
          ck_.required_features.end())
        fail(where, "uses code_range 'full' but the file does not list 'int4_full_range' in required_features");
      if (L.format != WeightFormat::kInt4 && L.format != WeightFormat::kNMInt4 && L.format != WeightFormat::kBSInt4)
        fail(where, "code_range 'full' is defined for int4, nm_int4 and bs_int4 weights, not " + wf);
      L.full_range = true;
    }
    const std::string sparsity = attr_string(g, where, fmt::kAttrSparsity);
    L.sparse = sparsity != "dense";
    if (L.sparse) {
      try {
        if (block_sparse) L.block = BlockShape::parse(sparsity);
        else L.nm = NMPattern::parse(sparsity);
      } catch (const Error& e) {
        fail(where, e.what());
      }
    }
    if (L.sparse != (L.format == WeightFormat::kNMInt8 || L.format == WeightFormat::kNMInt4 || block_sparse))
      fail(where, "sparsity '" + sparsity + "' does not match weight_format '" + wf + "'");
    if (block_sparse && op.kind == "conv2d" && (L.rows / std::max<int64_t>(1, op.int_attr("groups", 1))) % L.block.rows != 0)
      fail(where, "a grouped conv2d's output channels per group must be a multiple of the block rows");

    // Bits per format.
    switch (L.format) {
      case WeightFormat::kFloat32:
        if (L.bits != 32) fail(where, "float32 weight must have bits = 32");
        break;
      case WeightFormat::kInt8:
      case WeightFormat::kBSInt8:
        if (L.bits < 5 || L.bits > 8) fail(where, wf + " weight_format needs bits in [5, 8], got " + std::to_string(L.bits));
        break;
      case WeightFormat::kFp8E4M3:
        if (L.bits != 8) fail(where, "fp8_e4m3 weight_format needs bits = 8, got " + std::to_string(L.bits));
        if (L.granularity == Granularity::kGroup) fail(where, "fp8_e4m3 scales are per tensor or per channel");
        break;
      case WeightFormat::kInt4:
      case WeightFormat::kNMInt4:
      case WeightFormat::kBSInt4:
        if (L.bits < 2 || L.bits > 4) fail(where, wf + " weight_format needs bits in [2, 4], got " + std::to_string(L.bits));
        break;
      default:
        if (L.bits < 2 || L.bits > 8) fail(where, "bits must be in [2, 8], got " + std::to_string(L.bits));
    }

    // Weight datasets.
    const std::string wpath = gpath + "/" + fmt::kWeight;
    if (L.format == WeightFormat::kFloat32) {
      L.f32 = read_exact<float>(wpath, Kind::kF32, H5T_NATIVE_FLOAT, L.shape, &L.bytes_stored);
      for (float v : L.f32)
        if (!std::isfinite(v)) fail("/" + wpath, "contains a non-finite value");
    } else {
      QuantLayout layout;
      try {
        layout = QuantLayout::make(L.rows, L.cols, L.granularity, L.group_size);
      } catch (const Error& e) {
        fail(where, e.what());
      }
      if (L.granularity != Granularity::kGroup && L.group_size != 0)
        fail(where, "group_size must be 0 unless granularity is group");
      const QuantRange range = L.full_range ? full_quant_range(L.bits) : quant_range(L.bits, true);
      const std::string spath = gpath + "/" + fmt::kWeightScale;
      L.scales = read_exact<float>(spath, Kind::kF32, H5T_NATIVE_FLOAT, layout.param_shape(), &L.bytes_stored);
      for (float s : L.scales)
        if (!std::isfinite(s) || !(s > 0.0f)) fail("/" + spath, "scale values must be finite and > 0");
      auto check_code = [&](int32_t c, const std::string& path) {
        if (c < range.qmin || c > range.qmax)
          fail("/" + path, "code " + std::to_string(c) + " outside [" + std::to_string(range.qmin) + ", " +
                               std::to_string(range.qmax) + "] for " + std::to_string(L.bits) + " bits" +
                               (L.full_range ? " (code_range full)" : ""));
      };
      // Packed signed int4 [rows, cols]: every code in range, padding nibbles zero.
      auto read_int4 = [&](const std::string& path, int64_t rows, int64_t cols) {
        const int64_t rb = int4_row_bytes(cols);
        std::vector<uint8_t> packed =
            read_exact<uint8_t>(path, Kind::kU8, H5T_NATIVE_UINT8, {rows, rb}, &L.bytes_stored);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t b = 0; b < rb; ++b) {
            const uint8_t byte = packed[static_cast<size_t>(r * rb + b)];
            check_code(int4_lo_signed(byte), path);
            if (2 * b + 1 < cols) check_code(int4_hi_signed(byte), path);
            else if ((byte >> 4) != 0) fail("/" + path, "padding nibble of row " + std::to_string(r) + " is not 0");
          }
        return packed;
      };
      if (fp8) {
        L.packed = read_exact<uint8_t>(wpath, Kind::kU8, H5T_NATIVE_UINT8, {L.rows, L.cols}, &L.bytes_stored);
        for (uint8_t b : L.packed)
          if (e4m3_is_nan(b)) fail("/" + wpath, "holds an E4M3 NaN pattern (0x7F / 0xFF): weights must be finite");
      } else if (L.format == WeightFormat::kInt8) {
        L.codes = read_exact<int8_t>(wpath, Kind::kI8, H5T_NATIVE_INT8, {L.rows, L.cols}, &L.bytes_stored);
        for (int8_t c : L.codes) check_code(c, wpath);
      } else if (L.format == WeightFormat::kInt4) {
        L.packed = read_int4(wpath, L.rows, L.cols);
      } else if (block_sparse) {
        read_block_sparse(gpath, L, check_code);
      } else {
        if (L.cols % L.nm.m != 0)
          fail(where, "K = " + std::to_string(L.cols) + " is not a multiple of M for " + L.nm.str());
        const std::string vpath = gpath + "/" + fmt::kWeightValues, ipath = gpath + "/" + fmt::kWeightIndices;
        const int64_t kept = nm_kept_per_row(L.cols, L.nm.n, L.nm.m);
        if (L.format == WeightFormat::kNMInt4) {
          const std::vector<int32_t> codes = unpack_int4_rows(read_int4(vpath, L.rows, kept).data(), L.rows, kept);
          L.codes.assign(codes.begin(), codes.end());
        } else {
          L.codes = read_exact<int8_t>(vpath, Kind::kI8, H5T_NATIVE_INT8, {L.rows, kept}, &L.bytes_stored);
          for (int8_t c : L.codes) check_code(c, vpath);
        }
        L.packed = read_exact<uint8_t>(ipath, Kind::kU8, H5T_NATIVE_UINT8,
                                       {L.rows, nm_index_row_bytes(L.cols, L.nm.n, L.nm.m)}, &L.bytes_stored);
        const std::string bad = nm_check_indices(L.packed.data(), L.rows, L.cols, L.nm);
        if (!bad.empty()) fail("/" + ipath, "invalid N:M metadata: " + bad);
      }
    }

    // Input activation scheme.
    ActScheme& act = L.input_act;
    try {
      act.mode = parse_act_mode(attr_string(g, where, fmt::kAttrActMode));
    } catch (const Error& e) {
      fail(where, e.what());
    }
    if (act.mode != ActMode::kNone) {
      const int64_t bits = attr_int(g, where, fmt::kAttrActBits);
      act.bits = static_cast<int>(std::max<int64_t>(-1, std::min<int64_t>(99, bits)));
      act.symmetric = attr_int(g, where, fmt::kAttrActSymmetric) != 0;
      act.e4m3 = fp8;  // an fp8_e4m3 layer's quantized input is E4M3 (FORMAT.md)
      WeightScheme ws;  // the stored weight as a scheme, for the shared rule set
      ws.bits = L.bits;
      ws.granularity = L.granularity;
      ws.group_size = L.group_size;
      ws.e4m3 = fp8;
      ws.full_range = L.full_range;
      const std::string problem = check_layer_quantization(op.kind, quantized ? &ws : nullptr, act);
      if (!problem.empty()) fail(where, problem);
      // int32 accumulation must not overflow (FORMAT.md, the contract): K * max|qx - zx| * qmax.
      const double worst = static_cast<double>(L.cols) * ((1 << act.bits) - 1) *
                           ((1 << (L.bits - 1)) - (L.full_range ? 0 : 1));
      if (fp8 && L.cols > kFp8MaxK)
        fail(where, "K = " + std::to_string(L.cols) + " exceeds " + std::to_string(kFp8MaxK) +
                        ", the longest exact FP8 dot product the format defines");
      if (!fp8 && worst >= 2147483648.0)
        fail(where, "K = " + std::to_string(L.cols) + " could overflow the int32 accumulator at " +
                        std::to_string(act.bits) + "-bit inputs and " + std::to_string(L.bits) + "-bit weights");
      if (act.mode == ActMode::kStatic) {
        act.scale = attr_float(g, where, fmt::kAttrActScale);
        if (!std::isfinite(act.scale) || !(act.scale > 0)) fail(where, "act_scale must be finite and > 0");
        const int64_t z = attr_int(g, where, fmt::kAttrActZeroPoint);
        const QuantRange r = quant_range(act.bits, act.symmetric);
        if (act.symmetric ? z != 0 : (z < r.qmin || z > r.qmax))
          fail(where, "act_zero_point " + std::to_string(z) + " outside the code range");
        act.zero_point = static_cast<int32_t>(z);
      }
    }

    // Float parameters.
    if (rule.bias_allowed) {
      const std::string bpath = gpath + "/" + fmt::kBias;
      if (exists(file_, bpath)) {
        const int64_t n = op.kind == "layernorm" ? L.shape[0] : L.rows;
        Tensor b = Tensor::floats({n}, read_exact<float>(bpath, Kind::kF32, H5T_NATIVE_FLOAT, {n}, &L.bytes_stored));
        for (float v : b.f32)
          if (!std::isfinite(v)) fail("/" + bpath, "contains a non-finite value");
        L.extra[fmt::kBias] = std::move(b);
      } else if (rule.bias_required) {
        fail("/" + bpath, "missing dataset");
      }
    } else if (exists(file_, gpath + "/" + fmt::kBias)) {
      fail(where, op.kind + " has no bias, but the layer stores one");
    }
    return L;
  }

  // ---- golden ----

  void read_golden() {
    if (!exists(file_, fmt::kGolden)) return;
    H5Handle g(H5Gopen2(file_, fmt::kGolden, H5P_DEFAULT), H5Gclose);
    if (g < 0) fail("/golden", "cannot open" + h5_error_detail());
    const int64_t n = attr_int(g, "/golden", "num_cases");
    if (H5Aexists(g, "reference") > 0) {
      ck_.golden_reference = attr_string(g, "/golden", "reference");
      if (ck_.golden_reference != "contract" && ck_.golden_reference != "model")
        fail("/golden", "attribute 'reference' must be 'contract' or 'model', got '" + ck_.golden_reference + "'");
    } else if (digests_required_) {
      fail("/golden", "missing attribute 'reference' (required since format 1.2)");
    }
    H5Eclear2(H5E_DEFAULT);
    if (n < 0 || n > 4096) fail("/golden", "invalid num_cases " + std::to_string(n));
    for (int64_t i = 0; i < n; ++i) {
      Golden gc;
      const std::string base = std::string(fmt::kGolden) + "/" + std::to_string(i);
      for (const TensorSpec& spec : ck_.graph.inputs) {
        const std::string p = base + "/inputs/" + spec.name;
        const bool is_ids = spec.dtype == "int64";
        Opened o = open_dataset(p, is_ids ? Kind::kI64 : Kind::kF32);
        Tensor t = is_ids ? Tensor::ids(o.shape, read_into<int64_t>(o, p, H5T_NATIVE_INT64))
                          : Tensor::floats(o.shape, read_into<float>(o, p, H5T_NATIVE_FLOAT));
        const std::string problem = check_input(spec, t);  // sizes are bounded by open_dataset
        if (!problem.empty()) fail("/" + p, problem);
        gc.inputs[spec.name] = std::move(t);
      }
      for (const std::string& name : ck_.graph.outputs) {
        const std::string p = base + "/outputs/" + name;
        Opened o = open_dataset(p, Kind::kF32);
        if (o.shape.empty()) fail("/" + p, "must have rank >= 1");
        gc.outputs[name] = Tensor::floats(o.shape, read_into<float>(o, p, H5T_NATIVE_FLOAT));
      }
      if (exists(file_, base + "/" + fmt::kGoldenModelOutputs))
        for (const std::string& name : ck_.graph.outputs) {
          const std::string p = base + "/" + fmt::kGoldenModelOutputs + "/" + name;
          Opened o = open_dataset(p, Kind::kF32);
          expect_shape(p, o.shape, gc.outputs.at(name).shape);
          gc.model_outputs[name] = Tensor::floats(o.shape, read_into<float>(o, p, H5T_NATIVE_FLOAT));
        }
      if (exists(file_, base + "/" + fmt::kGoldenTrace))
        for (const Op& op : ck_.graph.ops) {
          const std::string p = base + "/" + fmt::kGoldenTrace + "/" + op.outputs.at(0);
          Opened o = open_dataset(p, Kind::kF32);
          if (o.shape.empty()) fail("/" + p, "must have rank >= 1");
          gc.trace[op.outputs[0]] = Tensor::floats(o.shape, read_into<float>(o, p, H5T_NATIVE_FLOAT));
        }
      ck_.golden.push_back(std::move(gc));
    }
  }

  void read_provenance() {
    if (!exists(file_, fmt::kProvenance)) return;
    H5Handle g(H5Gopen2(file_, fmt::kProvenance, H5P_DEFAULT), H5Gclose);
    if (g < 0) fail("/provenance", "cannot open" + h5_error_detail());
    std::vector<std::string> names;
    hsize_t idx = 0;
    const herr_t st = H5Aiterate2(
        g, H5_INDEX_NAME, H5_ITER_INC, &idx,
        [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
          auto* v = static_cast<std::vector<std::string>*>(data);
          if (v->size() >= 1024) return 1;  // stop: too many
          v->emplace_back(name);
          return 0;
        },
        &names);
    if (st < 0) fail("/provenance", "unreadable attributes" + h5_error_detail());
    if (names.size() >= 1024) fail("/provenance", "too many attributes");
    for (const std::string& name : names) ck_.provenance[name] = attr_string(g, "/provenance", name.c_str());
  }

  hid_t file_ = -1;
  bool digests_required_ = false;
  Checkpoint ck_;
};

Checkpoint read_with(const std::string& source, const std::function<hid_t()>& open) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H5Handle file(open(), H5Fclose);
  if (file < 0)
    throw Error("checkpoint " + source + ": cannot open as HDF5 (missing, truncated or not an HDF5 file)" +
                h5_error_detail());
  return Reader(source).read(file);
}

}  // namespace

Checkpoint read_checkpoint(const std::string& path) {
  return read_with(path, [&] { return H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); });
}

Checkpoint read_checkpoint_from_memory(const void* data, size_t size) {
  return read_with("<memory>", [&]() -> hid_t {
    H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0) return -1;
    if (size > 0 && H5Pset_file_image(fapl, const_cast<void*>(data), size) < 0) return -1;
    return H5Fopen("qforge-memory-image", H5F_ACC_RDONLY, fapl);
  });
}

}  // namespace qf
