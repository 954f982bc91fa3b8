// llama_race_qforge CKPT.qf.h5 --threads T [--pp 128,512] [--tg 128] [--tg-prompt 8] [--reps 1]
// llama_race_qforge CKPT.qf.h5 --logits IDS_CSV OUT.f32 [--threads T]
// llama_race_qforge --serve CKPT.qf.h5... [--labels A,B] [--tg-prompt 8]
// qforge's side of the llama.cpp race (bench/llama_race.sh): wall-clock tokens/s of the
// runtime on a decoder checkpoint, as llama.cpp's own timings count them:
//   pp N   one step over N prompt ids in a fresh session (prompt processing);
//   tg N   N steps of one token each after a short prompt (generation; the prompt is not timed),
//          greedy, so the tokens fed back are the model's own.
// Prints one JSON object per measurement: {"engine":"qforge","test":"pp128","tokens_per_s":..}.
// The prompt ids are a fixed pseudo-random sequence (the same as the node peer's). Note that a
// step computes, like llama.cpp, the logits of the last position only
// (Engine::set_last_position_outputs; --all-logits: of every position, the graph's full output,
// as before: the head is ~20% of a 1B Llama's multiply-adds, N - 1 unused rows in a pp step).
// --profile (with one checkpoint, no --serve): after the measurements, the wall time per op kind
// (Engine::set_profiling) of each measurement, as a markdown table on stderr.
// --logits: instead, the last position's logits of one step over IDS, written as float32.
// --serve: loads every checkpoint once (a 1B checkpoint takes tens of seconds to read, verify
// and pack), then answers stdin lines "INDEX THREADS PP_CSV TG" (PP_CSV "-" for none) with the
// measurements of checkpoint INDEX, labelled with its --labels entry, and "L INDEX IDS_CSV OUT"
// as --logits does; each answer ends with a line {"done":1}. So the race can interleave it with
// llama.cpp's runs without reloading.
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <map>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/cpu_time.h"
#include "runtime/engine.h"
#include "runtime/generation.h"
#include "runtime/kernels/threads.h"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The race's prompt ids: a linear congruential sequence over [0, vocab - 256) (no special ids).
std::vector<int64_t> prompt_ids(int64_t n, int64_t vocab) {
  std::vector<int64_t> v;
  uint64_t s = 12345;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    v.push_back(static_cast<int64_t>((s >> 33) % static_cast<uint64_t>(vocab - 256)));
  }
  return v;
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoll(item));
  return v;
}

struct Model {
  std::string label;
  qf::Engine engine;
  std::string in, out;
  int64_t vocab = 0;

  qf::Tensor step(qf::Session& s, const std::vector<int64_t>& ids) {
    return s.step({{in, qf::Tensor::ids({1, static_cast<int64_t>(ids.size())}, ids)}}).at(out);
  }
};

bool g_profile = false;     // --profile
bool g_all_logits = false;  // --all-logits

Model load(const std::string& path, const std::string& label) {
  const double t0 = now();
  Model m{label, qf::Engine::load(path), "", "", 0};
  m.engine.set_last_position_outputs(!g_all_logits);
  m.in = m.engine.checkpoint().graph.inputs.at(0).name;
  m.out = m.engine.checkpoint().graph.outputs.at(0);
  {  // warm-up: one short step (first touch of the prepared weights, thread start)
    qf::Session s = m.engine.start_session();
    m.vocab = m.step(s, {0, 1, 2, 3}).shape.back();
  }
  std::fprintf(stderr, "qforge: loaded %s in %.1f s, kernels %s\n", path.c_str(), now() - t0,
               m.engine.kernel_table().name);
  return m;
}

// dt: wall seconds; cpu: the process's CPU seconds over the same span (every thread; a loaded
// machine stretches the wall clock, not the CPU time of a 1-thread run).
void report(const Model& m, const std::string& test, int64_t tokens, double dt, double cpu) {
  std::printf("{\"engine\":\"%s\",\"test\":\"%s\",\"tokens\":%lld,\"seconds\":%.4f,\"tokens_per_s\":%.3f,"
              "\"cpu_seconds\":%.4f,\"tokens_per_cpu_s\":%.3f}\n",
              m.label.c_str(), test.c_str(), static_cast<long long>(tokens), dt, static_cast<double>(tokens) / dt, cpu,
              static_cast<double>(tokens) / cpu);
  std::fflush(stdout);
}


// Per op kind (linears by the last part of their name: q_proj, ..., lm_head): the wall time the
// executor measured since the last reset, as a share of `total`.
void print_profile(Model& m, const std::string& test, double total) {
  if (!g_profile) return;
  std::map<std::string, std::pair<double, int64_t>> by;
  for (const qf::OpTime& t : m.engine.op_times()) {
    std::string key = t.kind;
    if (t.kind == "linear") {
      const size_t dot = t.name.find_last_of("./");
      key += " " + (dot == std::string::npos ? t.name : t.name.substr(dot + 1));
    }
    by[key].first += t.seconds;
    by[key].second += t.calls;
  }
  double ops = 0;
  for (auto& kv : by) ops += kv.second.first;
  std::fprintf(stderr, "\n%s: %.1f ms wall, %.1f ms in ops\n| op | ms | share | calls |\n| --- | --- | --- | --- |\n",
               test.c_str(), total * 1e3, ops * 1e3);
  for (auto& kv : by)
    if (kv.second.first > 0)
      std::fprintf(stderr, "| %s | %.2f | %.1f%% | %lld |\n", kv.first.c_str(), kv.second.first * 1e3,
                   100.0 * kv.second.first / total, static_cast<long long>(kv.second.second));
  m.engine.reset_op_times();
}

void measure(Model& m, const std::vector<int64_t>& pp, int64_t tg, int64_t tg_prompt) {
  for (int64_t n : pp) {
    const std::vector<int64_t> ids = prompt_ids(n, m.vocab);
    qf::Session s = m.engine.start_session();
    m.engine.reset_op_times();
    const double t0 = now(), c0 = qf::bench::cpu_seconds();
    m.step(s, ids);
    report(m, "pp" + std::to_string(n), n, now() - t0, qf::bench::cpu_seconds() - c0);
    print_profile(m, "pp" + std::to_string(n), now() - t0);
  }
  if (tg > 0) {
    qf::Session s = m.engine.start_session();
    qf::Tensor y = m.step(s, prompt_ids(tg_prompt, m.vocab));
    m.engine.reset_op_times();
    const double t0 = now(), c0 = qf::bench::cpu_seconds();
    for (int64_t i = 0; i < tg; ++i) {
      const int64_t v = y.shape.back();
      const float* last = y.f32.data() + (y.numel() - v);
      int64_t best = 0;
      for (int64_t j = 1; j < v; ++j)
        if (last[j] > last[best]) best = j;
      y = m.step(s, {best});
    }
    report(m, "tg" + std::to_string(tg), tg, now() - t0, qf::bench::cpu_seconds() - c0);
    print_profile(m, "tg" + std::to_string(tg), now() - t0);
  }
}

// The last position's logits of one step over `ids`, as float32.
bool write_logits(Model& m, const std::vector<int64_t>& ids, const std::string& path) {
  qf::Session s = m.engine.start_session();
  const qf::Tensor y = m.step(s, ids);
  const int64_t v = y.shape.back();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(y.f32.data() + (y.numel() - v)),
          static_cast<std::streamsize>(v * 4));
  std::printf("{\"engine\":\"%s\",\"logits\":\"%s\",\"vocab\":%lld}\n", m.label.c_str(), path.c_str(),
              static_cast<long long>(v));
  std::fflush(stdout);
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> ckpts, labels;
  std::string logits_ids, logits_out;
  int threads = 1, reps = 1;
  bool serve = false;
  std::vector<int64_t> pp = {128, 512};
  int64_t tg = 128, tg_prompt = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--help") {
        std::printf("usage: llama_race_qforge CKPT.qf.h5 --threads T [--pp 128,512] [--tg 128] [--tg-prompt 8] [--reps 1] [--profile] [--all-logits]\n"
                    "       llama_race_qforge CKPT.qf.h5 --logits IDS_CSV OUT.f32 [--threads T]\n"
                    "       llama_race_qforge --serve CKPT.qf.h5... [--labels A,B] [--tg-prompt 8]\n"
                    "         (stdin lines: INDEX THREADS PP_CSV|- TG)\n");
        return 0;
      } else if (a == "--threads") threads = std::stoi(next());
      else if (a == "--pp") pp = parse_list(next());
      else if (a == "--tg") tg = std::stoll(next());
      else if (a == "--tg-prompt") tg_prompt = std::stoll(next());
      else if (a == "--reps") reps = std::stoi(next());
      else if (a == "--serve") serve = true;
      else if (a == "--profile") g_profile = true;
      else if (a == "--all-logits") g_all_logits = true;
      else if (a == "--labels") {
        std::stringstream ss(next());
        std::string l;
        while (std::getline(ss, l, ',')) labels.push_back(l);
      } else if (a == "--logits") {
        logits_ids = next();
        logits_out = next();
      } else ckpts.push_back(a);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "llama_race_qforge: %s\n", e.what());
      return 2;
    }
  }
  if (ckpts.empty() || (!serve && ckpts.size() > 1)) {
    std::fprintf(stderr, "llama_race_qforge: one checkpoint (several with --serve) (--help)\n");
    return 2;
  }
  try {
    qf::kernels::set_num_threads(threads);
    std::vector<Model> models;
    models.reserve(ckpts.size());  // loaded in place, never moved afterwards
    for (size_t i = 0; i < ckpts.size(); ++i) models.push_back(load(ckpts[i], i < labels.size() ? labels[i] : "qforge"));
    if (!logits_ids.empty()) return write_logits(models[0], parse_list(logits_ids), logits_out) ? 0 : 1;
    if (!serve) {
      std::fprintf(stderr, "qforge: %d thread(s)\n", qf::kernels::num_threads());
      models[0].engine.set_profiling(g_profile);
      for (int r = 0; r < reps; ++r) measure(models[0], pp, tg, tg_prompt);
      return 0;
    }
    std::printf("{\"ready\":1}\n");
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
      std::stringstream ss(line);
      if (line.rfind("L ", 0) == 0) {  // "L INDEX IDS_CSV OUT.f32": logits, as --logits
        std::string tag, ids, path;
        size_t index = 0;
        if (!(ss >> tag >> index >> ids >> path) || index >= models.size())
          throw std::runtime_error("bad command '" + line + "' (L INDEX IDS_CSV OUT.f32)");
        if (!write_logits(models[index], parse_list(ids), path)) throw std::runtime_error("cannot write " + path);
        std::printf("{\"done\":1}\n");
        std::fflush(stdout);
        continue;
      }
      size_t index = 0;
      int t = 1;
      std::string pps;
      int64_t n_tg = 0;
      if (!(ss >> index >> t >> pps >> n_tg) || index >= models.size())
        throw std::runtime_error("bad command '" + line + "' (INDEX THREADS PP_CSV|- TG)");
      qf::kernels::set_num_threads(t);
      measure(models[index], pps == "-" ? std::vector<int64_t>{} : parse_list(pps), n_tg, tg_prompt);
      std::printf("{\"done\":1}\n");
      std::fflush(stdout);
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "llama_race_qforge: %s\n", ex.what());
    return 1;
  }
  return 0;
}
