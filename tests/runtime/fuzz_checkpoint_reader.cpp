// libFuzzer target for the checkpoint reader: any byte string must either load or throw
// qf::Error -- never crash, hang, read out of bounds, or throw anything else.
// Built with clang (-fsanitize=fuzzer,address,undefined) when available; ctest runs it briefly
// from a seed corpus holding one small valid checkpoint (make_fuzz_seed).
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "runtime/checkpoint_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    qf::read_checkpoint_from_memory(data, size);
  } catch (const qf::Error&) {
    // Expected for malformed input.
  }
  return 0;
}
