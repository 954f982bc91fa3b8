// Image-classification datasets stored as IDX files: Fashion-MNIST (Debian package
// `dataset-fashion-mnist`) and any other IDX images + labels pair given by explicit paths.
// Std + zlib only; the training side turns these vectors into tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "train/data_paths.h"

namespace qf {

// Per-pixel statistics of the Fashion-MNIST training images scaled to [0, 1].
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;
inline constexpr int64_t kFashionMnistClasses = 10;

enum class Split { Train, Test };
// "train" | "test" (also accepts "t10k" for test); throws std::invalid_argument otherwise.
Split parse_split(const std::string& s);
const char* split_name(Split s);

struct ImageDataset {
  std::vector<uint8_t> images;  // [n, rows, cols] row-major, raw 0..255
  std::vector<int64_t> labels;  // [n], each in [0, num_classes)
  int64_t n = 0, rows = 0, cols = 0;
  int64_t num_classes = 0;
  std::string images_path, labels_path;
  int64_t image_size() const { return rows * cols; }
};

// Loads an images file ([N, rows, cols] ubyte) and a labels file ([N] ubyte). Checks that the
// counts agree (the error names both files) and that every label is < num_classes; with
// num_classes == 0 it is inferred as max(label) + 1.
ImageDataset load_idx_classification(const std::string& images_path, const std::string& labels_path,
                                     int64_t num_classes = 0);

// Fashion-MNIST from `dir` (default /usr/share/datasets/fashion-mnist): files
// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. A missing folder or file raises
// "Fashion-MNIST not found at <path>: install it with `apt-get install dataset-fashion-mnist`".
ImageDataset load_fashion_mnist(const std::string& dir, Split split);
ImageDataset load_fashion_mnist(const std::string& dir, const std::string& split);

// dst[i] = (src[i] / 255 - mean) / std for i < count. dst must hold `count` floats.
void normalize_images(const uint8_t* src, size_t count, float mean, float std, float* dst);

}  // namespace qf
