// Helpers shared by the LibTorch-side tests: small recipes on real data subsets, temp folders.
#pragma once

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "train/recipe.h"

namespace qf::test {

// Deletes a directory tree with POSIX nftw. Not std::filesystem::remove_all: PyTorch 2.x's
// libtorch.so exports its own copy of it, which interposes libstdc++'s and crashes on non-empty
// directories (seen with LibTorch 2.11).
inline void remove_tree(const std::string& path) {
  nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

// A fresh folder under the system temp dir (mkdtemp), removed with its contents at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "qforge") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { remove_tree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A fresh empty folder under the system temp dir, named after the current test.
inline std::string temp_dir(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() / ("qforge_test_" + tag + "_" + std::to_string(::getpid()));
  remove_tree(dir.string());
  std::filesystem::create_directories(dir);
  return dir.string();
}

// A Fashion-MNIST recipe on a subset (real data from dataset-fashion-mnist), small enough for CI.
inline Recipe small_fashion_recipe(const std::string& model_yaml, int64_t epochs, int64_t train_subset = 2000,
                                   const std::string& modifiers_yaml = "") {
  const std::string text = "name: test\nseed: 3\nmodel: " + model_yaml +
                           "\ndata: {dataset: fashion_mnist, train_subset: " + std::to_string(train_subset) +
                           ", test_subset: 1000, batch_size: 64}\n"
                           "train: {epochs: " + std::to_string(epochs) +
                           ", optimizer: {type: adamw, lr: 0.003, weight_decay: 0.0}}\n" + modifiers_yaml;
  return load_recipe_from_string(text, "test.yaml");
}

}  // namespace qf::test
