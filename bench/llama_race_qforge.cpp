// llama_race_qforge CKPT.qf.h5 --threads T [--pp 128,512] [--tg 128] [--tg-prompt 8] [--reps 1]
//                   [--logits IDS_CSV OUT.f32]
// qforge's side of the llama.cpp race (bench/llama_race.sh): wall-clock tokens/s of the
// runtime on a decoder checkpoint, as llama.cpp's own timings count them:
//   pp N   one step over N prompt ids in a fresh session (prompt processing);
//   tg N   N steps of one token each after a short prompt (generation; the prompt is not timed),
//          greedy, so the tokens fed back are the model's own.
// Prints one JSON object per measurement: {"engine":"qforge","test":"pp128","tokens_per_s":..}.
// The prompt ids are a fixed pseudo-random sequence (the same as the node peer's). Note that a
// step computes the logits of every position it runs (the graph's output), llama.cpp only the
// last (the head is ~20% of a 1B Llama's multiply-adds: qforge's pp pays for N - 1 unused rows).
// --logits: instead, the last position's logits of one step over IDS, written as float32.
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

}  // namespace

int main(int argc, char** argv) {
  std::string ckpt, logits_ids, logits_out;
  int threads = 1, reps = 1;
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
        std::printf("usage: llama_race_qforge CKPT.qf.h5 --threads T [--pp 128,512] [--tg 128] [--tg-prompt 8] "
                    "[--reps 1] [--logits IDS_CSV OUT.f32]\n");
        return 0;
      } else if (a == "--threads") threads = std::stoi(next());
      else if (a == "--pp") pp = parse_list(next());
      else if (a == "--tg") tg = std::stoll(next());
      else if (a == "--tg-prompt") tg_prompt = std::stoll(next());
      else if (a == "--reps") reps = std::stoi(next());
      else if (a == "--logits") {
        logits_ids = next();
        logits_out = next();
      } else ckpt = a;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "llama_race_qforge: %s\n", e.what());
      return 2;
    }
  }
  if (ckpt.empty()) {
    std::fprintf(stderr, "llama_race_qforge: no checkpoint (--help)\n");
    return 2;
  }
  try {
    qf::kernels::set_num_threads(threads);
    const double t_load = now();
    qf::Engine e = qf::Engine::load(ckpt);
    std::fprintf(stderr, "qforge: loaded %s in %.1f s, kernels %s, %d thread(s)\n", ckpt.c_str(), now() - t_load,
                 e.kernel_table().name, qf::kernels::num_threads());
    const std::string in = e.checkpoint().graph.inputs.at(0).name, out = e.checkpoint().graph.outputs.at(0);
    auto step = [&](qf::Session& s, const std::vector<int64_t>& ids) {
      return s.step({{in, qf::Tensor::ids({1, static_cast<int64_t>(ids.size())}, ids)}}).at(out);
    };
    if (!logits_ids.empty()) {
      const std::vector<int64_t> ids = parse_list(logits_ids);
      qf::Session s = e.start_session();
      const qf::Tensor y = step(s, ids);
      const int64_t v = y.shape.back();
      std::ofstream f(logits_out, std::ios::binary);
      f.write(reinterpret_cast<const char*>(y.f32.data() + (static_cast<int64_t>(ids.size()) - 1) * v),
              static_cast<std::streamsize>(v * 4));
      std::printf("{\"engine\":\"qforge\",\"logits\":\"%s\",\"vocab\":%lld}\n", logits_out.c_str(),
                  static_cast<long long>(v));
      return f ? 0 : 1;
    }
    int64_t vocab = 0;
    {  // warm-up: one short step (first-touch of the prepared weights, thread start)
      qf::Session s = e.start_session();
      vocab = step(s, prompt_ids(4, 1 << 20)).shape.back();
    }
    for (int r = 0; r < reps; ++r) {
      for (int64_t n : pp) {
        const std::vector<int64_t> ids = prompt_ids(n, vocab);
        qf::Session s = e.start_session();
        const double t0 = now();
        step(s, ids);
        const double dt = now() - t0;
        std::printf("{\"engine\":\"qforge\",\"test\":\"pp%lld\",\"tokens\":%lld,\"seconds\":%.4f,\"tokens_per_s\":%.3f}\n",
                    static_cast<long long>(n), static_cast<long long>(n), dt, static_cast<double>(n) / dt);
        std::fflush(stdout);
      }
      if (tg > 0) {
        qf::Session s = e.start_session();
        qf::Tensor y = step(s, prompt_ids(tg_prompt, vocab));
        const double t0 = now();
        for (int64_t i = 0; i < tg; ++i) {
          const int64_t v = y.shape.back();
          const float* last = y.f32.data() + (y.numel() - v);
          int64_t best = 0;
          for (int64_t j = 1; j < v; ++j)
            if (last[j] > last[best]) best = j;
          y = step(s, {best});
        }
        const double dt = now() - t0;
        std::printf("{\"engine\":\"qforge\",\"test\":\"tg%lld\",\"tokens\":%lld,\"seconds\":%.4f,\"tokens_per_s\":%.3f}\n",
                    static_cast<long long>(tg), static_cast<long long>(tg), dt, static_cast<double>(tg) / dt);
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "llama_race_qforge: %s\n", ex.what());
    return 1;
  }
  return 0;
}
