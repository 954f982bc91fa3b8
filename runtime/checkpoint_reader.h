// Reads and fully validates a .qf.h5 checkpoint (export/FORMAT.md). Any malformed input
// (truncated file, checksum failure, wrong format or version, missing dataset, wrong dtype or
// shape, out-of-range codes / indices / scales, invalid graph) throws qf::Error with a message
// naming the file and the object at fault; nothing is used before it is checked.
#pragma once

#include <cstddef>
#include <string>

#include "runtime/checkpoint.h"

namespace qf {

Checkpoint read_checkpoint(const std::string& path);

// Same, from an in-memory file image (used by the fuzz target; no file is touched).
Checkpoint read_checkpoint_from_memory(const void* data, size_t size);

}  // namespace qf
