// conv_bench: the fused conv + relu + 2x2 max pool kernel (KernelTable::qconv_pool) on a 2:4
// weight, dense against 2:4, as the Fashion CNN's second conv runs it: the dense path reads the
// padded channels-last codes in place with the weight's K permuted to (i, j, c) (int8), the 2:4
// path reads the same codes with the checkpoint's (c, i, j) K (cij_channels) and the table's
// prepare_qconv_pool packing. Both outputs are compared (they must be the same bytes), then
// interleaved rounds report CPU time per call (user + sys: robust to other processes' load) and
// the ratio dense / 2:4 per round.
//
//   conv_bench [--images 64] [--channels 32] [--size 14] [--outputs 64] [--threads 1] [--rounds 9]
//
// LibTorch-free (links qforge_runtime only).
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/nm_sparse.h"
#include "runtime/kernels/kernels.h"
#include "runtime/kernels/threads.h"

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qf::kernels;
  CLI::App app{"Fused conv + pool kernel on a 2:4 weight: dense channels-last (i, j, c) vs the 2:4 (c, i, j) path"};
  int64_t images = 64, channels = 32, size = 14, outputs = 64, rounds = 9;
  int threads = 1;
  std::string isa = "avx512";
  app.add_option("--images", images, "Images per call")->capture_default_str();
  app.add_option("--channels", channels, "Input channels (a multiple of 4: K = 9 C holds whole 2:4 groups)")
      ->capture_default_str();
  app.add_option("--size", size, "Input height = width (3x3 conv, padding 1, then 2x2 pool)")->capture_default_str();
  app.add_option("--outputs", outputs, "Output channels")->capture_default_str();
  app.add_option("--threads", threads, "Kernel threads")->capture_default_str();
  app.add_option("--rounds", rounds, "Interleaved rounds")->capture_default_str();
  app.add_option("--isa", isa, "Kernel table (QFORGE_ISA spelling)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    if (images < 1 || channels < 4 || channels % 4 != 0 || size < 2 || outputs < 1 || rounds < 1)
      throw std::runtime_error("need --images >= 1, --channels a multiple of 4, --size >= 2, --outputs >= 1");
    set_num_threads(threads);
    const KernelTable& t = kernel_table_for_isa(isa);
    if (!t.qconv_pool || !t.prepare_qconv_pool || !t.prepare_qweights)
      throw std::runtime_error(std::string(t.name) + " has no fused conv + pool 2:4 path");
    const int64_t C = channels, H = size, W = size, N = outputs, K = 9 * C, hp = H + 2, wp = W + 2;
    std::mt19937 rng(1);
    std::vector<uint8_t> x(static_cast<size_t>(images * hp * wp * C));
    for (auto& v : x) v = static_cast<uint8_t>(rng());
    // A random 2:4 int4 weight in (c, i, j) order, and the same codes in (i, j, c) order.
    std::vector<int8_t> cij(static_cast<size_t>(N * K), 0), ijc(cij.size());
    for (int64_t r = 0; r < N; ++r)
      for (int64_t g = 0; g < K / 4; ++g) {
        int pos[4] = {0, 1, 2, 3};
        std::shuffle(pos, pos + 4, rng);
        for (int q = 0; q < 2; ++q) cij[static_cast<size_t>(r * K + g * 4 + pos[q])] = static_cast<int8_t>(int(rng() % 15) - 7);
      }
    for (int64_t r = 0; r < N; ++r)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t tap = 0; tap < 9; ++tap) ijc[static_cast<size_t>(r * K + tap * C + c)] = cij[static_cast<size_t>(r * K + c * 9 + tap)];
    const auto nm = qf::nm_compress(cij.data(), N, K, qf::NMPattern{2, 4});
    std::vector<float> scales(static_cast<size_t>(N), 0.01f), bias(static_cast<size_t>(N), 0.1f);
    QWeights wd;
    wd.kind = QWeightKind::kInt8;
    wd.n = N;
    wd.k = K;
    wd.codes = ijc.data();
    wd.scales = scales.data();
    QWeights ws;
    ws.kind = QWeightKind::kNM;
    ws.nm_n = 2;
    ws.nm_m = 4;
    ws.n = N;
    ws.k = K;
    ws.codes = nm.values.data();
    ws.packed = nm.indices.data();
    ws.scales = scales.data();
    auto pd = t.prepare_qweights(wd);
    auto ps = t.prepare_qconv_pool(ws, C, 3, 3);
    if (!ps) throw std::runtime_error(std::string(t.name) + ": prepare_qconv_pool declined the weight");
    wd.prepared = pd.get();
    ws.prepared = ps.get();
    QConvPoolArgs a;  // the CNN's conv2: u8 codes (zero point 0 after relu), relu, pool, u8 codes out
    a.x = x.data();
    a.sx = 0.03f;
    a.images = images;
    a.pooled_h = H / 2;
    a.pooled_w = W / 2;
    a.x_image = hp * wp * C;
    a.x_row = a.x_seg = wp * C;
    a.x_pixel = C;
    a.segs = 3;
    a.relu_before = a.relu_after = true;
    a.out_codes = true;
    a.out_scale = 0.05f;
    a.out_qmax = 255;
    a.y_image = a.pooled_h * a.pooled_w * N;
    a.y_row = a.pooled_w * N;
    std::vector<uint8_t> yd(static_cast<size_t>(images * a.y_image)), ys(yd.size());
    a.y = yd.data();
    QConvPoolArgs as = a;
    as.cij_channels = C;
    as.y = ys.data();
    t.qconv_pool(a, wd, bias.data());
    t.qconv_pool(as, ws, bias.data());
    if (yd != ys) throw std::runtime_error("the 2:4 path's output differs from the dense path's");
    const double c0 = cpu_seconds();
    t.qconv_pool(a, wd, bias.data());
    const int calls = std::max(3, static_cast<int>(0.05 / std::max(1e-6, cpu_seconds() - c0)));
    std::printf("%s, %d threads, %lld images %lldx%lldx%lld -> %lld outputs (K = %lld), %d calls per variant and round\n",
                t.name, num_threads(), static_cast<long long>(images), static_cast<long long>(H),
                static_cast<long long>(W), static_cast<long long>(C), static_cast<long long>(N),
                static_cast<long long>(K), calls);
    std::printf("| round | dense ms/call (CPU) | 2:4 ms/call (CPU) | dense / 2:4 |\n| --- | --- | --- | --- |\n");
    std::vector<double> ratios, dense_ms, sparse_ms;
    for (int64_t r = 0; r < rounds; ++r) {
      double d = 0, s = 0;
      for (int v = 0; v < 2; ++v) {  // alternate which runs first
        const bool sp = (v + r) % 2 == 1;
        const double t0 = cpu_seconds();
        for (int i = 0; i < calls; ++i) sp ? t.qconv_pool(as, ws, bias.data()) : t.qconv_pool(a, wd, bias.data());
        (sp ? s : d) = (cpu_seconds() - t0) / calls * 1e3;
      }
      dense_ms.push_back(d);
      sparse_ms.push_back(s);
      ratios.push_back(d / s);
      std::printf("| %lld | %.3f | %.3f | %.3f |\n", static_cast<long long>(r), d, s, d / s);
    }
    std::printf("median dense %.3f ms, 2:4 %.3f ms; dense / 2:4 %.3f [%.3f, %.3f]\n", median(dense_ms), median(sparse_ms),
                median(ratios), *std::min_element(ratios.begin(), ratios.end()),
                *std::max_element(ratios.begin(), ratios.end()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "conv_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
