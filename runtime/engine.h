// The graph executor of the standalone runtime.
//
//   qf::Engine engine = qf::Engine::load("model.qf.h5");     // read + validate + build
//   auto out = engine.run({{"x", qf::Tensor::floats({1, 1, 28, 28}, pixels)}});
//   qf::Session s = engine.start_session();                   // gpt: incremental decoding
//   auto logits = s.step({{"ids", qf::Tensor::ids({1, 5}, prompt)}});   // then 1 token a step
//
// The op list is built once at load (weights checked against the graph by shape inference with
// dynamic dims set to 1). Activation memory is planned once per distinct set of input shapes:
// tensors share buffers by liveness, so steady-state runs allocate nothing. An Engine is not
// thread-safe (it owns those buffers); use one per thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "runtime/checkpoint.h"
#include "runtime/kernels/kernels.h"

namespace qf {

class Session;

class Engine {
 public:
  // Builds the executable graph; throws qf::Error (unknown op kind, attribute/shape mismatch).
  explicit Engine(Checkpoint checkpoint, const kernels::KernelTable* table = nullptr);
  static Engine load(const std::string& path);  // read_checkpoint + Engine
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  ~Engine();

  const Checkpoint& checkpoint() const;
  const kernels::KernelTable& kernel_table() const;

  // Full forward pass from position 0 (nothing carried between calls). Inputs by graph input
  // name (all of them; dtype and rank as in the graph). Returns the graph outputs by name.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs);

  // Incremental decoding for graphs with causal_attention: the session keeps each attention
  // layer's K and V, positional_embedding starts at the number of tokens already seen.
  Session start_session();

  struct Impl;

 private:
  friend class Session;
  std::unique_ptr<Impl> impl_;
};

class Session {
 public:
  // Runs the next T tokens (inputs shaped [B, T]; B fixed for the session's lifetime).
  std::map<std::string, Tensor> step(const std::map<std::string, Tensor>& inputs);
  int64_t position() const;  // tokens processed so far
  void reset();              // forget the cache

  struct State;
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

 private:
  friend class Engine;
  explicit Session(Engine* engine);
  Engine* engine_;
  std::unique_ptr<State> state_;
};

}  // namespace qf
