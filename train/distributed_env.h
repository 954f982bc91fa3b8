// Where this process sits in a data-parallel job, read from the environment torchrun sets:
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (`qforge run --nproc N` sets the same
// variables for its workers). A process without WORLD_SIZE (or with WORLD_SIZE=1) is a plain
// single-process run. Std only.
#pragma once

#include <chrono>
#include <string>

namespace qf::train {

struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // How long a collective (and the rendezvous) may block before the run fails instead of hanging:
  // QFORGE_DIST_TIMEOUT_S, default 300 s (a peer that died is usually noticed far sooner, as a
  // closed connection).
  std::chrono::milliseconds timeout{300000};
  bool distributed() const { return world_size > 1; }
};

// Reads the variables; throws std::runtime_error naming the variable when one is malformed or
// inconsistent (e.g. RANK >= WORLD_SIZE, WORLD_SIZE given without RANK).
DistributedEnv distributed_env_from_environment();

// The same, from a lookup function (tests): get(name) returns nullptr when unset.
DistributedEnv distributed_env_from(const char* (*get)(const char*));

}  // namespace qf::train
