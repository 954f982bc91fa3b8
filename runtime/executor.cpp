#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "core/error.h"
#include "core/op_schema.h"
#include "runtime/memory_plan.h"

namespace qf {

Executor::Executor(Checkpoint checkpoint, const kernels::KernelTable& table) : ck_(std::move(checkpoint)), kt_(table) {
  std::map<std::string, int> value_index;
  for (const TensorSpec& t : ck_.graph.inputs) {
    value_index[t.name] = static_cast<int>(value_dtype_.size());
    graph_inputs_.push_back(value_index[t.name]);
    value_dtype_.push_back(t.dtype == "int64" ? DType::kInt64 : DType::kFloat32);
  }
  for (size_t i = 0; i < ck_.graph.ops.size(); ++i) {
    const Op& op = ck_.graph.ops[i];
    const auto layer = ck_.layers.find(op.name);
    ops_.push_back(make_op({op, layer == ck_.layers.end() ? nullptr : &layer->second, kt_, i, &ck_.layers}));
    const OpSchema& schema = *find_op_schema(op.kind);  // make_op checked the kind
    std::vector<int> ins;
    for (const std::string& n : op.inputs) {
      const int v = value_index.at(n);  // the reader validated the graph
      if ((value_dtype_[static_cast<size_t>(v)] == DType::kInt64) != schema.takes_ids)
        throw Error("op '" + op.name + "' (" + op.kind + "): input '" + n + "' has the wrong dtype (" +
                    (schema.takes_ids ? "needs int64 token ids" : "needs float32") + ")");
      ins.push_back(v);
    }
    value_index[op.outputs[0]] = static_cast<int>(value_dtype_.size());
    op_output_.push_back(static_cast<int>(value_dtype_.size()));
    value_dtype_.push_back(DType::kFloat32);
    op_inputs_.push_back(std::move(ins));
  }
  for (const std::string& o : ck_.graph.outputs) graph_outputs_.push_back(value_index.at(o));
  fuse();
  last_row_op_.assign(ops_.size(), false);
  for (size_t oi = 0; oi < ops_.size(); ++oi)
    last_row_op_[oi] = ck_.graph.ops[oi].kind == "linear" && !absorbed_[oi] && !fused_[oi] &&
                       op_inputs_[oi].size() == 1 &&
                       std::find(graph_outputs_.begin(), graph_outputs_.end(), run_output_[oi]) != graph_outputs_.end();
  seconds_.assign(ops_.size(), 0.0);
  calls_.assign(ops_.size(), 0);
  // Load-time validation of weights against the graph: shapes with dynamic dims set to 1.
  std::vector<Shape> shapes;
  for (const TensorSpec& t : ck_.graph.inputs) {
    Shape s = t.shape;
    for (int64_t& d : s)
      if (d == -1) d = 1;
    shapes.push_back(s);
  }
  plan(shapes);
}

void Executor::fuse() {
  // A value can be fused away when exactly one op reads it and it is not a graph output.
  std::vector<int> readers(value_dtype_.size(), 0);
  for (const std::vector<int>& ins : op_inputs_)
    for (int v : ins) ++readers[static_cast<size_t>(v)];
  for (int v : graph_outputs_) readers[static_cast<size_t>(v)] += 2;
  run_output_ = op_output_;
  absorbed_.assign(ops_.size(), false);
  for (size_t oi = 0; oi < ops_.size(); ++oi) {
    if (absorbed_[oi]) continue;
    for (size_t j = oi + 1; j < ops_.size(); ++j) {
      const int v = run_output_[oi];
      if (readers[static_cast<size_t>(v)] != 1) break;
      if (op_inputs_[j].size() != 1 || op_inputs_[j][0] != v) continue;  // find the reader
      if (!ops_[oi]->absorb(*ops_[j])) break;
      absorbed_[j] = true;
      run_output_[oi] = op_output_[j];
    }
  }
  fused_.assign(ops_.size(), false);
  for (size_t oi = 0; oi < ops_.size(); ++oi) fused_[oi] = run_output_[oi] != op_output_[oi];
  for (size_t oi = 0; oi < ops_.size(); ++oi) {
    const int v = run_output_[oi];
    if (absorbed_[oi] || readers[static_cast<size_t>(v)] != 1) continue;
    for (size_t j = oi + 1; j < ops_.size(); ++j)
      if (std::find(op_inputs_[j].begin(), op_inputs_[j].end(), v) != op_inputs_[j].end()) {
        if (!absorbed_[j] && ops_[oi]->hand_off_to(*ops_[j])) fused_[oi] = fused_[j] = true;
        break;
      }
  }
  // Ops that read one value: a later one may use the codes an earlier one quantized it into
  // (OpImpl::share_input_codes); the first earlier reader that agrees is its source.
  // QF_SHARE_INPUT_CODES=0 turns this off (to measure it; the outputs are the same bits).
  const char* share = std::getenv("QF_SHARE_INPUT_CODES");
  if (share && std::string(share) == "0") return;
  for (size_t j = 0; j < ops_.size(); ++j) {
    if (absorbed_[j] || op_inputs_[j].size() != 1) continue;
    for (size_t i = 0; i < j; ++i)
      if (!absorbed_[i] && op_inputs_[i].size() == 1 && op_inputs_[i][0] == op_inputs_[j][0] &&
          ops_[j]->share_input_codes(*ops_[i])) {
        fused_[j] = true;
        break;
      }
  }
}

void Executor::plan(const std::vector<Shape>& input_shapes) {
  if (!plan_key_.empty() && input_shapes == plan_key_) return;
  vals_.assign(value_dtype_.size(), Val{});
  for (size_t i = 0; i < graph_inputs_.size(); ++i) {
    Val& v = vals_[static_cast<size_t>(graph_inputs_[i])];
    v.dtype = value_dtype_[static_cast<size_t>(graph_inputs_[i])];
    v.shape = input_shapes[i];
  }
  last_row_view_.assign(ops_.size(), Val{});
  last_row_active_.assign(ops_.size(), false);
  for (size_t oi = 0; oi < ops_.size(); ++oi) {
    std::vector<const Val*> in;
    for (int v : op_inputs_[oi]) in.push_back(&vals_[static_cast<size_t>(v)]);
    if (last_only_ && last_row_op_[oi]) {
      const Shape& s = in[0]->shape;  // a linear's input: [B, T, K]; one batch row only
      if (s.size() == 3 && s[0] == 1 && s[1] > 1) {
        last_row_active_[oi] = true;
        last_row_view_[oi].dtype = in[0]->dtype;
        last_row_view_[oi].shape = {1, 1, s[2]};
        in[0] = &last_row_view_[oi];
      }
    }
    Val& out = vals_[static_cast<size_t>(op_output_[oi])];
    out.shape = ops_[oi]->infer(in);  // absorbed ops too: their shapes are the chain's
  }
  // Memory for what runs: a fused chain writes only its last output (the values inside it are
  // never materialised), and its first op's inputs stay alive until it has run.
  std::vector<PlanStep> steps;
  for (size_t oi = 0; oi < ops_.size(); ++oi)
    if (!absorbed_[oi])
      steps.push_back({op_inputs_[oi], run_output_[oi], vals_[static_cast<size_t>(run_output_[oi])].numel()});
  const MemoryPlan mp = plan_memory(steps, static_cast<int>(value_dtype_.size()), graph_outputs_);
  while (slots_.size() < mp.slot_elements.size()) slots_.emplace_back(*kt_.memory);
  for (size_t s = 0; s < mp.slot_elements.size(); ++s)
    slots_[s].reserve(static_cast<size_t>(mp.slot_elements[s]) * sizeof(float));
  for (size_t v = 0; v < vals_.size(); ++v)
    if (mp.slot_of[v] >= 0) vals_[v].f = slots_[static_cast<size_t>(mp.slot_of[v])].f32();
  plan_key_ = input_shapes;
}

std::vector<Shape> Executor::checked_input_shapes(const std::map<std::string, Tensor>& inputs) const {
  std::vector<Shape> shapes;
  for (const TensorSpec& spec : ck_.graph.inputs) {
    auto it = inputs.find(spec.name);
    if (it == inputs.end()) throw Error("run: missing input '" + spec.name + "'");
    const Tensor& t = it->second;
    const std::string problem = check_input(spec, t);
    if (!problem.empty()) throw Error("run: input '" + spec.name + "' " + problem);
    shapes.push_back(t.shape);
  }
  if (inputs.size() != ck_.graph.inputs.size()) throw Error("run: unexpected extra inputs");
  return shapes;
}

std::map<std::string, Tensor> Executor::execute(const std::map<std::string, Tensor>& inputs, RunState& st) {
  plan(checked_input_shapes(inputs));
  while (inputs_.size() < graph_inputs_.size()) inputs_.emplace_back(*kt_.memory);
  for (size_t i = 0; i < graph_inputs_.size(); ++i) {
    const Tensor& t = inputs.at(ck_.graph.inputs[i].name);
    Val& v = vals_[static_cast<size_t>(graph_inputs_[i])];
    const bool ids = t.dtype == DType::kInt64;
    const size_t bytes = static_cast<size_t>(t.numel()) * (ids ? sizeof(int64_t) : sizeof(float));
    inputs_[i].reserve(bytes);
    kt_.memory->to_device(inputs_[i].data(), ids ? static_cast<const void*>(t.i64.data()) : t.f32.data(), bytes);
    v.f = ids ? nullptr : inputs_[i].f32();
    v.ids = ids ? inputs_[i].as<int64_t>() : nullptr;
    v.host_ids = ids ? t.i64.data() : nullptr;
  }
  std::vector<std::vector<const Val*>> ins(ops_.size());
  for (size_t oi = 0; oi < ops_.size(); ++oi) {
    for (int v : op_inputs_[oi]) ins[oi].push_back(&vals_[static_cast<size_t>(v)]);
    if (last_row_active_[oi]) {  // the last row of the input, in place
      const Val& full = *ins[oi][0];
      last_row_view_[oi].f = full.f + (full.shape[1] - 1) * full.shape[2];
      ins[oi][0] = &last_row_view_[oi];
    }
    ops_[oi]->check_state(ins[oi], st);  // before anything mutates the session
  }
  st.step_tokens = -1;
  using Clock = std::chrono::steady_clock;
  void (*sync)() = profiling_ ? kt_.memory->synchronize : nullptr;
  if (sync) sync();
  for (size_t oi = 0; oi < ops_.size(); ++oi) {
    if (absorbed_[oi]) continue;  // its time is its absorber's
    const Clock::time_point t0 = profiling_ ? Clock::now() : Clock::time_point{};
    Val& out = vals_[static_cast<size_t>(run_output_[oi])];
    if (fused_[oi]) ops_[oi]->run_fused(ins[oi], out, st);
    else ops_[oi]->run(ins[oi], out, st);
    if (sync) sync();
    if (profiling_) {
      seconds_[oi] += std::chrono::duration<double>(Clock::now() - t0).count();
      ++calls_[oi];
    }
  }
  if (!st.kv.empty() && !inputs.empty()) st.batch = inputs.begin()->second.shape[0];
  if (st.step_tokens > 0) {
    st.pos += st.step_tokens;
    for (int64_t& p : st.row_pos) p += st.step_tokens;
  }
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < graph_outputs_.size(); ++i) {
    const Val& v = vals_[static_cast<size_t>(graph_outputs_[i])];
    std::vector<float> host(static_cast<size_t>(v.numel()));
    kt_.memory->to_host(host.data(), v.f, host.size() * sizeof(float));
    out[ck_.graph.outputs[i]] = Tensor::floats(v.shape, std::move(host));
  }
  return out;
}

void Executor::set_last_position_outputs(bool on) {
  if (on == last_only_) return;
  last_only_ = on;
  plan_key_.clear();  // shapes change: plan again on the next run
}

Tensor Executor::execute_op(size_t index, const std::vector<Tensor>& inputs) {
  if (index >= ops_.size()) throw Error("run_op: no op " + std::to_string(index));
  std::vector<Buffer> bufs;
  std::vector<Val> vals(inputs.size());
  std::vector<const Val*> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    const bool ids = t.dtype == DType::kInt64;
    const size_t bytes = static_cast<size_t>(t.numel()) * (ids ? sizeof(int64_t) : sizeof(float));
    bufs.emplace_back(*kt_.memory);
    bufs.back().reserve(bytes);
    kt_.memory->to_device(bufs.back().data(), ids ? static_cast<const void*>(t.i64.data()) : t.f32.data(), bytes);
    vals[i].dtype = t.dtype;
    vals[i].shape = t.shape;
    vals[i].f = ids ? nullptr : bufs.back().f32();
    vals[i].ids = ids ? bufs.back().as<int64_t>() : nullptr;
    vals[i].host_ids = ids ? t.i64.data() : nullptr;
    in.push_back(&vals[i]);
  }
  RunState st;
  Val out;
  out.shape = ops_[index]->infer(in);
  ops_[index]->check_state(in, st);
  Buffer ob(*kt_.memory);
  ob.reserve(static_cast<size_t>(out.numel()) * sizeof(float));
  out.f = ob.f32();
  ops_[index]->run(in, out, st);
  std::vector<float> host(static_cast<size_t>(out.numel()));
  kt_.memory->to_host(host.data(), out.f, host.size() * sizeof(float));
  return Tensor::floats(out.shape, std::move(host));
}

std::vector<OpTime> Executor::op_times() const {
  std::vector<OpTime> t;
  for (size_t i = 0; i < ops_.size(); ++i)
    t.push_back({ops_[i]->op().name, ops_[i]->op().kind, seconds_[i], calls_[i], ops_[i]->kernel()});
  return t;
}

std::map<std::string, std::vector<std::pair<std::string, int64_t>>> Executor::op_counters() const {
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> c;
  for (const auto& op : ops_)
    if (auto v = op->counters(); !v.empty()) c[op->op().name] = std::move(v);
  return c;
}

void Executor::reset_op_counters() {
  for (auto& op : ops_) op->reset_counters();
}

void Executor::reset_op_times() {
  seconds_.assign(ops_.size(), 0.0);
  calls_.assign(ops_.size(), 0);
}

}  // namespace qf
