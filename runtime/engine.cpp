#include "runtime/engine.h"

#include <algorithm>
#include <string>

#include "core/error.h"

#include "runtime/checkpoint_reader.h"
#include "runtime/executor.h"

namespace qf {

Engine::Engine(Checkpoint checkpoint, const kernels::KernelTable* table)
    : impl_(std::make_shared<Executor>(std::move(checkpoint), table ? *table : kernels::select_kernels())) {}
Engine Engine::load(const std::string& path, const kernels::KernelTable* table) {
  return Engine(read_checkpoint(path), table);
}
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;
const Checkpoint& Engine::checkpoint() const { return impl_->checkpoint(); }
const kernels::KernelTable& Engine::kernel_table() const { return impl_->table(); }

std::map<std::string, Tensor> Engine::run(const std::map<std::string, Tensor>& inputs) {
  RunState st;
  return impl_->execute(inputs, st);
}

Tensor Engine::run_op(size_t index, const std::vector<Tensor>& inputs) { return impl_->execute_op(index, inputs); }

Session Engine::start_session() { return Session(impl_); }
void Engine::set_profiling(bool on) { impl_->set_profiling(on); }
void Engine::set_last_position_outputs(bool on) { impl_->set_last_position_outputs(on); }
std::vector<OpTime> Engine::op_times() const { return impl_->op_times(); }
void Engine::reset_op_times() { impl_->reset_op_times(); }
std::map<std::string, std::vector<std::pair<std::string, int64_t>>> Engine::op_counters() const {
  return impl_->op_counters();
}
void Engine::reset_op_counters() { impl_->reset_op_counters(); }

struct Session::State {
  RunState run;
};

Session::Session(std::shared_ptr<Executor> executor)
    : executor_(std::move(executor)), state_(std::make_unique<State>()) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;
int64_t Session::kv_bytes_per_token() const {
  int64_t n = 0;
  for (const auto& [index, cache] : state_->run.kv) n += cache.bytes_per_token();
  return n;
}

std::map<std::string, Tensor> Session::step(const std::map<std::string, Tensor>& inputs) {
  return executor_->execute(inputs, state_->run);
}
int64_t Session::position() const { return state_->run.position(0); }
void Session::reset() { state_->run = RunState(); }

void Session::truncate(int64_t len) {
  RunState& st = state_->run;
  if (!st.row_pos.empty()) throw Error("Session::truncate: the session's rows are at different positions");
  if (len < 0 || len > st.pos)
    throw Error("Session::truncate: " + std::to_string(len) + " tokens outside [0, " + std::to_string(st.pos) + "]");
  for (auto& [op, cache] : st.kv) cache.truncate(len);
  st.pos = len;
}

int64_t Session::rows() const { return std::max<int64_t>(state_->run.batch, 0); }

int64_t Session::position(int64_t row) const {
  const RunState& st = state_->run;
  if (row < 0 || row >= std::max<int64_t>(st.batch, 1))
    throw Error("Session::position: no row " + std::to_string(row) + " (the session has " + std::to_string(rows()) + ")");
  return st.position(row);
}

KvRows Session::kv_rows(int64_t t0, int64_t t1, int64_t row) const {
  const RunState& st = state_->run;
  const int64_t pos = position(row);
  if (t0 < 0 || t1 < t0 || t1 > pos)
    throw Error("Session::kv_rows: tokens [" + std::to_string(t0) + ", " + std::to_string(t1) + ") outside [0, " +
                std::to_string(pos) + ")");
  const kernels::KernelTable& kt = executor_->table();
  KvRows rows;
  rows.tokens = t1 - t0;
  for (const auto& [op, cache] : st.kv) rows.layers.push_back(cache.rows_out(kt, op, row, t0, rows.tokens));
  return rows;
}

namespace {

// Rows from another session of the same engine fit this session's attention ops.
void check_rows(const RunState& st, const KvRows& rows, size_t graph_ops, const char* what) {
  if (!st.kv.empty() && st.kv.size() != rows.layers.size())
    throw Error(std::string(what) + ": rows of " + std::to_string(rows.layers.size()) +
                " attention ops for a session with " + std::to_string(st.kv.size()));
  for (const KvRows::Layer& l : rows.layers) {
    if (l.op >= graph_ops) throw Error(std::string(what) + ": no op " + std::to_string(l.op) + " in the graph");
    if (!st.kv.empty() && !st.kv.count(l.op))
      throw Error(std::string(what) + ": op " + std::to_string(l.op) + " has no KV cache in this session");
  }
}

}  // namespace

void Session::append_kv_rows(const KvRows& rows) {
  RunState& st = state_->run;
  if (st.batch > 1) throw Error("Session::append_kv_rows: the session has batch " + std::to_string(st.batch) + ", not 1");
  check_rows(st, rows, executor_->checkpoint().graph.ops.size(), "Session::append_kv_rows");
  const kernels::KernelTable& kt = executor_->table();
  for (const KvRows::Layer& l : rows.layers) {
    KvCache& cache = st.kv[l.op];
    if (cache.length() != st.position(0))
      throw Error("Session::append_kv_rows: op " + std::to_string(l.op) + " holds " + std::to_string(cache.length()) +
                  " tokens, the session " + std::to_string(st.position(0)));
    cache.append_rows(kt, 0, l, rows.tokens);
  }
  st.pos += rows.tokens;
  for (int64_t& p : st.row_pos) p += rows.tokens;
  st.batch = 1;
}

void Session::add_row(const KvRows& rows) {
  RunState& st = state_->run;
  check_rows(st, rows, executor_->checkpoint().graph.ops.size(), "Session::add_row");
  const int64_t n = std::max<int64_t>(st.batch, 0);
  if (st.row_pos.empty()) st.row_pos.assign(static_cast<size_t>(n), st.pos);  // becomes ragged
  const kernels::KernelTable& kt = executor_->table();
  for (const KvRows::Layer& l : rows.layers) st.kv[l.op].append_rows(kt, n, l, rows.tokens);
  st.row_pos.push_back(rows.tokens);
  st.batch = n + 1;
}

void Session::remove_row(int64_t row) {
  RunState& st = state_->run;
  const int64_t n = rows();
  if (row < 0 || row >= n)
    throw Error("Session::remove_row: no row " + std::to_string(row) + " (the session has " + std::to_string(n) + ")");
  if (st.row_pos.empty()) st.row_pos.assign(static_cast<size_t>(n), st.pos);
  const kernels::KernelTable& kt = executor_->table();
  for (auto& [op, cache] : st.kv) cache.remove_row(kt, row);
  st.row_pos.erase(st.row_pos.begin() + row);
  st.batch = n - 1;
}

}  // namespace qf
