#include "export/from_hf.h"

#include <stdexcept>

#include "export/from_torch.h"
#include "train/recipe.h"
#include "train/task.h"

namespace qf::exporter {
namespace {

// The only part of a Task an export without training needs: the golden inputs. Anything else
// is a programming error, said as such.
class GoldenIdsTask : public train::Task {
 public:
  GoldenIdsTask(int64_t vocab, int64_t n, int64_t t, std::string source) : vocab_(vocab), n_(n), t_(t), source_(std::move(source)) {}
  std::string name() const override { return "hf_export"; }
  int64_t steps_per_epoch() const override { return unsupported(); }
  train::Batch train_batch(int64_t, int64_t) override { unsupported(); }
  torch::Tensor loss(const torch::Tensor&, const train::Batch&) override { unsupported(); }
  train::Metrics evaluate(train::ZooModel&, torch::Device) override { unsupported(); }
  train::Batch golden_batch(int64_t n) override {
    torch::manual_seed(0);  // the same golden ids on every export of the same shape
    const torch::Tensor ids = torch::randint(vocab_, {std::min(n, n_), t_}, torch::kLong);
    return {ids, torch::Tensor(), torch::Tensor()};
  }
  int64_t eval_examples() const override { return n_; }
  train::InputShape input_shape() const override { return {}; }
  std::string fingerprint() const override { return "none (random golden ids)"; }

 private:
  [[noreturn]] static int64_t unsupported() { throw std::logic_error("an export without training has no training data"); }
  int64_t vocab_, n_, t_;
  std::string source_;
};

}  // namespace

CheckpointContent checkpoint_from_hf_model(train::ZooModel& model, int64_t vocab, int64_t golden_sequences,
                                           int64_t golden_tokens, const std::string& source_folder) {
  GoldenIdsTask task(vocab, golden_sequences, golden_tokens, source_folder);
  Recipe recipe;
  recipe.name = "hf_import";
  recipe.model.family = "hf";
  recipe.model.path = source_folder;
  recipe.data.dataset = "none";
  recipe.text = "# exported from a Hugging Face folder without training\nname: hf_import\nmodel: {family: hf, path: " +
                source_folder + "}\n";
  ExportOptions o;
  o.golden_examples = golden_sequences;
  o.trace_examples = std::min<int64_t>(2, golden_sequences);
  CheckpointContent c = checkpoint_from_model(model, task, recipe, o);
  c.provenance["hf_source"] = source_folder;
  return c;
}

}  // namespace qf::exporter
