#include "train/distributed.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

namespace qf::train {
namespace {
std::shared_ptr<ProcessGroup>& current() {
  static std::shared_ptr<ProcessGroup> group;
  return group;
}
}  // namespace

ProcessGroup* current_group() { return current().get(); }

namespace {
double host_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void ProcessGroup::begin_wait_timing() { wait_started_ = host_seconds(); }
void ProcessGroup::end_wait_timing() { waited_ += host_seconds() - wait_started_; }
double ProcessGroup::waited_seconds() { return waited_; }
void set_current_group(std::shared_ptr<ProcessGroup> group) { current() = std::move(group); }

void all_reduce_min_max(at::Tensor& lo, at::Tensor& hi) {
  ProcessGroup* g = current_group();
  if (g == nullptr || g->size() == 1) return;
  // One collective: max over ranks of [-lo, hi] (negation is exact in floating point).
  torch::Tensor packed = torch::stack({-lo.detach().reshape({}), hi.detach().reshape({})});
  g->all_reduce(packed, ReduceOp::kMax);
  lo = (-packed[0]).to(lo.dtype());
  hi = packed[1].to(hi.dtype());
}

void broadcast_tensors(const std::vector<at::Tensor>& tensors, int root) {
  ProcessGroup* g = current_group();
  if (g == nullptr || g->size() == 1 || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  // One flat buffer per (dtype, device): a handful of collectives instead of one per tensor.
  std::map<std::pair<int, std::string>, std::vector<at::Tensor>> groups;
  for (const auto& t : tensors)
    if (t.defined() && t.numel() > 0) groups[{static_cast<int>(t.scalar_type()), t.device().str()}].push_back(t);
  for (auto& [key, ts] : groups) {
    std::vector<at::Tensor> flat;
    for (const auto& t : ts) flat.push_back(t.detach().reshape({-1}));
    at::Tensor buffer = torch::cat(flat);
    g->broadcast(buffer, root);
    int64_t offset = 0;
    for (const auto& t : ts) {
      const int64_t n = t.numel();
      at::Tensor dst = t.detach();
      dst.copy_(buffer.narrow(0, offset, n).view(t.sizes()));
      offset += n;
    }
  }
}

void all_reduce_sum(std::vector<double>& values) {
  ProcessGroup* g = current_group();
  if (g == nullptr || g->size() == 1 || values.empty()) return;
  at::Tensor t = torch::tensor(values, torch::kDouble);
  // NCCL reduces device tensors only.
  if (g->backend() == "nccl") t = t.cuda();
  g->all_reduce(t, ReduceOp::kSum);
  t = t.cpu().contiguous();
  std::copy(t.data_ptr<double>(), t.data_ptr<double>() + values.size(), values.begin());
}

void check_identical_across_ranks(const std::vector<at::Tensor>& tensors, const std::string& what) {
  ProcessGroup* g = current_group();
  if (g == nullptr || g->size() == 1) return;
  // FNV-1a over each tensor's bytes, split into 32-bit halves (exact in a double); every rank
  // holds the same value iff max over ranks of h equals -max over ranks of -h.
  std::vector<double> h;
  for (const auto& t : tensors) {
    const at::Tensor c = t.detach().contiguous().cpu();
    const auto* p = static_cast<const uint8_t*>(c.data_ptr());
    uint64_t x = 1469598103934665603ULL;
    for (size_t i = 0, n = c.numel() * c.element_size(); i < n; ++i) x = (x ^ p[i]) * 1099511628211ULL;
    h.push_back(static_cast<double>(x >> 32));
    h.push_back(static_cast<double>(x & 0xffffffffULL));
  }
  const size_t n = h.size();
  at::Tensor packed = torch::empty({static_cast<int64_t>(2 * n)}, torch::kDouble);
  for (size_t i = 0; i < n; ++i) {
    packed[static_cast<int64_t>(i)] = h[i];
    packed[static_cast<int64_t>(n + i)] = -h[i];
  }
  if (g->backend() == "nccl") packed = packed.cuda();
  g->all_reduce(packed, ReduceOp::kMax);
  packed = packed.cpu();
  for (size_t i = 0; i < n; ++i)
    if (packed[static_cast<int64_t>(i)].item<double>() != -packed[static_cast<int64_t>(n + i)].item<double>())
      throw std::runtime_error(what + " differ between ranks (tensor " + std::to_string(i / 2) +
                               "): the data-parallel replicas diverged");
}

}  // namespace qf::train
