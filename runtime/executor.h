// The graph executor behind Engine and Session: ops built once from the checkpoint by the
// registry, activation buffers planned per distinct set of input shapes (memory_plan.h) and
// allocated through the backend's MemoryOps, inputs copied to the device and outputs back.
// It never branches on an op kind, an ISA or a device.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/checkpoint.h"
#include "runtime/engine.h"
#include "runtime/ops/op.h"

namespace qf {

class Executor {
 public:
  Executor(Checkpoint checkpoint, const kernels::KernelTable& table);

  const Checkpoint& checkpoint() const { return ck_; }
  const kernels::KernelTable& table() const { return kt_; }

  std::map<std::string, Tensor> execute(const std::map<std::string, Tensor>& inputs, RunState& st);
  // One op alone on the given inputs (host tensors in the op's input order), from position 0:
  // validate's per-op trace comparison.
  Tensor execute_op(size_t index, const std::vector<Tensor>& inputs);

  // Per-op wall time, accumulated while profiling is on.
  void set_profiling(bool on) { profiling_ = on; }
  // Engine::set_last_position_outputs.
  void set_last_position_outputs(bool on);
  std::vector<OpTime> op_times() const;
  void reset_op_times();
  // OpImpl::counters of every op that keeps some, by op name (moe_experts: expert load).
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> op_counters() const;
  void reset_op_counters();

 private:
  void fuse();  // load time: which ops absorb their only reader (OpImpl::absorb)
  void plan(const std::vector<Shape>& input_shapes);
  std::vector<Shape> checked_input_shapes(const std::map<std::string, Tensor>& inputs) const;

  Checkpoint ck_;
  const kernels::KernelTable& kt_;
  std::vector<std::unique_ptr<OpImpl>> ops_;
  std::vector<std::vector<int>> op_inputs_;
  std::vector<int> op_output_;
  // Fusion (OpImpl::absorb): the value each op writes when the graph runs (its chain's last
  // output), and the ops another op absorbed (skipped).
  std::vector<int> run_output_;
  std::vector<bool> absorbed_;
  std::vector<bool> fused_;  // run with run_fused (absorbed something, or a hand-off)
  std::vector<int> graph_inputs_, graph_outputs_;  // value ids
  std::vector<DType> value_dtype_;

  // Memory for one set of input shapes.
  std::vector<Shape> plan_key_;
  std::vector<Val> vals_;
  std::vector<Buffer> slots_, inputs_;

  // Ops that may run on the last position only (set_last_position_outputs): unfused linears
  // whose output is a graph output. last_only_ says whether that mode is on.
  std::vector<bool> last_row_op_;
  bool last_only_ = false;
  // The input views of those ops in this plan: [1, 1, K], the last row of their [1, T, K] input
  // (T > 1); an op without one runs on all rows.
  std::vector<Val> last_row_view_;
  std::vector<bool> last_row_active_;

  bool profiling_ = false;
  std::vector<double> seconds_;
  std::vector<int64_t> calls_;
};

}  // namespace qf
