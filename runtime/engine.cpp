#include "runtime/engine.h"

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
int64_t Session::position() const { return state_->run.pos; }
void Session::reset() { state_->run = RunState(); }

void Session::truncate(int64_t len) {
  RunState& st = state_->run;
  if (len < 0 || len > st.pos)
    throw Error("Session::truncate: " + std::to_string(len) + " tokens outside [0, " + std::to_string(st.pos) + "]");
  for (auto& [op, cache] : st.kv) cache.truncate(len);
  st.pos = len;
}

KvRows Session::kv_rows(int64_t t0, int64_t t1) const {
  const RunState& st = state_->run;
  if (t0 < 0 || t1 < t0 || t1 > st.pos)
    throw Error("Session::kv_rows: tokens [" + std::to_string(t0) + ", " + std::to_string(t1) + ") outside [0, " +
                std::to_string(st.pos) + ")");
  const kernels::KernelTable& kt = executor_->table();
  KvRows rows;
  rows.tokens = t1 - t0;
  for (const auto& [op, cache] : st.kv) {
    KvRows::Layer l;
    l.op = op;
    l.c = cache.channels();
    const size_t bytes = static_cast<size_t>(rows.tokens * l.c) * sizeof(float);
    l.k = Buffer(*kt.memory);
    l.v = Buffer(*kt.memory);
    l.k.reserve(bytes);
    l.v.reserve(bytes);
    cache.copy_rows_out(kt, 0, t0, rows.tokens, l.k.f32(), l.v.f32());
    rows.layers.push_back(std::move(l));
  }
  return rows;
}

void Session::append_kv_rows(const KvRows& rows) {
  RunState& st = state_->run;
  if (st.batch > 1) throw Error("Session::append_kv_rows: the session has batch " + std::to_string(st.batch) + ", not 1");
  if (!st.kv.empty() && st.kv.size() != rows.layers.size())
    throw Error("Session::append_kv_rows: rows of " + std::to_string(rows.layers.size()) +
                " attention ops for a session with " + std::to_string(st.kv.size()));
  const kernels::KernelTable& kt = executor_->table();
  for (const KvRows::Layer& l : rows.layers) {
    if (l.op >= executor_->checkpoint().graph.ops.size())
      throw Error("Session::append_kv_rows: no op " + std::to_string(l.op) + " in the graph");
    KvCache& cache = st.kv[l.op];
    if (cache.length() > 0 && cache.channels() != l.c)
      throw Error("Session::append_kv_rows: op " + std::to_string(l.op) + " has " + std::to_string(cache.channels()) +
                  " channels, the rows " + std::to_string(l.c));
    if (cache.length() != st.pos)
      throw Error("Session::append_kv_rows: op " + std::to_string(l.op) + " holds " + std::to_string(cache.length()) +
                  " tokens, the session " + std::to_string(st.pos));
    cache.append(kt, 1, rows.tokens, l.c, l.k.f32(), l.v.f32(), l.c, rows.tokens * l.c);
  }
  st.pos += rows.tokens;
  st.batch = 1;
}

}  // namespace qf
