// qforge generate CHECKPOINT --prompt TEXT: byte-level text generation with a gpt checkpoint,
// through the runtime's incremental session (KV cache).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "hf/npy.h"
#include "runtime/engine.h"
#include "runtime/kv_cache_size.h"
#include "runtime/kernels/threads.h"

namespace qf::cli {
namespace {

// The live caches' bytes per token beside an fp16 cache of the same shape (stderr: stdout is
// the generated text).
void report_kv_cache(const Engine& engine, const Session& session) {
  std::fflush(stdout);
  const KvCacheSize size = kv_cache_size(engine.checkpoint());
  const int64_t live = session.kv_bytes_per_token();
  if (size.fp16_bytes_per_token > 0)
    std::fprintf(stderr, "KV cache: %lld bytes/token (%.4fx of fp16's %lld; %lld of %lld attention ops quantized)\n",
                 static_cast<long long>(live),
                 static_cast<double>(live) / static_cast<double>(size.fp16_bytes_per_token),
                 static_cast<long long>(size.fp16_bytes_per_token), static_cast<long long>(size.quantized_ops),
                 static_cast<long long>(size.attention_ops));
  else
    std::fprintf(stderr, "KV cache: %lld bytes/token\n", static_cast<long long>(live));
}

// Token-id generation through the session's KV cache: the prompt in one step, then one token a
// step (greedy at temperature 0). Text in / text out for Hugging Face models comes with the
// tokenizer library; this is the id-level path under it.
void generate_ids(const std::string& checkpoint, const std::string& ids_path, const std::string& out_path, int64_t n,
                  double temperature, uint64_t seed) {
  const hf::NpyArray a = hf::read_npy(ids_path);
  if (a.i64.empty() || a.shape.size() != 1) throw std::runtime_error(ids_path + ": token ids must be int32/int64 [T]");
  Engine engine = Engine::load(checkpoint);
  const Graph& g = engine.checkpoint().graph;
  if (g.inputs.size() != 1 || g.inputs[0].dtype != "int64")
    throw std::runtime_error(checkpoint + " is not a language model (its input is not token ids)");
  Session session = engine.start_session();
  std::vector<int64_t> all = a.i64, step = a.i64;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    const Tensor logits =
        session.step({{g.inputs[0].name, Tensor::ids({1, static_cast<int64_t>(step.size())}, step)}}).at(g.outputs.at(0));
    const int64_t vocab = logits.shape.back();
    const float* last = logits.f32.data() + (logits.numel() - vocab);
    int64_t next = 0;
    if (temperature <= 0) {
      next = std::max_element(last, last + vocab) - last;
    } else {
      std::vector<double> w(vocab);
      const float mx = *std::max_element(last, last + vocab);
      for (int64_t v = 0; v < vocab; ++v) w[v] = std::exp((last[v] - mx) / temperature);
      next = std::discrete_distribution<int64_t>(w.begin(), w.end())(rng);
    }
    all.push_back(next);
    step = {next};
  }
  for (size_t i = 0; i < all.size(); ++i) std::printf("%s%lld", i ? " " : "", static_cast<long long>(all[i]));
  std::printf("\n");
  report_kv_cache(engine, session);
  if (!out_path.empty()) hf::write_npy_i64(out_path, {static_cast<int64_t>(all.size())}, all.data());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  struct Options {
    std::string checkpoint, prompt = "The ";
    int64_t bytes = 200;
    double temperature = 0.8;
    uint64_t seed = 0;
    int threads = 0;
    std::string ids, ids_out;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with a gpt checkpoint (.qf.h5) through the runtime");
  cmd->add_option("checkpoint", opt->checkpoint, "gpt checkpoint (.qf.h5)")->required()->check(CLI::ExistingFile);
  cmd->add_option("-p,--prompt", opt->prompt, "Text to continue")->capture_default_str();
  cmd->add_option("-n,--bytes", opt->bytes, "Bytes to generate")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("-t,--temperature", opt->temperature, "Sampling temperature (0: greedy)")->capture_default_str()->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--seed", opt->seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--threads", opt->threads, "CPU threads for the runtime's kernels (default: all cores)");
  cmd->add_option("--ids", opt->ids,
                  "Prompt as token ids (.npy int32/int64 [T]) instead of text: any language-model checkpoint "
                  "(Hugging Face exports included); -n counts tokens; prints the generated ids")
      ->check(CLI::ExistingFile);
  cmd->add_option("--ids-out", opt->ids_out, "With --ids: write prompt + generated ids here (.npy int64)");
  cmd->callback([opt] {
    kernels::set_num_threads(opt->threads);
    if (!opt->ids.empty()) {
      generate_ids(opt->checkpoint, opt->ids, opt->ids_out, opt->bytes, opt->temperature, opt->seed);
      return;
    }
    Engine engine = Engine::load(opt->checkpoint);
    const Graph& g = engine.checkpoint().graph;
    if (g.family != "gpt") throw std::runtime_error(opt->checkpoint + " is a '" + g.family + "' model, not gpt");
    if (opt->prompt.empty()) throw std::runtime_error("--prompt must not be empty");
    const std::string in = g.inputs.at(0).name, out = g.outputs.at(0);
    // The context is the positional table's length: past it, restart the KV cache on the last
    // half-context of text (a sliding window that recomputes once every context/2 bytes).
    int64_t context = 0;
    for (const Op& op : g.ops)
      if (op.kind == "positional_embedding") context = engine.checkpoint().layers.at(op.name).shape.at(0);
    if (context < 2) throw std::runtime_error(opt->checkpoint + ": no positional table, cannot tell the context length");
    Session session = engine.start_session();
    std::vector<int64_t> history;
    for (unsigned char c : opt->prompt) history.push_back(c);
    if (static_cast<int64_t>(history.size()) > context)
      history.erase(history.begin(), history.end() - context);  // keep the end of a long prompt
    std::vector<int64_t> ids = history;
    std::mt19937_64 rng(opt->seed);
    std::fputs(opt->prompt.c_str(), stdout);
    for (int64_t i = 0; i < opt->bytes; ++i) {
      if (session.position() + static_cast<int64_t>(ids.size()) > context) {
        session.reset();
        ids.assign(history.end() - context / 2, history.end());
      }
      Tensor logits = session.step({{in, Tensor::ids({1, static_cast<int64_t>(ids.size())}, ids)}}).at(out);
      const int64_t vocab = logits.shape.back();
      const float* last = logits.f32.data() + (logits.numel() - vocab);
      int64_t next = 0;
      if (opt->temperature <= 0) {
        next = std::max_element(last, last + vocab) - last;
      } else {
        std::vector<double> w(vocab);
        const float mx = *std::max_element(last, last + vocab);
        for (int64_t v = 0; v < vocab; ++v) w[v] = std::exp((last[v] - mx) / opt->temperature);
        next = std::discrete_distribution<int64_t>(w.begin(), w.end())(rng);
      }
      std::fputc(static_cast<int>(next), stdout);
      std::fflush(stdout);
      history.push_back(next);
      ids = {next};
    }
    std::fputc('\n', stdout);
    report_kv_cache(engine, session);
  });
}

}  // namespace qf::cli
