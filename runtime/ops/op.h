// The op interface of the runtime: one class per op kind, built once at load from the graph op,
// its checked parameters and the backend's kernel table. Ops touch data only through that
// table, so the same op classes run on every backend. The registry (make_op) maps kinds to
// classes; which kinds and attributes exist is core/op_schema.h's table.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"
#include "core/tensor.h"
#include "runtime/buffer.h"
#include "runtime/checkpoint.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kv_cache.h"

namespace qf {

using Shape = std::vector<int64_t>;

// A tensor as an op sees it during a run: shape plus device memory.
struct Val {
  DType dtype = DType::kFloat32;
  Shape shape;
  float* f = nullptr;                 // float data on the backend's device
  const int64_t* ids = nullptr;       // int64 graph inputs, on the device
  const int64_t* host_ids = nullptr;  // the same ids on the host (range checks)
  int64_t numel() const { return shape_numel(shape); }
};

// What a run carries between steps of one session: tokens seen, each attention op's KV cache.
// A session is uniform (every batch row at `pos`) until rows join or leave one by one
// (Session::add_row / remove_row, continuous batching); then it is ragged: row b is at
// row_pos[b], and positional ops and the attention ops' caches follow each row's own position.
struct RunState {
  int64_t pos = 0;
  std::vector<int64_t> row_pos;  // ragged sessions only (empty: uniform)
  int64_t position(int64_t b) const { return row_pos.empty() ? pos : row_pos[static_cast<size_t>(b)]; }
  int64_t batch = -1;
  int64_t step_tokens = -1;  // T of the current step, set by positional / attention ops
  std::map<size_t, KvCache> kv;  // by op index
};

struct OpContext {
  const Op& op;
  const LayerWeights* weights;  // null for kinds without parameters
  const kernels::KernelTable& kt;
  size_t index;                 // position in the graph (key of per-op session state)
  // Every layer of the checkpoint, by name: ops that own sub-layers (moe_experts' expert
  // linears, core/op_schema.h sub_layer_ops) find theirs here.
  const std::map<std::string, LayerWeights>* layers = nullptr;
};

class OpImpl {
 public:
  explicit OpImpl(const OpContext& c) : op_(c.op), kt_(c.kt), index_(c.index) {}
  virtual ~OpImpl() = default;
  // Output shape from input shapes; throws qf::Error naming the op.
  virtual Shape infer(const std::vector<const Val*>& in) const = 0;
  // Checks inputs and session state before anything runs (id ranges, positions, batch size).
  virtual void check_state(const std::vector<const Val*>&, const RunState&) const {}
  virtual void run(const std::vector<const Val*>& in, Val& out, RunState& st) = 0;
  // Epilogue fusion, decided once at load: `next` is the only reader of this op's output (or of
  // the output of the last op it absorbed) and is not a graph output. Returning true means
  // run_fused() also computes `next` and writes the chain's last output; the executor then
  // skips `next`. run() always stays this op alone (validate's per-op trace runs it). The fused
  // result must equal the unfused ops' bit for bit.
  virtual bool absorb(const OpImpl& next) {
    (void)next;
    return false;
  }
  virtual void run_fused(const std::vector<const Val*>& in, Val& out, RunState& st) { run(in, out, st); }
  // Hand-off, decided once at load after fusion: `reader` is the only reader of this op's
  // (chain's) output. Returning true means both agreed on a private form of that value (e.g.
  // the reader's quantized input codes, channels-last) that this op's run_fused writes and the
  // reader's run_fused reads; the executor then runs both fused. Default: no.
  virtual bool hand_off_to(OpImpl& reader) {
    (void)reader;
    return false;
  }
  // Shared input codes, decided once at load after the hand-offs: `earlier` reads the same input
  // value and runs before this op in every step (the q / k / v or gate / up projections of a
  // decoder layer read one normalized input). Returning true means this op's run_fused may use the
  // quantized input `earlier` made in the same step instead of quantizing the value again; it must
  // be the same codes, and run_fused must check that `earlier`'s last input is this op's input.
  // The executor then runs this op fused. Default: no.
  virtual bool share_input_codes(const OpImpl& earlier) {
    (void)earlier;
    return false;
  }
  const Op& op() const { return op_; }
  // Counters an op keeps across runs, for reports (moe_experts: tokens, fallbacks, tokens routed
  // to each expert); empty for most ops.
  virtual std::vector<std::pair<std::string, int64_t>> counters() const { return {}; }
  // Which kernel path the op's last run took, for reports (`qforge bench`): empty where there is
  // only one.
  virtual std::string kernel() const { return {}; }
  virtual void reset_counters() {}

 protected:
  [[noreturn]] void fail(const std::string& msg) const;
  // fp8_e4m3 layers with quantized inputs need the table's FP8 entries; fails naming the table.
  void require_fp8_kernels() const {
    if (!kt_.qf8_gemm || !kt_.quantize_e4m3 || !kt_.quantize_per_row_e4m3)
      fail(std::string("kernel table '") + kt_.name + "' has no FP8 E4M3 kernels (feature fp8_e4m3)");
  }
  void expect_inputs(const std::vector<const Val*>& in, size_t n) const;
  // 1- or 2-element int attribute -> (h, w); (dh, dw) when absent. Ranges: core/op_schema.
  std::pair<int64_t, int64_t> pair_attr(const std::string& key, int64_t dh, int64_t dw) const;
  // The attention ops' quantized KV cache (attributes kv_*, feature kv_cache_int4), or none;
  // fails when the attributes are inconsistent or the table has no quantized-cache kernels.
  std::optional<kernels::KvQuant> kv_quant() const;
  // A float32 parameter of the checkpoint as a constant on the backend's device.
  Buffer constant(const std::vector<float>& host) const {
    return Buffer::constant(*kt_.memory, host.data(), host.size() * sizeof(float));
  }

  const Op& op_;
  const kernels::KernelTable& kt_;
  size_t index_;
};

// The registry: the op class for `ctx.op.kind`. Throws qf::Error for a kind without one.
std::unique_ptr<OpImpl> make_op(const OpContext& ctx);

// Factories, one per file of ops (registry.cpp lists them by kind).
std::unique_ptr<OpImpl> make_linear(const OpContext&);
std::unique_ptr<OpImpl> make_conv2d(const OpContext&);
std::unique_ptr<OpImpl> make_relu(const OpContext&);
std::unique_ptr<OpImpl> make_gelu(const OpContext&);
std::unique_ptr<OpImpl> make_maxpool2d(const OpContext&);
std::unique_ptr<OpImpl> make_avgpool2d(const OpContext&);
std::unique_ptr<OpImpl> make_flatten(const OpContext&);
std::unique_ptr<OpImpl> make_add(const OpContext&);
std::unique_ptr<OpImpl> make_layernorm(const OpContext&);
std::unique_ptr<OpImpl> make_softmax(const OpContext&);
std::unique_ptr<OpImpl> make_embedding(const OpContext&);
std::unique_ptr<OpImpl> make_positional_embedding(const OpContext&);
std::unique_ptr<OpImpl> make_causal_attention(const OpContext&);
std::unique_ptr<OpImpl> make_rms_norm(const OpContext&);
std::unique_ptr<OpImpl> make_rotary_embedding(const OpContext&);
std::unique_ptr<OpImpl> make_gqa_attention(const OpContext&);
std::unique_ptr<OpImpl> make_gated_activation(const OpContext&);
std::unique_ptr<OpImpl> make_scale(const OpContext&);
std::unique_ptr<OpImpl> make_moe_experts(const OpContext&);

}  // namespace qf
