// Decode tokens/s of a decoder checkpoint on one kernel table (default `cuda`), the issue-21
// end-to-end number: a prompt, then greedy single-token steps (each step's token is the argmax
// of the last one's logits, read back to the host as generation does), repeated; then one more
// pass with the per-op profile on (the device synchronized around every op, so the times are
// the kernels', not their launches'), summed by op kind. LibTorch-free. Usage:
//   decode_bench [--device cuda|cpu] [--prompt N] [--tokens N] [--repeats R] [--profile] CHECKPOINT...
// The PyTorch peer of the same model is bench/cuda/torch_decode_peer.py.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/engine.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Options {
  std::string device = "cuda";
  int64_t prompt = 32, tokens = 128, repeats = 3;
  bool profile = false;
  std::vector<std::string> paths;
};

int64_t argmax_last(const qf::Tensor& logits) {
  const int64_t v = logits.shape.back();
  auto row = logits.f32.end() - v;
  return std::max_element(row, logits.f32.end()) - row;
}

// One generation: prefill seconds, decode seconds (the `tokens` single-token steps).
std::pair<double, double> generate(qf::Engine& e, const Options& o, std::vector<int64_t>* out_ids) {
  const qf::Checkpoint& ck = e.checkpoint();
  const std::string in = ck.graph.inputs[0].name, out = ck.graph.outputs.at(0);
  std::vector<int64_t> prompt(static_cast<size_t>(o.prompt));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int64_t>((17 + 31 * i) % 200);  // ids every vocabulary here has (torch_decode_peer.py: the same)
  qf::Session s = e.start_session();
  auto t0 = Clock::now();
  qf::Tensor l = s.step({{in, qf::Tensor::ids({1, o.prompt}, prompt)}}).at(out);
  const double prefill = since(t0);
  t0 = Clock::now();
  for (int64_t i = 0; i < o.tokens; ++i) {
    const int64_t next = argmax_last(l);
    if (out_ids) out_ids->push_back(next);
    l = s.step({{in, qf::Tensor::ids({1, 1}, {next})}}).at(out);
  }
  return {prefill, since(t0)};
}

void bench_one(const std::string& path, const Options& o) {
  auto t0 = Clock::now();
  qf::Engine e = qf::Engine::load(path, &qf::kernels::kernel_table_for_device(o.device));
  e.set_last_position_outputs(true);  // the prompt's logits are read at its last position only
  std::printf("## %s\nloaded on %s in %.1f s; prompt %lld, %lld greedy steps, batch 1\n", path.c_str(),
              e.kernel_table().name, since(t0), static_cast<long long>(o.prompt), static_cast<long long>(o.tokens));
  std::vector<int64_t> ids;
  generate(e, o, &ids);  // warm-up: module load, allocations, the memory plans
  std::vector<double> tps, prefill;
  for (int64_t r = 0; r < o.repeats; ++r) {
    const auto [p, d] = generate(e, o, nullptr);
    prefill.push_back(p * 1e3);
    tps.push_back(static_cast<double>(o.tokens) / d);
  }
  std::sort(tps.begin(), tps.end());
  std::sort(prefill.begin(), prefill.end());
  std::printf("decode tokens/s: median %.1f (min %.1f, max %.1f over %lld repeats); %.3f ms/token; prefill %.2f ms\n",
              tps[tps.size() / 2], tps.front(), tps.back(), static_cast<long long>(o.repeats),
              1e3 / tps[tps.size() / 2], prefill[prefill.size() / 2]);
  std::printf("greedy ids (first 16):");
  for (size_t i = 0; i < ids.size() && i < 16; ++i) std::printf(" %lld", static_cast<long long>(ids[i]));
  std::printf("\n");
  if (!o.profile) return;
  e.set_profiling(true);
  e.reset_op_times();
  Options one = o;
  generate(e, one, nullptr);
  e.set_profiling(false);
  std::map<std::string, std::pair<double, int64_t>> by_kind;
  std::map<std::string, std::string> kernel_of;
  double total = 0;
  for (const qf::OpTime& t : e.op_times()) {
    auto& k = by_kind[t.kind];
    k.first += t.seconds;
    k.second += t.calls;
    total += t.seconds;
    if (!t.kernel.empty()) kernel_of[t.kind] = t.kernel;
  }
  std::printf("per-op profile of one generation (synchronized per op; prefill included): %.2f ms in ops\n", total * 1e3);
  std::printf("| op kind | calls | ms | share | kernel |\n| --- | --- | --- | --- | --- |\n");
  std::vector<std::pair<double, std::string>> order;
  for (const auto& [k, v] : by_kind) order.emplace_back(-v.first, k);
  std::sort(order.begin(), order.end());
  for (const auto& [neg, k] : order) {
    const auto& v = by_kind[k];
    std::printf("| %s | %lld | %.2f | %.1f%% | %s |\n", k.c_str(), static_cast<long long>(v.second), v.first * 1e3,
                100 * v.first / total, kernel_of.count(k) ? kernel_of[k].c_str() : "");
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "decode_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf("usage: decode_bench [--device cuda|cpu] [--prompt N] [--tokens N] [--repeats R] [--profile] CHECKPOINT...\n"
                  "greedy decode tokens/s (batch 1) of each decoder checkpoint on one device, median of R repeats\n"
                  "after a warm-up; --profile adds a per-op-kind time table of one more generation\n");
      return 0;
    }
    if (a == "--device") o.device = val();
    else if (a == "--prompt") o.prompt = std::atoll(val().c_str());
    else if (a == "--tokens") o.tokens = std::atoll(val().c_str());
    else if (a == "--repeats") o.repeats = std::max<int64_t>(1, std::atoll(val().c_str()));
    else if (a == "--profile") o.profile = true;
    else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "decode_bench: unknown option %s (--help)\n", a.c_str());
      return 2;
    } else o.paths.push_back(a);
  }
  if (o.paths.empty() || o.prompt < 1 || o.tokens < 1) {
    std::fprintf(stderr, "decode_bench: give a checkpoint, --prompt >= 1 and --tokens >= 1 (--help)\n");
    return 2;
  }
  int rc = 0;
  for (const std::string& p : o.paths) {
    try {
      bench_one(p, o);
    } catch (const std::exception& e) {
      std::printf("%s: error: %s\n\n", p.c_str(), e.what());
      rc = 1;
    }
  }
  return rc;
}
