#include "export/from_torch.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/agreement.h"
#include "core/error.h"
#include "core/op_schema.h"
#include "export/contract_exec.h"
#include "train/metrics_log.h"
#include "train/trainer.h"

namespace qf::exporter {

Tensor to_qf(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
  std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
  if (c.scalar_type() == torch::kLong)
    return Tensor::ids(shape, std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()));
  const torch::Tensor f = c.to(torch::kFloat);
  return Tensor::floats(shape, std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel()));
}

torch::Tensor to_torch(const Tensor& t) {
  if (t.dtype == DType::kInt64)
    return torch::tensor(t.i64, torch::kLong).reshape(t.shape);
  return torch::tensor(t.f32, torch::kFloat).reshape(t.shape);
}

namespace {

LayerContent layer_content(train::QuantizableLayer& layer) {
  LayerContent c;
  c.name = layer.layer_name();
  c.kind = layer.kind();
  torch::Tensor w = layer.effective_weight().detach();
  auto mask = std::dynamic_pointer_cast<train::WeightMaskHook>(layer.hook(train::HookSlot::kWeightMask));
  if (mask) w = mask->forward(w).detach();
  c.weight = to_qf(w);
  if (auto wq = std::dynamic_pointer_cast<train::WeightQuantizerHook>(layer.hook(train::HookSlot::kWeightQuant));
      wq && wq->active()) {
    c.weight_scheme = wq->weight_scheme();
    // The exact scales training used; ggml's blocks have none to pass: the writer computes them with
    // the arithmetic the fake quantizer reproduces bit for bit (core/ggml_blocks.h).
    if (c.weight_scheme->ggml_format == GgmlFormat::kNone) c.weight_scales = to_qf(wq->weight_scales(w).flatten()).f32;
    if (mask) c.sparsity = mask->storage_sparsity();  // N:M-compressed storage needs quantized weights
  }
  if (auto iq = std::dynamic_pointer_cast<train::InputQuantizerHook>(layer.hook(train::HookSlot::kInputQuant));
      iq && iq->active())
    c.input_act = iq->act_scheme();
  const torch::Tensor b = layer.effective_bias();
  if (b.defined()) c.extra["bias"] = to_qf(b);
  return c;
}

// One golden case: the inputs, the contract's outputs (and its trace when asked), and what the
// trained model's forward produced for the same inputs.
Golden golden_case(const CheckpointContent& content, train::ZooModel& model, const torch::Tensor& input,
                   bool with_trace) {
  Golden g;
  g.inputs[content.graph.inputs.at(0).name] = to_qf(input);
  ContractOptions o;
  o.keep_trace = with_trace;
  ContractResult contract = run_contract(content, g.inputs, o);
  g.outputs = std::move(contract.outputs);
  g.trace = std::move(contract.trace);
  g.model_outputs[content.graph.outputs.at(0)] = to_qf(model.forward(input));
  return g;
}

// Below this the contract does not describe the trained model: the two differ by float summation
// order only, which flips an argmax only on near-ties. Dynamic int8 activations amplify that (one
// flipped code moves a logit by far more than rounding), and a byte-level language model has about
// 1% near-tie rows, so a decoder can land near this line without a bug (98.8-99.5% for the Brown
// Llama's PTQ, by LibTorch version): the error then reports the margins to tell the two apart.
constexpr double kMinContractTop1 = 0.99;

// Set on this file by export/CMakeLists.txt at configure time.
#ifndef QFORGE_GIT_COMMIT
#define QFORGE_GIT_COMMIT "unknown"
#endif
#ifndef QFORGE_VERSION_STRING
#define QFORGE_VERSION_STRING "unknown"
#endif

}  // namespace

CheckpointContent checkpoint_from_model(train::ZooModel& model, train::Task& task, const Recipe& recipe,
                                        const ExportOptions& options) {
  torch::NoGradGuard no_grad;
  model.eval();
  CheckpointContent out;
  out.graph = model.describe();
  std::map<std::string, std::shared_ptr<train::QuantizableLayer>> layers;
  for (auto& l : model.layers()) layers[l->layer_name()] = l;
  const auto float_params = model.float_params();
  for (const Op& op : out.graph.ops) {
    if (auto it = layers.find(op.name); it != layers.end()) {
      out.layers.push_back(layer_content(*it->second));
    } else if (auto fp = float_params.find(op.name); fp != float_params.end()) {
      LayerContent c;
      c.name = op.name;
      c.kind = op.kind;
      c.weight = to_qf(fp->second.at("weight"));
      if (fp->second.count("bias")) c.extra["bias"] = to_qf(fp->second.at("bias"));
      out.layers.push_back(std::move(c));
    }
    for (const Op& sub : sub_layer_ops(op)) {  // moe_experts: each expert linear is a layer of its own
      auto it = layers.find(sub.name);
      if (it == layers.end()) throw Error("export: expert linear '" + sub.name + "' of op '" + op.name + "' is not a layer of the model");
      out.layers.push_back(layer_content(*it->second));
    }
  }
  // Golden outputs: the contract computed from exactly what is stored. The model's own forward
  // goes beside them, and their agreement is measured here, at export.
  const train::Batch golden = task.golden_batch(options.golden_examples);
  out.golden_reference = "contract";
  const int64_t n = golden.input.size(0);
  const bool trace_all = options.trace_examples >= n;
  out.golden.push_back(golden_case(out, model, golden.input, trace_all));
  if (!trace_all && options.trace_examples > 0)  // a small traced case beside the full batch
    out.golden.push_back(golden_case(out, model, golden.input.narrow(0, 0, options.trace_examples), true));
  const std::string& output = out.graph.outputs.at(0);
  const Agreement a = measure_agreement(out.golden[0].model_outputs.at(output), out.golden[0].outputs.at(output));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", a.top1);
  out.provenance["contract_vs_model_top1"] = buf;
  std::snprintf(buf, sizeof buf, "%.6g", a.max_diff_units);
  out.provenance["contract_vs_model_max_diff_units"] = buf;
  std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(a.near_tie_flips));
  out.provenance["contract_vs_model_near_tie_flips"] = buf;
  // Rows whose argmax a near tie flipped count as agreeing (core/agreement.h): with few golden
  // rows (one 256-token window) three such rows already cross 1 %.
  const double top1_with_ties = a.rows ? static_cast<double>(a.top1_matches + a.near_tie_flips) / a.rows : 1.0;
  if (!(top1_with_ties >= kMinContractTop1)) {
    std::snprintf(buf, sizeof buf, "%.2f%% (need >= %.0f%%, near-tie flips counted as agreeing)", 100.0 * top1_with_ties,
                  100.0 * kMinContractTop1);
    throw Error("export: the quantization contract (FORMAT.md) computed from the exported parameters agrees with "
                "the trained model's own forward on only " + std::string(buf) + " of the golden rows of output '" +
                output + "': the checkpoint would not describe the trained model. Large margins mean a bug in the "
                "exporter or in a fake-quant module. Margins of a few units on a model with dynamic int8 activations "
                "can be near-ties that float summation order flipped (docs/RESULTS.md, the Brown Llama). The contract "
                "is the reference: " +
                describe_disagreement(out.golden[0].model_outputs.at(output), out.golden[0].outputs.at(output)) + ".");
  }

  out.recipe_yaml = recipe.text;
  out.metrics_json = options.metrics_json.empty() ? "[]" : options.metrics_json;
  out.provenance.insert({{"qforge_version", QFORGE_VERSION_STRING},
                         {"git_commit", QFORGE_GIT_COMMIT},
                         {"libtorch_version", TORCH_VERSION},
                         {"recipe_name", recipe.name},
                         {"dataset", recipe.data.dataset},
                         {"dataset_fingerprint", task.fingerprint()}});
  for (const auto& [k, v] : task.preprocessing()) out.provenance["input_" + k] = std::to_string(v);
  return out;
}

void export_run(const std::string& run_dir, const std::string& output, int64_t golden_examples,
                const Recipe& recipe, const std::vector<std::shared_ptr<train::Modifier>>& modifiers) {
  namespace fs = std::filesystem;
  auto task = train::make_task(recipe);
  auto model = train::load_run_model(run_dir, recipe, *task, modifiers);
  for (auto& m : modifiers) {  // put the slots in their end-of-training state
    train::TrainState st{recipe, *model, *task, torch::kCPU};
    st.epochs = std::max<int64_t>(recipe.train.epochs, 1);
    m->train_end(st);
  }
  ExportOptions o;
  o.golden_examples = golden_examples;
  Json metrics = Json::array();
  for (const Json& r : train::MetricsLog::read((fs::path(run_dir) / "metrics.jsonl").string())) metrics.push_back(r);
  o.metrics_json = metrics.dump();
  write_checkpoint(output, checkpoint_from_model(*model, *task, recipe, o));
}

}  // namespace qf::exporter
