// `qforge run RECIPE --nproc N`: a local launcher in the manner of torchrun. It runs this very
// command line again (less --nproc) as N worker processes with torchrun's environment (RANK,
// LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT: a free port unless
// set), prefixes every line they print with "[rank R] ", and turns the first worker failure into
// the run's failure, with that rank's message: the other workers are then terminated (SIGTERM,
// SIGKILL after a grace period) and die with the launcher if it is killed (PR_SET_PDEATHSIG), so
// no worker survives a failed run. A worker stuck in a collective fails by itself after the
// collective timeout (QFORGE_DIST_TIMEOUT_S, train/distributed_env.h).
#pragma once

#include <string>

namespace qf::cli {

// Runs the workers; returns normally when all of them succeed, throws std::runtime_error naming
// the failed rank and its message otherwise.
void launch_local_workers(int nproc);

// In a worker (WORLD_SIZE > 1 in the environment, from this launcher or torchrun): joins the
// job's process group (train/distributed.h) for `device` ("cpu": Gloo, "cuda": NCCL). No-op in a
// single-process run.
void join_job_from_environment(const std::string& device);

}  // namespace qf::cli
