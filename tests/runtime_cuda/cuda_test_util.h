// Helpers of the `cuda` table tests: skipping without a GPU, device copies of host vectors.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/kernels/cuda/cuda_qgemm.h"
#include "runtime/kernels/cuda/cuda_table.h"

namespace qf::cuda::test {

#define QF_SKIP_WITHOUT_GPU()                                                                             \
  do {                                                                                                    \
    std::string why_;                                                                                     \
    if (!::qf::cuda::device_available(&why_)) GTEST_SKIP() << "no CUDA GPU here (" << why_ << "): GPU test skipped"; \
  } while (0)

// A device copy of a host vector (or `n` uninitialised elements), freed with the object.
template <class T>
class DevVec {
 public:
  explicit DevVec(const std::vector<T>& h) : n_(h.size()), p_(alloc(h.size())) {
    if (!h.empty()) copy_to_device(p_, h.data(), static_cast<int64_t>(h.size() * sizeof(T)));
  }
  explicit DevVec(size_t n) : n_(n), p_(alloc(n)) {}
  DevVec(const DevVec&) = delete;
  DevVec& operator=(const DevVec&) = delete;
  ~DevVec() { device_free(p_); }
  T* get() { return static_cast<T*>(p_); }
  std::vector<T> host() const {
    device_sync();
    std::vector<T> h(n_);
    if (n_) copy_to_host(h.data(), p_, static_cast<int64_t>(n_ * sizeof(T)));
    return h;
  }

 private:
  static void* alloc(size_t n) { return device_alloc(static_cast<int64_t>(n == 0 ? 1 : n) * static_cast<int64_t>(sizeof(T))); }
  size_t n_;
  void* p_;
};

}  // namespace qf::cuda::test
