// `--device cpu|cuda` of the runtime commands (validate, inspect, eval, bench, generate): which
// kernel table runs the checkpoint. A build without CUDA, or a machine without a GPU, is a clear
// error (exit 2) before anything loads.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/kernels/kernels.h"

namespace qf::cli {

inline void add_device_option(CLI::App* cmd, std::string& device) {
  cmd->add_option("--device", device,
                  "Where the runtime runs: cpu (the best kernel table this CPU has, or QFORGE_ISA) or cuda (the GPU "
                  "kernel table; needs a CUDA build and a GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

inline const kernels::KernelTable& table_for_device_or_exit(const std::string& device) {
  try {
    return kernels::kernel_table_for_device(device);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qforge: --device %s: %s\n", device.c_str(), e.what());
    std::exit(2);
  }
}

}  // namespace qf::cli
