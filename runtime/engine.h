// The standalone runtime's entry point.
//
//   qf::Engine engine = qf::Engine::load("model.qf.h5");     // read + validate + build
//   auto out = engine.run({{"x", qf::Tensor::floats({1, 1, 28, 28}, pixels)}});
//   qf::Session s = engine.start_session();                   // gpt: incremental decoding
//   auto logits = s.step({{"ids", qf::Tensor::ids({1, 5}, prompt)}});   // then 1 token a step
//
// The op list is built once at load by the op registry (runtime/ops/), weights prepared for the
// chosen kernel table (runtime/weight_prep.h) and checked against the graph by shape inference
// with dynamic dims set to 1. Activation memory is planned once per distinct set of input shapes
// (runtime/memory_plan.h), so steady-state runs allocate nothing. An Engine is not thread-safe
// (it owns those buffers); use one per thread. A Session shares the engine's state and stays
// valid when the Engine is moved or destroyed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/checkpoint.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kv_rows.h"

namespace qf {

class Session;
class Executor;

// Accumulated wall time of one op while profiling was on (Engine::set_profiling).
struct OpTime {
  std::string name, kind;
  double seconds = 0;
  int64_t calls = 0;
  std::string kernel;  // the kernel path the op last ran, where it says (OpImpl::kernel), else empty
};

class Engine {
 public:
  // Builds the executable graph; throws qf::Error (unknown op kind, attribute/shape mismatch).
  // `table`: the backend (default: kernels::select_kernels(), the best this CPU runs).
  explicit Engine(Checkpoint checkpoint, const kernels::KernelTable* table = nullptr);
  static Engine load(const std::string& path, const kernels::KernelTable* table = nullptr);
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  ~Engine();

  const Checkpoint& checkpoint() const;
  const kernels::KernelTable& kernel_table() const;

  // Full forward pass from position 0 (nothing carried between calls). Inputs by graph input
  // name (all of them; dtype and rank as in the graph). Returns the graph outputs by name.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs);

  // Op `index` of the graph alone, on host inputs in its input order (validate's trace check).
  Tensor run_op(size_t index, const std::vector<Tensor>& inputs);

  // Incremental decoding for graphs with causal_attention: the session keeps each attention
  // layer's K and V, positional_embedding starts at the number of tokens already seen.
  Session start_session();

  // Prompt steps whose earlier positions' outputs nobody reads (llama.cpp computes only the last
  // position's logits): when on, a graph output made by a linear (a language model's head) is
  // computed for the last position of the step only, shape [1, 1, N] instead of [1, T, N]
  // (batch 1; its values are the last row of the full output, bit for bit: every row of a GEMM
  // is computed on its own). Off by default: generation's speculative verification and the
  // prefix cache read every position. Applies to every session of this engine.
  void set_last_position_outputs(bool on);

  // Per-op timing for `qforge bench`: off by default (it costs two clock reads per op).
  void set_profiling(bool on);
  std::vector<OpTime> op_times() const;  // in graph order, accumulated while profiling was on
  void reset_op_times();
  // Counters ops keep across runs, by op name: moe_experts reports "tokens", "fallback" and
  // "expert <e>" (tokens routed to expert e). Always on (a few integer additions per run).
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> op_counters() const;
  void reset_op_counters();

 private:
  std::shared_ptr<Executor> impl_;
};

class Session {
 public:
  // Runs the next T tokens (inputs shaped [B, T]; B fixed for the session's lifetime).
  std::map<std::string, Tensor> step(const std::map<std::string, Tensor>& inputs);
  int64_t position() const;  // tokens processed so far (row 0's in a ragged session)
  void reset();              // forget the cache
  // Bytes the KV caches hold per token of one sequence (all attention ops, K and V, as stored:
  // float32 or packed codes + fp16 scales); 0 before the first step.
  int64_t kv_bytes_per_token() const;

  // Generation support (runtime/generation.h, runtime/prefix_cache.h, runtime/batch_generation.h).
  // Keeps the first `len` tokens (0 <= len <= position()) and forgets the rest: every attention
  // op's KV cache and the position. Rolls back draft tokens the target rejected. Uniform
  // sessions only (not after add_row / remove_row).
  void truncate(int64_t len);
  // Copies of the keys and values of tokens [t0, t1) of batch row `row`, every attention op's,
  // as the caches store them (float, or packed int4/int8 codes + scales).
  KvRows kv_rows(int64_t t0, int64_t t1, int64_t row = 0) const;
  // Appends `rows` as the next rows.tokens tokens of a batch-1 session (e.g. a cached prefix
  // into a fresh session): afterwards the session is where stepping those tokens would have
  // left it, without running the graph.
  void append_kv_rows(const KvRows& rows);

  // Continuous batching: rows join and leave between steps, each at its own position (the
  // session becomes ragged: position(row) per row; a step then runs T tokens for every row).
  // add_row appends a new last batch row holding `rows` (a whole sequence's keys and values
  // from position 0, e.g. kv_rows(0, n) of a batch-1 session that ran the prompt), at position
  // rows.tokens. remove_row drops row `row`; later rows move down one.
  void add_row(const KvRows& rows);
  void remove_row(int64_t row);
  int64_t rows() const;                 // batch rows (0 before the first step or add_row)
  int64_t position(int64_t row) const;  // row `row`'s tokens processed so far

  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

 private:
  friend class Engine;
  struct State;
  explicit Session(std::shared_ptr<Executor> executor);
  std::shared_ptr<Executor> executor_;
  std::unique_ptr<State> state_;
};

}  // namespace qf
