// The process group a data-parallel run communicates through: PyTorch's c10d (Gloo on CPUs, NCCL
// on GPUs), rendezvous through a c10d TCPStore on MASTER_ADDR:MASTER_PORT (rank 0 hosts it).
// qforge never talks to c10d directly outside train/distributed_c10d.cpp, the one file that knows
// which LibTorch version it is compiled against.
//
// Every collective is called in the same order on every rank (c10d matches them by order). Each
// blocking call waits at most the group's timeout, then throws, so a peer that hangs or died fails
// the run instead of hanging it.
//
// The group of the running job is process-wide (like torch.distributed's default group): layers
// and modifiers that must agree across ranks (observers, BatchNorm, masks) reach it through
// current_group(), which is null in a single-process run. The helpers below are no-ops then, so
// single-process code paths stay exactly as they were.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "train/distributed_env.h"

namespace at {
class Tensor;
}

namespace qf::train {

enum class ReduceOp { kSum, kMin, kMax };

// A collective in flight (c10d's Work).
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void wait() = 0;  // throws on failure or after the group's timeout
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  virtual std::string backend() const = 0;  // "gloo" | "nccl"

  // In place on every rank; the tensors live on the group's device.
  virtual std::unique_ptr<PendingCollective> all_reduce_async(at::Tensor& t, ReduceOp op) = 0;
  virtual std::unique_ptr<PendingCollective> broadcast_async(at::Tensor& t, int root) = 0;
  virtual void barrier() = 0;

  void all_reduce(at::Tensor& t, ReduceOp op) { all_reduce_async(t, op)->wait(); }
  void broadcast(at::Tensor& t, int root) { broadcast_async(t, root)->wait(); }

  // Times the communication that compute waits for (not hidden behind it): bracket the waits with
  // begin_wait_timing() / end_wait_timing(); waited_seconds() is the sum over all brackets so far.
  // Gloo: host wall time (the host blocks in wait()). NCCL: the host does not block — wait() only
  // makes the compute stream wait for the NCCL stream — so the stall is timed on the GPU, by CUDA
  // events recorded on the compute stream around the waits.
  virtual void begin_wait_timing();
  virtual void end_wait_timing();
  virtual double waited_seconds();

 protected:
  ProcessGroup(int rank, int size) : rank_(rank), size_(size) {}

 private:
  int rank_, size_;
  double wait_started_ = 0, waited_ = 0;  // host clock, seconds
};

// Joins the job `env` describes: TCPStore rendezvous, then a Gloo (cuda = false) or NCCL (cuda =
// true, one GPU per rank: LOCAL_RANK's) group. Throws with a clear message when the backend is not
// built in or the rendezvous times out.
std::shared_ptr<ProcessGroup> init_process_group(const DistributedEnv& env, bool cuda);

// Which backends this build has ("gloo", "gloo nccl", or "" when built without c10d).
std::string available_backends();

// The job's group (null when not distributed). set_current_group(nullptr) leaves the job.
ProcessGroup* current_group();
void set_current_group(std::shared_ptr<ProcessGroup> group);

// ---- helpers for state that must be identical on every rank (no-ops without a group) ----------

// lo = min over ranks, hi = max over ranks (in one collective): observer ranges.
void all_reduce_min_max(at::Tensor& lo, at::Tensor& hi);
// Every tensor takes root's value (packed into one collective per dtype).
void broadcast_tensors(const std::vector<at::Tensor>& tensors, int root = 0);
// Sum over ranks of a few doubles (logging: loss sums, sample counts).
void all_reduce_sum(std::vector<double>& values);
// Throws naming `what` when the tensors differ between ranks (compares a checksum of each).
void check_identical_across_ranks(const std::vector<at::Tensor>& tensors, const std::string& what);

}  // namespace qf::train
