#include "runtime/engine.h"

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
std::map<std::string, Tensor> Session::step(const std::map<std::string, Tensor>& inputs) {
  return executor_->execute(inputs, state_->run);
}
int64_t Session::position() const { return state_->run.pos; }
void Session::reset() { state_->run = RunState(); }

}  // namespace qf
