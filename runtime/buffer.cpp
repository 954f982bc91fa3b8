#include "runtime/buffer.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

namespace qf {
namespace {

void* host_alloc(size_t bytes) {
  // 64-byte alignment: one cache line, and what AVX-512 loads like.
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!p) throw Error("runtime: out of memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}
void host_copy(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

}  // namespace

const MemoryOps& host_memory() {
  static const MemoryOps ops{Device{}, host_alloc, std::free, host_copy, host_copy, host_copy};
  return ops;
}

Buffer Buffer::constant(const MemoryOps& mem, const void* host, size_t bytes) {
  Buffer b(mem);
  if (mem.device.kind == DeviceKind::kHost) {
    b.ptr_ = const_cast<void*>(host);  // read-only view: ops never write constants
    b.bytes_ = bytes;
    return b;
  }
  b.reserve(bytes);
  mem.to_device(b.ptr_, host, bytes);
  return b;
}

void Buffer::reserve(size_t bytes) { grow(bytes, 0); }

void Buffer::grow(size_t bytes, size_t keep) {
  if (bytes <= bytes_ && (owned_ || bytes_ == 0)) return;
  if (!mem_) throw Error("runtime: buffer without a memory owner");
  void* p = mem_->alloc(bytes);
  if (ptr_ && keep) mem_->copy(p, ptr_, keep < bytes_ ? keep : bytes_);
  reset();
  ptr_ = p;
  bytes_ = bytes;
  owned_ = true;
}

void Buffer::reset() {
  if (owned_ && ptr_) mem_->release(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
  owned_ = false;
}

}  // namespace qf
