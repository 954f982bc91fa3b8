// The one file that includes c10d: store, Gloo / NCCL process groups, collectives. Everything that
// differs between the LibTorch versions qforge builds against is here, behind #if on the version:
//   LibTorch 1.13 (Debian, CI): ProcessGroupGloo derives from c10d::ProcessGroup.
//   LibTorch 2.x (GPU machines): ProcessGroupGloo / ProcessGroupNCCL derive from c10d::Backend
//     (the ProcessGroup is a dispatcher over backends); the backends keep the same collective
//     signatures (vector<Tensor>&, options) -> intrusive_ptr<Work>, and Work::wait(timeout).
// The NCCL path is compiled only when the LibTorch has CUDA and nccl.h is found (QFORGE_WITH_NCCL);
// it is not exercised by CI (no GPU there).
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <stdexcept>

#include "train/distributed.h"

#ifdef QFORGE_WITH_C10D
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef QFORGE_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef QFORGE_WITH_NCCL
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

#define QFORGE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace qf::train {

#ifdef QFORGE_WITH_C10D
namespace {

// 2.0 split c10d::ProcessGroup into a front end and per-device Backends; the concrete Gloo and
// NCCL classes became Backends. We hold the concrete class through its base of that version.
#if QFORGE_TORCH_AT_LEAST(2, 0)
using C10dGroup = c10d::Backend;
#else
using C10dGroup = c10d::ProcessGroup;
#endif

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return c10d::ReduceOp::SUM;
    case ReduceOp::kMin: return c10d::ReduceOp::MIN;
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
  }
  return c10d::ReduceOp::SUM;
}

class C10dPending : public PendingCollective {
 public:
  C10dPending(c10::intrusive_ptr<c10d::Work> work, std::chrono::milliseconds timeout, const char* what)
      : work_(std::move(work)), timeout_(timeout), what_(what) {}
  void wait() override {
    try {
      // Gloo honours the timeout itself; NCCL's wait(timeout) makes the caller's stream wait and
      // throws once the timeout passed.
      work_->wait(timeout_);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("collective ") + what_ + " failed (a peer died, hung for longer than " +
                               std::to_string(timeout_.count() / 1000) + " s, or disconnected): " +
                               std::string(e.what()).substr(0, 400));
    }
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::chrono::milliseconds timeout_;
  const char* what_;
};

class C10dProcessGroup : public ProcessGroup {
 public:
  C10dProcessGroup(int rank, int size, std::string backend, c10::intrusive_ptr<c10d::Store> store,
                   c10::intrusive_ptr<C10dGroup> group, std::chrono::milliseconds timeout)
      : ProcessGroup(rank, size), backend_(std::move(backend)), store_(std::move(store)), group_(std::move(group)),
        timeout_(timeout) {}
  std::string backend() const override { return backend_; }
  std::unique_ptr<PendingCollective> all_reduce_async(at::Tensor& t, ReduceOp op) override {
    std::vector<at::Tensor> ts{t};
    c10d::AllreduceOptions o;
    o.reduceOp = to_c10d(op);
    return std::make_unique<C10dPending>(group_->allreduce(ts, o), timeout_, "all_reduce");
  }
  std::unique_ptr<PendingCollective> broadcast_async(at::Tensor& t, int root) override {
    std::vector<at::Tensor> ts{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.rootTensor = 0;
    return std::make_unique<C10dPending>(group_->broadcast(ts, o), timeout_, "broadcast");
  }
  void barrier() override {
    // A barrier is an all-reduce of one element: c10d's Gloo barrier and NCCL barrier differ in
    // what they synchronise (NCCL's needs a device guess); this one is the same everywhere.
    at::Tensor one = torch::ones({1}, torch::TensorOptions().device(device_));
    all_reduce(one, ReduceOp::kSum);
  }
  void set_device(torch::Device d) { device_ = d; }

#ifdef QFORGE_WITH_NCCL
  void begin_wait_timing() override {
    if (!device_.is_cuda()) return ProcessGroup::begin_wait_timing();
    stalls_.emplace_back(std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault),
                         std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault));
    stalls_.back().first->record(c10::cuda::getCurrentCUDAStream(device_.index()));
  }
  void end_wait_timing() override {
    if (!device_.is_cuda()) return ProcessGroup::end_wait_timing();
    stalls_.back().second->record(c10::cuda::getCurrentCUDAStream(device_.index()));
  }
  // Between the two events the compute stream holds only the waits on NCCL's stream: their
  // elapsed time is exactly the stall. Read lazily (per epoch), so the host never blocks per step.
  double waited_seconds() override {
    if (!device_.is_cuda()) return ProcessGroup::waited_seconds();
    for (auto& [begin, end] : stalls_) {
      end->synchronize();
      gpu_waited_ += begin->elapsed_time(*end) / 1000.0;
    }
    stalls_.clear();
    return gpu_waited_;
  }
#endif

 private:
#ifdef QFORGE_WITH_NCCL
  std::vector<std::pair<std::unique_ptr<at::cuda::CUDAEvent>, std::unique_ptr<at::cuda::CUDAEvent>>> stalls_;
  double gpu_waited_ = 0;
#endif
  std::string backend_;
  c10::intrusive_ptr<c10d::Store> store_;  // kept alive: rank 0 hosts the rendezvous server
  c10::intrusive_ptr<C10dGroup> group_;
  std::chrono::milliseconds timeout_;
  torch::Device device_ = torch::kCPU;
};

bool is_loopback(const std::string& addr) {
  return addr == "127.0.0.1" || addr == "localhost" || addr == "::1";
}

}  // namespace

std::shared_ptr<ProcessGroup> init_process_group(const DistributedEnv& env, bool cuda) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = static_cast<std::size_t>(env.world_size);
  so.waitWorkers = true;
  so.timeout = env.timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(env.rank) + ": rendezvous at " + env.master_addr + ":" +
                             std::to_string(env.master_port) + " failed (port in use, or not all " +
                             std::to_string(env.world_size) + " workers arrived within " +
                             std::to_string(env.timeout.count() / 1000) + " s): " +
                             std::string(e.what()).substr(0, 300));
  }
  c10::intrusive_ptr<C10dGroup> group;
  std::string backend;
  torch::Device device = torch::kCPU;
  if (cuda) {
#ifdef QFORGE_WITH_NCCL
    // NVLink multicast stays off also when started by torchrun rather than qforge's launcher:
    // NCCL reads this when the communicator is created, i.e. after this point.
    setenv("NCCL_NVLS_ENABLE", "0", 1);
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = env.timeout;
    group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, opts);
    backend = "nccl";
#else
    throw std::runtime_error("--device cuda with several workers needs NCCL, and this qforge was built without it "
                             "(a LibTorch with CUDA and nccl.h are needed at build time)");
#endif
  } else {
#ifdef QFORGE_WITH_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create(env.timeout);
    // Loopback for local jobs (robust in containers whose hostname does not resolve); otherwise
    // GLOO_SOCKET_IFNAME (as in PyTorch) or the address this host's name resolves to.
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (is_loopback(env.master_addr))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, opts);
    backend = "gloo";
#else
    throw std::runtime_error("this qforge was built without Gloo (gloo headers were not found at build time: Debian libgloo-dev)");
#endif
  }
  auto pg = std::make_shared<C10dProcessGroup>(env.rank, env.world_size, backend, store, group, env.timeout);
  pg->set_device(device);
  return pg;
}

std::string available_backends() {
  std::string s;
#ifdef QFORGE_WITH_GLOO
  s += "gloo";
#endif
#ifdef QFORGE_WITH_NCCL
  s += s.empty() ? "nccl" : " nccl";
#endif
  return s;
}

#else  // built without c10d headers

std::shared_ptr<ProcessGroup> init_process_group(const DistributedEnv&, bool) {
  throw std::runtime_error("this qforge was built without c10d (LibTorch's distributed headers or gloo headers "
                           "were not found at build time): several workers are not available");
}
std::string available_backends() { return ""; }

#endif

}  // namespace qf::train
