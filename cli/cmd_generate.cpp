// qforge generate CHECKPOINT --prompt TEXT: byte-level text generation with a gpt checkpoint,
// through the runtime's incremental session (KV cache); --ids for token ids of any language
// model; --draft / --speculate for speculative decoding (runtime/generation.h); --prompts FILE
// with continuous batching (runtime/batch_generation.h).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "cli/device_option.h"
#include "hf/npy.h"
#include "runtime/batch_generation.h"
#include "runtime/engine.h"
#include "runtime/generation.h"
#include "runtime/kv_cache_size.h"
#include "runtime/kernels/threads.h"
#include "runtime/prefix_cache.h"

namespace qf::cli {
namespace {

// The KV cache's bytes per token beside an fp16 cache of the same shape (stderr: stdout is the
// generated text). From the checkpoint: the live caches store exactly this (KvCache).
void report_kv_cache(const Engine& engine) {
  std::fflush(stdout);
  const KvCacheSize size = kv_cache_size(engine.checkpoint());
  if (size.attention_ops == 0 || !size.known) return;
  if (size.fp16_bytes_per_token > 0)
    std::fprintf(stderr, "KV cache: %lld bytes/token (%.4fx of fp16's %lld; %lld of %lld attention ops quantized)\n",
                 static_cast<long long>(size.bytes_per_token),
                 static_cast<double>(size.bytes_per_token) / static_cast<double>(size.fp16_bytes_per_token),
                 static_cast<long long>(size.fp16_bytes_per_token), static_cast<long long>(size.quantized_ops),
                 static_cast<long long>(size.attention_ops));
}

struct GenerateCliOptions {
  std::string checkpoint, prompt = "The ";
  int64_t bytes = 200;
  double temperature = 0.8;
  uint64_t seed = 0;
  int threads = 0;
  std::string ids, ids_out;
  std::string draft;
  std::string device = "cpu";  // --device: the target's and the draft's kernel table
  int64_t speculate = 4;
  bool stats = false;
  std::string prompts;
  double prefix_cache_mb = 64;
  int64_t block = 16;
  int64_t batch = 16;
  std::vector<int64_t> stop_ids;
};

// One output record: "<i>\t" + prompt + continuation, with \n and \\ escaped.
void print_record(size_t i, const std::string& prompt, const std::vector<int64_t>& out) {
  std::string text = prompt;
  for (int64_t t : out) text.push_back(static_cast<char>(t));
  std::string escaped;
  for (char c : text) escaped += c == '\n' ? std::string("\\n") : c == '\\' ? std::string("\\\\") : std::string(1, c);
  std::printf("%zu\t%s\n", i, escaped.c_str());
}

// --prompts with --batch > 1: continuous batching. Records are printed in input order, each as
// soon as it and every earlier prompt have finished.
void run_prompts_batched(const GenerateCliOptions& o, Engine& engine, const std::vector<std::string>& lines,
                         const std::vector<std::vector<int64_t>>& prompts, PrefixCache* cache, int64_t context) {
  std::vector<BatchRequest> reqs;
  for (size_t i = 0; i < prompts.size(); ++i) reqs.push_back({prompts[i], o.bytes, o.stop_ids, o.seed + i});
  BatchOptions bo;
  bo.max_batch = o.batch;
  bo.temperature = o.temperature;
  bo.context = context;
  bo.prefix_cache = cache;
  std::vector<std::vector<int64_t>> done(prompts.size());
  std::vector<bool> finished(prompts.size(), false);
  size_t printed = 0;
  bo.on_finish = [&](size_t i, const std::vector<int64_t>& out) {
    done[i] = out;
    finished[i] = true;
    for (; printed < prompts.size() && finished[printed]; ++printed) print_record(printed, lines[printed], done[printed]);
    std::fflush(stdout);
  };
  BatchStats st;
  const auto t0 = std::chrono::steady_clock::now();
  generate_batch(engine, reqs, bo, &st);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.stats) {
    std::fprintf(stderr,
                 "[generate] %zu prompts, continuous batching (at most %lld in flight): %lld tokens in %.3f s (%.1f "
                 "tokens/s), %lld decoding steps of %.1f rows on average (most %lld), %lld prompt prefills",
                 prompts.size(), static_cast<long long>(o.batch), static_cast<long long>(st.tokens), s,
                 s > 0 ? static_cast<double>(st.tokens) / s : 0.0, static_cast<long long>(st.steps), st.mean_rows(),
                 static_cast<long long>(st.most_rows), static_cast<long long>(st.prefills));
    if (cache)
      std::fprintf(stderr, "; prefix cache: %lld tokens restored, %zu blocks, %.2f MB, %lld evictions",
                   static_cast<long long>(cache->hit_tokens()), cache->blocks(), cache->bytes() / 1048576.0,
                   static_cast<long long>(cache->evictions()));
    std::fprintf(stderr, "\n");
  }
}

// --prompts FILE: every line a prompt; with --batch > 1 (and no draft) through continuous
// batching, else one after another in file order (--stats then adds per-prompt time to first
// token). The prompts' prefill goes through the prefix cache (float and quantized KV alike).
// Prints each prompt + continuation as one record, in file order.
void run_prompts(const GenerateCliOptions& o, Engine& engine, std::unique_ptr<Engine>& draft, int64_t context) {
  std::ifstream f(o.prompts, std::ios::binary);
  if (!f) throw std::runtime_error(o.prompts + ": cannot open");
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) lines.push_back(line);
  if (lines.empty()) throw std::runtime_error(o.prompts + ": no prompts (one per line)");
  std::unique_ptr<PrefixCache> cache;
  if (o.prefix_cache_mb > 0 && !draft)
    cache = std::make_unique<PrefixCache>(o.block, static_cast<int64_t>(o.prefix_cache_mb * 1024 * 1024));
  std::vector<std::vector<int64_t>> prompts;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<int64_t>& prompt = prompts.emplace_back();
    for (unsigned char c : lines[i]) prompt.push_back(c);
    if (static_cast<int64_t>(prompt.size()) > context)
      throw std::runtime_error(o.prompts + ":" + std::to_string(i + 1) + ": prompt of " + std::to_string(prompt.size()) +
                               " bytes is longer than the context (" + std::to_string(context) + ")");
  }
  if (draft && o.batch > 1)
    throw std::runtime_error("--draft runs prompts one at a time: add --batch 1 (speculative decoding is not batched)");
  if (o.batch > 1) {
    run_prompts_batched(o, engine, lines, prompts, cache.get(), context);
    return;
  }
  double total_s = 0, ttft_sum = 0;
  int64_t total_tokens = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<int64_t>& prompt = prompts[i];
    GenerateOptions g;
    g.max_new_tokens = o.bytes;
    g.temperature = o.temperature;
    g.seed = o.seed + i;
    g.context = context;
    g.prefix_cache = cache.get();
    g.stop_ids = o.stop_ids;
    const int64_t hits_before = cache ? cache->hit_tokens() : 0;
    const auto t0 = std::chrono::steady_clock::now();
    double ttft = -1;
    g.on_token = [&](int64_t) {
      if (ttft < 0) ttft = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    GenerateStats st;
    const std::vector<int64_t> out = draft ? generate_speculative(engine, *draft, o.speculate, prompt, g, &st)
                                           : generate(engine, prompt, g, &st);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total_s += s;
    ttft_sum += ttft;
    total_tokens += st.tokens;
    print_record(i, lines[i], out);
    if (o.stats)
      std::fprintf(stderr, "[prompt %zu] %zu prompt tokens, %lld from the prefix cache, first token after %.2f ms, %lld tokens in %.3f s\n",
                   i, prompt.size(), static_cast<long long>(cache ? cache->hit_tokens() - hits_before : 0), 1e3 * ttft,
                   static_cast<long long>(st.tokens), s);
  }
  std::fflush(stdout);
  if (o.stats) {
    std::fprintf(stderr, "[generate] %zu prompts one at a time: %lld tokens in %.3f s (%.1f tokens/s), mean time to first token %.2f ms",
                 lines.size(), static_cast<long long>(total_tokens), total_s, total_tokens / total_s,
                 1e3 * ttft_sum / static_cast<double>(lines.size()));
    if (cache)
      std::fprintf(stderr, "; prefix cache: %lld tokens restored, %zu blocks, %.2f MB, %lld evictions",
                   static_cast<long long>(cache->hit_tokens()), cache->blocks(), cache->bytes() / 1048576.0,
                   static_cast<long long>(cache->evictions()));
    std::fprintf(stderr, "\n");
  }
}

// Runs plain or speculative generation and prints the statistics line (stderr) when asked.
std::vector<int64_t> run_generation(const GenerateCliOptions& o, Engine& target, std::unique_ptr<Engine>& draft,
                                    const std::vector<int64_t>& prompt, GenerateOptions g) {
  GenerateStats st;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> out = draft ? generate_speculative(target, *draft, o.speculate, prompt, g, &st)
                                   : generate(target, prompt, g, &st);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.stats) {
    std::fprintf(stderr, "[generate] %lld tokens in %.3f s (%.1f tokens/s, prompt included), %lld target steps",
                 static_cast<long long>(st.tokens), s, s > 0 ? static_cast<double>(st.tokens) / s : 0.0,
                 static_cast<long long>(st.target_steps));
    if (draft)
      std::fprintf(stderr, ", %lld draft steps, k = %lld, acceptance %.3f (%lld of %lld drafted), %.2f tokens per target step",
                   static_cast<long long>(st.draft_steps), static_cast<long long>(o.speculate), st.acceptance(),
                   static_cast<long long>(st.accepted), static_cast<long long>(st.drafted),
                   st.target_steps ? static_cast<double>(st.tokens) / static_cast<double>(st.target_steps) : 0.0);
    std::fprintf(stderr, "\n");
  }
  return out;
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto opt = std::make_shared<GenerateCliOptions>();
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
  cmd->add_option("--draft", opt->draft,
                  "Speculative decoding: a smaller checkpoint with the same vocabulary (e.g. the compressed student) "
                  "proposes --speculate tokens, the checkpoint verifies them in one step. Greedy output is the "
                  "checkpoint's own greedy output; sampled output follows its distribution")
      ->check(CLI::ExistingFile);
  cmd->add_option("--speculate", opt->speculate, "With --draft: tokens the draft proposes per target step")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  cmd->add_option("--prompts", opt->prompts,
                  "Text file, one prompt per line: generate -n bytes for each, --batch prompts at a time "
                  "(continuous batching: finished prompts leave, waiting ones join between steps); prints "
                  "'<line index><TAB><prompt + continuation>' per prompt in file order (newlines and "
                  "backslashes escaped). Each prompt's output equals its output when run alone")
      ->check(CLI::ExistingFile);
  cmd->add_option("--batch", opt->batch,
                  "With --prompts: sequences in flight at once (1: one prompt at a time; --draft needs 1). "
                  "<= 16 keeps batched output bit-identical to one-at-a-time output for float layers too")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--stop-id", opt->stop_ids,
                  "Token id (a byte value for text, e.g. 10 for a newline) after which a sequence stops; "
                  "repeat for several")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--prefix-cache-mb", opt->prefix_cache_mb,
                  "With --prompts (no --draft): memory for the prefix cache, which keeps the KV rows of whole "
                  "blocks of earlier prompts (float, or packed int4/int8 as the model stores them) and reuses "
                  "them for prompts that start the same way (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--prefix-block", opt->block, "Prefix cache block size in tokens (<= 16 keeps hits bit-exact for float models)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_flag("--stats", opt->stats, "Print tokens/s, target/draft steps and the draft's acceptance rate to stderr");
  add_device_option(cmd, opt->device);
  cmd->callback([opt] {
    const GenerateCliOptions& o = *opt;
    kernels::set_num_threads(o.threads);
    const kernels::KernelTable& table = table_for_device_or_exit(o.device);
    Engine engine = Engine::load(o.checkpoint, &table);
    std::unique_ptr<Engine> draft;
    if (!o.draft.empty()) draft = std::make_unique<Engine>(Engine::load(o.draft, &table));
    GenerateOptions g;
    g.max_new_tokens = o.bytes;
    g.temperature = o.temperature;
    g.seed = o.seed;
    g.stop_ids = o.stop_ids;
    if (!o.ids.empty()) {  // token ids in and out; the graph's own limits apply (no window)
      const hf::NpyArray a = hf::read_npy(o.ids);
      if (a.i64.empty() || a.shape.size() != 1) throw std::runtime_error(o.ids + ": token ids must be int32/int64 [T]");
      std::vector<int64_t> all = a.i64;
      const std::vector<int64_t> out = run_generation(o, engine, draft, a.i64, g);
      all.insert(all.end(), out.begin(), out.end());
      for (size_t i = 0; i < all.size(); ++i) std::printf("%s%lld", i ? " " : "", static_cast<long long>(all[i]));
      std::printf("\n");
      if (!o.ids_out.empty()) hf::write_npy_i64(o.ids_out, {static_cast<int64_t>(all.size())}, all.data());
      report_kv_cache(engine);
      return;
    }
    const Graph& gr = engine.checkpoint().graph;
    if (gr.family != "gpt") throw std::runtime_error(o.checkpoint + " is a '" + gr.family + "' model, not gpt");
    if (o.prompt.empty()) throw std::runtime_error("--prompt must not be empty");
    // The context is the positional table's length: past it, restart the KV cache on the last
    // half-context of text (a sliding window that recomputes once every context/2 bytes).
    const int64_t context = positional_context(engine);
    if (context < 2) throw std::runtime_error(o.checkpoint + ": no positional table, cannot tell the context length");
    if (draft) {
      const int64_t dc = positional_context(*draft);
      if (dc > 0 && dc < context)
        throw std::runtime_error(o.draft + ": the draft's context (" + std::to_string(dc) +
                                 ") is shorter than the checkpoint's (" + std::to_string(context) + ")");
    }
    if (!o.prompts.empty()) {
      run_prompts(o, engine, draft, context);
      return;
    }
    std::vector<int64_t> prompt;
    for (unsigned char c : o.prompt) prompt.push_back(c);
    if (static_cast<int64_t>(prompt.size()) > context)
      prompt.erase(prompt.begin(), prompt.end() - context);  // keep the end of a long prompt
    g.context = context;
    g.on_token = [](int64_t t) {
      std::fputc(static_cast<int>(t), stdout);
      std::fflush(stdout);
    };
    std::fputs(o.prompt.c_str(), stdout);
    run_generation(o, engine, draft, prompt, g);
    std::fputc('\n', stdout);
    report_kv_cache(engine);
  });
}

}  // namespace qf::cli
