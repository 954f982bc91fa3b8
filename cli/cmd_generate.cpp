// qforge generate CHECKPOINT --prompt TEXT: byte-level text generation with a gpt checkpoint,
// through the runtime's incremental session (KV cache).
#include <cmath>
#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "runtime/engine.h"
#include "runtime/kernels/threads.h"

namespace qf::cli {

void add_generate_command(CLI::App& app) {
  struct Options {
    std::string checkpoint, prompt = "The ";
    int64_t bytes = 200;
    double temperature = 0.8;
    uint64_t seed = 0;
    int threads = 0;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with a gpt checkpoint (.qf.h5) through the runtime");
  cmd->add_option("checkpoint", opt->checkpoint, "gpt checkpoint (.qf.h5)")->required()->check(CLI::ExistingFile);
  cmd->add_option("-p,--prompt", opt->prompt, "Text to continue")->capture_default_str();
  cmd->add_option("-n,--bytes", opt->bytes, "Bytes to generate")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("-t,--temperature", opt->temperature, "Sampling temperature (0: greedy)")->capture_default_str()->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--seed", opt->seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--threads", opt->threads, "CPU threads for the runtime's kernels (default: all cores)");
  cmd->callback([opt] {
    kernels::set_num_threads(opt->threads);
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
  });
}

}  // namespace qf::cli
