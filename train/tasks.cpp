// The two tasks of the model zoo: image classification (Fashion-MNIST or any IDX pair) and
// byte-level language modelling (the Brown corpus).
#include <cmath>
#include <stdexcept>

#include "hf/hf_config.h"
#include "train/batcher.h"
#include "train/brown.h"
#include "train/fashion_mnist.h"
#include "train/models.h"
#include "train/recipe.h"
#include "train/task.h"

namespace qf::train {
namespace {

namespace F = torch::nn::functional;

std::string fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Images [n,1,H,W] normalised, and labels [n], for the subset `idx` of `ds`.
std::pair<torch::Tensor, torch::Tensor> to_tensors(const ImageDataset& ds, const std::vector<int64_t>& idx,
                                                   float mean, float std) {
  const int64_t n = static_cast<int64_t>(idx.size()), px = ds.image_size();
  torch::Tensor images = torch::empty({n, 1, ds.rows, ds.cols});
  torch::Tensor labels = torch::empty({n}, torch::kLong);
  float* dst = images.data_ptr<float>();
  int64_t* lab = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    normalize_images(ds.images.data() + idx[i] * px, static_cast<size_t>(px), mean, std, dst + i * px);
    lab[i] = ds.labels[idx[i]];
  }
  return {images, labels};
}

class ClassificationTask : public Task {
 public:
  explicit ClassificationTask(const Recipe& r) : seed_(static_cast<uint64_t>(r.seed)), batch_(r.data.batch_size),
                                                 label_smoothing_(r.train.label_smoothing) {
    const DataSpec& d = r.data;
    ImageDataset train, test;
    if (d.dataset == "fashion_mnist") {
      train = load_fashion_mnist(d.path, Split::Train);
      test = load_fashion_mnist(d.path, Split::Test);
      mean_ = kFashionMnistMean;
      std_ = kFashionMnistStd;
    } else {
      // data.num_classes bounds the labels of both files (0: inferred from the training labels).
      train = load_idx_classification(d.train_images, d.train_labels, d.num_classes);
      test = load_idx_classification(d.test_images, d.test_labels, train.num_classes);
      double sum = 0, sq = 0;
      for (uint8_t v : train.images) { sum += v / 255.0; sq += (v / 255.0) * (v / 255.0); }
      const double n = static_cast<double>(std::max<size_t>(1, train.images.size()));
      mean_ = static_cast<float>(sum / n);
      std_ = static_cast<float>(std::sqrt(std::max(1e-12, sq / n - (sum / n) * (sum / n))));
    }
    shape_.channels = 1;
    shape_.height = train.rows;
    shape_.width = train.cols;
    shape_.classes = std::max(train.num_classes, test.num_classes);
    const auto train_idx = subset_indices(train.n, d.train_subset, seed_);
    const auto test_idx = subset_indices(test.n, d.test_subset, seed_ + 1);
    std::tie(train_x_, train_y_) = to_tensors(train, train_idx, mean_, std_);
    std::tie(test_x_, test_y_) = to_tensors(test, test_idx, mean_, std_);
    fingerprint_ = fnv1a(train_x_.data_ptr<float>(), train_x_.numel() * sizeof(float));
    fingerprint_ = fnv1a(train_y_.data_ptr<int64_t>(), train_y_.numel() * sizeof(int64_t), std::stoull(fingerprint_, nullptr, 16));
  }
  std::string name() const override { return "classification"; }
  int64_t steps_per_epoch() const override { return num_batches(train_x_.size(0), batch_); }
  Batch train_batch(int64_t epoch, int64_t step) override {
    if (epoch != order_epoch_) {
      order_ = epoch_permutation(train_x_.size(0), seed_, epoch);
      order_epoch_ = epoch;
    }
    const auto global = batch_at(order_, batch_, step);
    const auto idx = shard_.whole() ? global : shard_of(global, shard_);
    const torch::Tensor i = torch::tensor(idx, torch::kLong);
    return {train_x_.index_select(0, i), train_y_.index_select(0, i), i, static_cast<int64_t>(global.size())};
  }
  torch::Tensor loss(const torch::Tensor& out, const Batch& b) override {
    return F::cross_entropy(out, b.target, F::CrossEntropyFuncOptions().label_smoothing(label_smoothing_));
  }
  Metrics evaluate(ZooModel& model, torch::Device device) override {
    torch::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    int64_t correct = 0;
    double loss_sum = 0;
    const int64_t n = test_x_.size(0);
    for (int64_t i = 0; i < n; i += kEvalBatch) {
      const int64_t m = std::min(kEvalBatch, n - i);
      const torch::Tensor x = test_x_.narrow(0, i, m).to(device), y = test_y_.narrow(0, i, m).to(device);
      const torch::Tensor out = model.forward(x);
      correct += out.argmax(1).eq(y).sum().item<int64_t>();
      loss_sum += F::cross_entropy(out, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    }
    model.train(was_training);
    Metrics m;
    m.values["accuracy"] = 100.0 * static_cast<double>(correct) / static_cast<double>(n);
    m.values["test_loss"] = loss_sum / static_cast<double>(n);
    m.primary = "accuracy";
    return m;
  }
  Batch golden_batch(int64_t n) override {
    n = std::min(n, test_x_.size(0));
    return {test_x_.narrow(0, 0, n).clone(), test_y_.narrow(0, 0, n).clone(), torch::Tensor()};
  }
  int64_t eval_examples() const override { return test_x_.size(0); }
  InputShape input_shape() const override { return shape_; }
  std::string fingerprint() const override { return fingerprint_; }
  std::map<std::string, double> preprocessing() const override { return {{"mean", mean_}, {"std", std_}}; }

 private:
  static constexpr int64_t kEvalBatch = 500;
  uint64_t seed_;
  int64_t batch_;
  double label_smoothing_;
  float mean_ = 0, std_ = 1;
  InputShape shape_;
  torch::Tensor train_x_, train_y_, test_x_, test_y_;
  std::vector<int64_t> order_;
  int64_t order_epoch_ = -1;
  std::string fingerprint_;
};

class LanguageModelTask : public Task {
 public:
  explicit LanguageModelTask(const Recipe& r)
      : seed_(static_cast<uint64_t>(r.seed)), batch_(r.data.batch_size), context_(r.model.context),
        eval_batches_(r.data.eval_batches) {
    const uint64_t split_seed = r.data.split_seed >= 0 ? static_cast<uint64_t>(r.data.split_seed) : seed_;
    BrownCorpus corpus = load_brown(r.data.path, r.data.val_fraction, split_seed);
    train_ = bytes_to_tensor(corpus.train);
    val_ = bytes_to_tensor(corpus.val);
    unigram_bpb_ = unigram_bits_per_byte(corpus.train, corpus.val);
    fingerprint_ = fnv1a(corpus.train.data(), corpus.train.size());
  }
  std::string name() const override { return "language_model"; }
  int64_t steps_per_epoch() const override {
    return std::max<int64_t>(1, train_.size(0) / (batch_ * context_));
  }
  Batch train_batch(int64_t epoch, int64_t step) override {
    const auto global = lm_window_starts(train_.size(0), context_, batch_, seed_, epoch, step);
    Batch b = windows(train_, shard_.whole() ? global : shard_of(global, shard_));
    b.global_size = static_cast<int64_t>(global.size());
    return b;
  }
  torch::Tensor loss(const torch::Tensor& out, const Batch& b) override {
    return F::cross_entropy(out.reshape({-1, out.size(-1)}), b.target.reshape({-1}));
  }
  Metrics evaluate(ZooModel& model, torch::Device device) override {
    torch::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    const auto starts = lm_eval_starts(val_.size(0), context_, eval_examples());
    double loss_sum = 0;
    int64_t tokens = 0;
    for (size_t i = 0; i < starts.size(); i += static_cast<size_t>(batch_)) {
      std::vector<int64_t> chunk(starts.begin() + static_cast<long>(i),
                                 starts.begin() + static_cast<long>(std::min(starts.size(), i + batch_)));
      Batch b = windows(val_, chunk);
      const torch::Tensor out = model.forward(b.input.to(device));
      loss_sum += F::cross_entropy(out.reshape({-1, out.size(-1)}), b.target.to(device).reshape({-1}),
                                   F::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
      tokens += b.target.numel();
    }
    model.train(was_training);
    const double loss = loss_sum / static_cast<double>(std::max<int64_t>(1, tokens));
    Metrics m;
    m.values["val_loss"] = loss;
    m.values["perplexity"] = std::exp(loss);
    m.values["bits_per_byte"] = loss / std::log(2.0);
    m.values["unigram_bits_per_byte"] = unigram_bpb_;
    m.primary = "bits_per_byte";
    m.higher_is_better = false;
    return m;
  }
  Batch golden_batch(int64_t n) override {
    auto starts = lm_eval_starts(val_.size(0), context_, n);
    return windows(val_, starts);
  }
  int64_t eval_examples() const override {
    return static_cast<int64_t>(lm_eval_starts(val_.size(0), context_, eval_batches_ > 0 ? eval_batches_ * batch_ : 0).size());
  }
  InputShape input_shape() const override { return {}; }
  std::string fingerprint() const override { return fingerprint_; }

 private:
  static torch::Tensor bytes_to_tensor(const std::vector<uint8_t>& bytes) {
    return torch::from_blob(const_cast<uint8_t*>(bytes.data()), {static_cast<int64_t>(bytes.size())}, torch::kUInt8)
        .to(torch::kLong);
  }
  Batch windows(const torch::Tensor& stream, const std::vector<int64_t>& starts) const {
    const int64_t B = static_cast<int64_t>(starts.size());
    torch::Tensor x = torch::empty({B, context_ + 1}, torch::kLong);
    for (int64_t b = 0; b < B; ++b) x[b].copy_(stream.narrow(0, starts[b], context_ + 1));
    return {x.narrow(1, 0, context_).contiguous(), x.narrow(1, 1, context_).contiguous(), torch::Tensor()};
  }

  uint64_t seed_;
  int64_t batch_, context_, eval_batches_;
  torch::Tensor train_, val_;
  double unigram_bpb_ = 0;
  std::string fingerprint_;
};

}  // namespace

std::unique_ptr<Task> make_task(const Recipe& recipe) {
  if (recipe.model.family == "gpt" || recipe.model.family == "hf") {
    if (recipe.data.dataset != "brown")
      throw std::invalid_argument("model family " + recipe.model.family + " trains on a text corpus (data.dataset: brown)");
    // Hugging Face models read the corpus through byte fallback until the tokenizer library
    // lands: token id = byte value, so the vocabulary must hold the 256 byte ids.
    if (recipe.model.family == "hf") {
      const int64_t vocab = hf::load_hf_config(recipe.model.path).vocab;
      if (vocab < 256)
        throw std::invalid_argument(recipe.model.path + ": vocabulary of " + std::to_string(vocab) +
                                    " ids cannot hold the 256 byte ids of byte-fallback tokenization");
    }
    return std::make_unique<LanguageModelTask>(recipe);
  }
  if (recipe.data.dataset == "brown")
    throw std::invalid_argument("dataset brown needs model family gpt or hf");
  return std::make_unique<ClassificationTask>(recipe);
}

}  // namespace qf::train
