// Shared helpers of the runtime tests: random data, small graphs, checkpoint mutation.
#pragma once

#include <hdf5.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/tensor.h"
#include "export/checkpoint_writer.h"

namespace qf::test {

std::string temp_path(const std::string& name);  // unique per process, under TempDir()

std::vector<float> randn(int64_t n, unsigned seed, float stddev = 1.0f);
Tensor random_tensor(std::vector<int64_t> shape, unsigned seed, float stddev = 1.0f);

Op op(const std::string& kind, const std::string& name, std::vector<std::string> inputs,
      const std::string& output);

LayerContent layer(const std::string& name, const std::string& kind, Tensor weight);

// Zeroes the smallest-magnitude values so every group of m along the last dim keeps <= n.
void prune_nm(Tensor& w, int n, int m);

// A checkpoint exercising every weight storage kind (see the .cpp), with one golden case whose
// outputs are placeholders.
CheckpointContent all_kinds_content();

// Opens `path` read-write and runs `f(file)`; for building malformed checkpoints.
void mutate_h5(const std::string& path, const std::function<void(hid_t)>& f);

// Byte offset in the file of the first chunk of dataset `ds` (chunked datasets only).
int64_t first_chunk_offset(const std::string& path, const std::string& ds);

// Scalar attributes on an HDF5 object, written the way the checkpoint writer writes them.
void set_string_attr(hid_t obj, const char* name, const std::string& value);
std::string get_string_attr(hid_t obj, const char* name);
void set_int_attr(hid_t obj, const char* name, int64_t value);

std::vector<char> read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::vector<char>& bytes);

}  // namespace qf::test
