// float_twin IN.qf.h5 OUT.qf.h5: the same model with every dense int8/int4 weight dequantized
// (code * scale) and stored float32, inputs no longer quantized: the float model whose weights
// are exactly the quantized one's. Used by docs/RESULTS.md ("Generation") as a float target for
// speculative decoding when no float teacher checkpoint is at hand; the quantized file is then a
// draft that differs from it by activation quantization only (its acceptance is an upper bound
// for a QAT student and its real teacher). Not part of the product (no training, no validation).
#include <cstdio>
#include <exception>
#include <string>

#include "core/int4_pack.h"
#include "export/checkpoint_writer.h"
#include "runtime/checkpoint_reader.h"

namespace {

qf::Tensor dequantized(const qf::LayerWeights& L) {
  using qf::WeightFormat;
  std::vector<int32_t> codes;
  if (L.format == WeightFormat::kInt4) codes = qf::unpack_int4_rows(L.packed.data(), L.rows, L.cols);
  else if (L.format == WeightFormat::kInt8) codes.assign(L.codes.begin(), L.codes.end());
  else throw std::runtime_error(L.name + ": only dense int8/int4 weights are dequantized");
  std::vector<float> w(static_cast<size_t>(L.rows * L.cols));
  for (int64_t o = 0; o < L.rows; ++o)
    for (int64_t k = 0; k < L.cols; ++k) {
      float s = L.scales[0];
      if (L.granularity == qf::Granularity::kChannel) s = L.scales[o];
      if (L.granularity == qf::Granularity::kGroup) s = L.scales[o * (L.cols / L.group_size) + k / L.group_size];
      w[o * L.cols + k] = static_cast<float>(codes[o * L.cols + k]) * s;
    }
  return qf::Tensor::floats(L.shape, std::move(w));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: float_twin IN.qf.h5 OUT.qf.h5  (dequantize every dense int8/int4 weight to float32)\n");
    return argc == 2 ? 0 : 2;
  }
  try {
    const qf::Checkpoint ck = qf::read_checkpoint(argv[1]);
    qf::CheckpointContent c;
    c.graph = ck.graph;
    c.provenance = ck.provenance;
    c.provenance["float_twin_of"] = argv[1];
    c.recipe_yaml = ck.recipe_yaml;
    for (const auto& [name, L] : ck.layers) {
      qf::LayerContent out;
      out.name = name;
      out.kind = L.kind;
      out.extra = L.extra;
      if (L.format == qf::WeightFormat::kFloat32) out.weight = qf::Tensor::floats(L.shape, L.f32);
      else if (L.format != qf::WeightFormat::kNone) out.weight = dequantized(L);
      c.layers.push_back(std::move(out));
    }
    qf::write_checkpoint(argv[2], c);
    std::printf("%s: %zu layers, every weight float32\n", argv[2], c.layers.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "float_twin: %s\n", e.what());
    return 1;
  }
  return 0;
}
