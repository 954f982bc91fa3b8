// The Brown validation split as raw bytes (token id = byte), exactly the held-out stream qforge's
// language-model task evaluates on (train/brown.h: same documents, same detokenization, same
// split rule), for evaluating the same text outside qforge (llama.cpp's perplexity,
// tests/gguf/llama_cpp/perplexity.mjs).
//   brown_val_bytes OUT.bin [--seed S] [--val-fraction F] [--dir CORPUS_DIR]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "train/brown.h"

int main(int argc, char** argv) {
  std::string out, dir = qf::default_brown_dir();
  double frac = 0.05;
  unsigned long long seed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf("usage: brown_val_bytes OUT.bin [--seed S (split seed, default 0)] [--val-fraction F (0.05)] "
                  "[--dir CORPUS_DIR]\n");
      return 0;
    }
    if (a == "--seed") seed = std::stoull(val());
    else if (a == "--val-fraction") frac = std::stod(val());
    else if (a == "--dir") dir = val();
    else if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
    else out = a;
  }
  if (out.empty()) { std::fprintf(stderr, "usage: brown_val_bytes OUT.bin [--seed S] [--val-fraction F] [--dir D]\n"); return 2; }
  try {
    const qf::BrownCorpus c = qf::load_brown(dir, frac, seed);
    {
      std::ofstream f(out + ".tmp", std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(c.val.data()), static_cast<std::streamsize>(c.val.size()));
      if (!f) throw std::runtime_error("cannot write " + out + ".tmp");
    }
    if (std::rename((out + ".tmp").c_str(), out.c_str()) != 0) throw std::runtime_error("cannot rename to " + out);
    std::printf("wrote %s: %zu bytes, %lld validation documents (split seed %llu, fraction %g)\n", out.c_str(),
                c.val.size(), static_cast<long long>(c.val_docs), seed, frac);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "brown_val_bytes: %s\n", e.what());
    return 1;
  }
  return 0;
}
