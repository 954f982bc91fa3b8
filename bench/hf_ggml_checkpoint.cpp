// hf_ggml_checkpoint HF_DIR OUT.qf.h5 [--quant q4_0|q8_0] [--sparse24]: a Hugging Face Llama
// folder as a .qf.h5 checkpoint whose weight matrices are llama.cpp's Q4_0 (or Q8_0) blocks of
// the folder's weights -- the blocks `qforge export HF_DIR --format gguf --quant q4_0` writes,
// quantized by the same core function (core/ggml_blocks.h) and stored as int8 codes with one
// positive scale per block of 32 (export/checkpoint_writer.cpp) -- with int8 per-token dynamic
// activations. The embedding and the (tied) head take the same blocks, as in the GGUF.
//
// --sparse24: first prunes every q/k/v/o/gate/up/down projection to 2:4 along K by magnitude
// (keep the two largest |w| of each 4; one-shot, no retraining), then quantizes: the 2:4 model
// llama.cpp cannot run. The embedding / head stay dense.
//
// Std-only and streaming (tensor by tensor): `qforge export HF_DIR --recipe` reaches the same
// writer through LibTorch, which holds the float model twice -- too much for a 1B model on this
// machine. No golden cases are stored (`qforge validate` has nothing to compare; the race checks
// the model against llama.cpp instead, bench/llama_race.sh).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "core/ggml_blocks.h"
#include "export/checkpoint_writer.h"
#include "hf/hf_config.h"
#include "hf/hf_graph.h"
#include "hf/safetensors.h"

namespace {

// Keeps the 2 largest |w| of every 4 consecutive elements along K (ties: the earlier one).
void prune_24(std::vector<float>& w) {
  for (size_t g = 0; g + 4 <= w.size(); g += 4) {
    int idx[4] = {0, 1, 2, 3};
    std::stable_sort(idx, idx + 4, [&](int a, int b) { return std::fabs(w[g + a]) > std::fabs(w[g + b]); });
    w[g + idx[2]] = 0.0f;
    w[g + idx[3]] = 0.0f;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string in, out, quant = "q4_0";
  bool sparse = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") {
      std::printf("usage: hf_ggml_checkpoint HF_DIR OUT.qf.h5 [--quant q4_0|q8_0] [--sparse24]\n");
      return 0;
    } else if (a == "--quant" && i + 1 < argc) {
      quant = argv[++i];
    } else if (a == "--sparse24") {
      sparse = true;
    } else if (in.empty()) {
      in = a;
    } else if (out.empty()) {
      out = a;
    } else {
      std::fprintf(stderr, "hf_ggml_checkpoint: unexpected argument '%s' (--help)\n", a.c_str());
      return 2;
    }
  }
  if (in.empty() || out.empty()) {
    std::fprintf(stderr, "hf_ggml_checkpoint: need HF_DIR and OUT.qf.h5 (--help)\n");
    return 2;
  }
  try {
    const qf::GgmlFormat fmt = qf::parse_ggml_format(quant);
    const qf::hf::HfConfig cfg = qf::hf::load_hf_config(in);
    if (cfg.arch != qf::hf::Arch::kLlama) throw std::runtime_error(in + ": only LlamaForCausalLM");
    const std::string st = (std::filesystem::path(in) / "model.safetensors").string();
    const qf::hf::SafetensorsFile file(st);
    qf::CheckpointContent c;
    c.graph = qf::hf::describe_hf_graph(cfg);
    c.provenance["source"] = std::filesystem::absolute(in).string();
    c.provenance["weights"] = quant + " blocks (ggml's reference quantizer)" + (sparse ? ", 2:4 by magnitude first" : "");
    c.provenance["tool"] = "bench/hf_ggml_checkpoint";
    const size_t n_ops = c.graph.ops.size();
    size_t done = 0;
    for (const qf::Op& op : c.graph.ops) {
      ++done;
      if (op.kind != "embedding" && op.kind != "linear" && op.kind != "rms_norm" && op.kind != "rotary_embedding")
        continue;
      qf::LayerContent L;
      L.name = op.name;
      L.kind = op.kind;
      if (op.kind == "rotary_embedding") {
        const std::vector<double> f = qf::hf::rope_inv_freq(cfg.layer.at(0).rope, cfg.head_dim);
        std::vector<float> f32(f.begin(), f.end());
        const auto n = static_cast<int64_t>(f32.size());  // before the move below
        L.weight = qf::Tensor::floats({n}, std::move(f32));
      } else {
        const std::string tname = op.name == "lm_head" && cfg.tied ? "model.embed_tokens.weight" : op.name + ".weight";
        const auto& e = file.entries().at(tname);
        std::vector<float> w = file.read_f32(tname);
        const bool projection = op.kind == "linear" && op.name != "lm_head";
        if (sparse && projection) prune_24(w);
        L.weight = qf::Tensor::floats(e.shape, std::move(w));
        if (op.kind != "rms_norm") {
          L.weight_scheme = qf::ggml_weight_scheme(fmt);
          if (sparse && projection) L.sparsity = "2:4";
        }
        if (op.kind == "linear") L.input_act = qf::ActScheme{qf::ActMode::kDynamicPerToken, 8, true, 1.f, 0};
      }
      c.layers.push_back(std::move(L));
      std::fprintf(stderr, "\r  %zu/%zu ops read", done, n_ops);
    }
    std::fprintf(stderr, "\n  quantizing and writing %s ...\n", out.c_str());
    qf::write_checkpoint(out, c);
    std::printf("wrote %s (%.1f MiB): %s%s, %lld layers\n", out.c_str(),
                static_cast<double>(std::filesystem::file_size(out)) / (1 << 20), quant.c_str(),
                sparse ? " + 2:4" : "", static_cast<long long>(cfg.layers));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hf_ggml_checkpoint: %s\n", e.what());
    return 1;
  }
  return 0;
}
