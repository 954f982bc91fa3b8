#include "train/fashion_mnist.h"

#include <stdexcept>
#include <sys/stat.h>

#include "train/idx.h"

namespace qf {
namespace {

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::runtime_error not_found(const std::string& path) {
  return std::runtime_error("Fashion-MNIST not found at " + path +
                            ": install it with `apt-get install dataset-fashion-mnist`");
}

// Prefers the Debian name (.gz); accepts an uncompressed copy too.
std::string find_file(const std::string& dir, const std::string& stem) {
  const std::string gz = dir + "/" + stem + ".gz";
  if (exists(gz)) return gz;
  const std::string plain = dir + "/" + stem;
  if (exists(plain)) return plain;
  throw not_found(gz);
}

}  // namespace

Split parse_split(const std::string& s) {
  if (s == "train") return Split::Train;
  if (s == "test" || s == "t10k") return Split::Test;
  throw std::invalid_argument("unknown dataset split '" + s + "' (expected train or test)");
}

const char* split_name(Split s) { return s == Split::Train ? "train" : "test"; }

ImageDataset load_idx_classification(const std::string& images_path, const std::string& labels_path,
                                     int64_t num_classes) {
  IdxArray img = read_idx(images_path);
  IdxArray lab = read_idx(labels_path);
  if (img.dims.size() != 3)
    throw std::runtime_error(images_path + ": expected 3 dims [N, rows, cols] for images, got " +
                             std::to_string(img.dims.size()));
  if (lab.dims.size() != 1)
    throw std::runtime_error(labels_path + ": expected 1 dim [N] for labels, got " +
                             std::to_string(lab.dims.size()));
  if (img.dims[0] != lab.dims[0])
    throw std::runtime_error("image/label count mismatch: " + images_path + " has " +
                             std::to_string(img.dims[0]) + " images but " + labels_path + " has " +
                             std::to_string(lab.dims[0]) + " labels");
  ImageDataset ds;
  ds.n = img.dims[0];
  ds.rows = img.dims[1];
  ds.cols = img.dims[2];
  ds.images_path = images_path;
  ds.labels_path = labels_path;
  ds.images = std::move(img.data);
  ds.labels.resize(lab.data.size());
  int64_t max_label = -1;
  for (size_t i = 0; i < lab.data.size(); ++i) {
    const int64_t l = lab.data[i];
    if (num_classes > 0 && l >= num_classes)
      throw std::runtime_error(labels_path + ": label " + std::to_string(l) + " at index " +
                               std::to_string(i) + " is out of range (expected < " +
                               std::to_string(num_classes) + ")");
    ds.labels[i] = l;
    if (l > max_label) max_label = l;
  }
  ds.num_classes = num_classes > 0 ? num_classes : max_label + 1;
  return ds;
}

ImageDataset load_fashion_mnist(const std::string& dir, Split split) {
  if (!is_dir(dir)) throw not_found(dir);
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const std::string images = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_file(dir, prefix + "-labels-idx1-ubyte");
  ImageDataset ds = load_idx_classification(images, labels, kFashionMnistClasses);
  if (ds.rows != 28 || ds.cols != 28)
    throw std::runtime_error(images + ": Fashion-MNIST images must be 28 x 28, got " +
                             std::to_string(ds.rows) + " x " + std::to_string(ds.cols));
  return ds;
}

ImageDataset load_fashion_mnist(const std::string& dir, const std::string& split) {
  return load_fashion_mnist(dir, parse_split(split));
}

void normalize_images(const uint8_t* src, size_t count, float mean, float std, float* dst) {
  // Same float32 ops as (x / 255 - mean) / std in LibTorch, so both paths agree bit for bit.
  for (size_t i = 0; i < count; ++i) dst[i] = (static_cast<float>(src[i]) / 255.0f - mean) / std;
}

}  // namespace qf
