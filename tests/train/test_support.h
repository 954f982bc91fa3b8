// Helpers shared by the LibTorch-side tests: small recipes on real data subsets, temp folders.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "train/recipe.h"

namespace qf::test {

// A fresh empty folder under the system temp dir, named after the current test.
inline std::string temp_dir(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() / ("qforge_test_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
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
