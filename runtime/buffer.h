// Memory that knows its device. A backend's kernel table names the MemoryOps its kernels read
// and write; the executor, the ops and the session allocate every activation, scratch area and
// KV cache as a Buffer through them, so a device backend (CUDA) runs a whole graph on its own
// memory without the executor knowing which device that is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace qf {

enum class DeviceKind { kHost, kCuda };

struct Device {
  DeviceKind kind = DeviceKind::kHost;
  int index = 0;
};

// How a backend allocates and moves bytes. Host backends use host_memory().
struct MemoryOps {
  Device device;
  void* (*alloc)(size_t bytes);  // never returns null (throws qf::Error)
  void (*release)(void* p);
  void (*to_device)(void* dst, const void* host_src, size_t bytes);
  void (*to_host)(void* host_dst, const void* src, size_t bytes);
  void (*copy)(void* dst, const void* src, size_t bytes);  // device to device
  // Waits until the work queued on the device is done (null: the host, where kernels finish
  // before they return). Per-op profiles call it so that an asynchronous device's op times are
  // its kernels' times, not their launch times.
  void (*synchronize)() = nullptr;
};

const MemoryOps& host_memory();  // 64-byte aligned malloc, memcpy

// Move-only bytes on one device. A Buffer either owns its storage or views a constant that
// already lives on the device (on the host: a parameter of the loaded checkpoint, not copied).
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(const MemoryOps& mem) : mem_(&mem) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    Buffer(std::move(o)).swap(*this);
    return *this;
  }
  ~Buffer() { reset(); }

  // A constant of `bytes` from host memory: a view on the host, an upload elsewhere. The host
  // data must outlive the buffer (it is the engine's checkpoint).
  static Buffer constant(const MemoryOps& mem, const void* host, size_t bytes);

  // Grows to at least `bytes` (contents are not kept). Never shrinks.
  void reserve(size_t bytes);
  // Grows to at least `bytes`, keeping the first `keep` bytes (KV caches).
  void grow(size_t bytes, size_t keep);

  void* data() { return ptr_; }
  const void* data() const { return ptr_; }
  float* f32() { return static_cast<float*>(ptr_); }
  const float* f32() const { return static_cast<const float*>(ptr_); }
  template <class T>
  T* as() { return static_cast<T*>(ptr_); }
  size_t capacity() const { return bytes_; }
  const MemoryOps* memory() const { return mem_; }

 private:
  void reset();
  void swap(Buffer& o) noexcept {
    std::swap(mem_, o.mem_);
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    std::swap(owned_, o.owned_);
  }
  const MemoryOps* mem_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  bool owned_ = false;
};

}  // namespace qf
