#include "export/to_hf.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "core/json.h"
#include "hf/safetensors.h"

namespace qf::exporter {

void write_hf_folder(train::HfModel& model, const std::string& out_dir) {
  namespace fs = std::filesystem;
  const std::string src = model.folder();
  if (src.empty()) throw std::runtime_error("export --format hf: the model has no source folder to take config.json from");
  fs::create_directories(out_dir);
  auto tensors = model.hf_tensors(/*with_tied_head=*/true);
  bool tied = model.config().tied;
  if (tied) {
    const torch::Tensor head = tensors.at("lm_head.weight"), emb = tensors.at("model.embed_tokens.weight");
    if (torch::equal(head, emb)) tensors.erase("lm_head.weight");
    else tied = false;  // quantized differently: transformers must see two matrices
  }
  std::map<std::string, hf::HostTensor> host;
  for (auto& [name, t] : tensors) {
    const torch::Tensor c = t.to(torch::kCPU, torch::kFloat).contiguous();
    host[name] = hf::HostTensor{c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())};
  }
  hf::write_safetensors_f32((fs::path(out_dir) / "model.safetensors").string(), host);

  std::ifstream in(fs::path(src) / "config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Json cfg = Json::parse(text);
  cfg["tie_word_embeddings"] = tied;
  cfg["torch_dtype"] = "float32";
  cfg["dtype"] = "float32";
  const fs::path cfg_path = fs::path(out_dir) / "config.json";
  {
    std::ofstream out(cfg_path.string() + ".tmp", std::ios::trunc);
    out << cfg.dump() << "\n";
    if (!out) throw std::runtime_error("cannot write " + cfg_path.string());
  }
  fs::rename(cfg_path.string() + ".tmp", cfg_path);
  // Everything else the user needs beside the weights: tokenizer files, generation config.
  for (const auto& e : fs::directory_iterator(src)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name == "config.json" || name == "model.safetensors.index.json" ||
        e.path().extension() == ".safetensors")
      continue;
    fs::copy_file(e.path(), fs::path(out_dir) / name, fs::copy_options::overwrite_existing);
  }
}

}  // namespace qf::exporter
