// How a tensor is quantized: the vocabulary shared by the recipe side (qat/, calibrate/), the
// exporter and the runtime. The arithmetic itself is in core/quant.h and core/quantize_rows.h.
#pragma once

#include <cstdint>
#include <string>

#include "core/quant.h"

namespace qf {

// Which elements of a [rows, K] weight matrix share one scale.
enum class Granularity {
  kTensor,   // one scale for the whole matrix
  kChannel,  // one scale per row (output channel; per table row for embeddings)
  kGroup,    // one scale per `group_size` consecutive elements along K, per row
};

const char* granularity_name(Granularity g);  // "tensor" | "channel" | "group"
Granularity parse_granularity(const std::string& s);  // throws qf::Error

// llama.cpp's block formats (core/ggml_blocks.h): when set, the weight is quantized with ggml's
// own arithmetic (Q4_0: codes [-8, 7], d = signed max / -8; Q8_0: d = absmax / 127; blocks of
// 32 along K, fp16 scales) instead of qforge's rules, and bits / granularity / group_size
// describe it (4 or 8, group, 32). Such weights export to GGUF; the .qf.h5 writer stores them as
// int8 codes with one positive scale per block (core/ggml_blocks.h, ggml_blocks_as_codes: the
// same values), which bench/hf_ggml_checkpoint uses (a trained run's .qf.h5 export is not wired).
enum class GgmlFormat { kNone, kQ4_0, kQ8_0 };
const char* ggml_format_name(GgmlFormat f);             // "none" | "q4_0" | "q8_0"
GgmlFormat parse_ggml_format(const std::string& name);  // throws qf::Error

struct WeightScheme {
  int bits = 8;  // 2..8; <= 4 is stored packed two codes per byte
  Granularity granularity = Granularity::kChannel;
  int64_t group_size = 0;  // for kGroup; must divide K
  bool symmetric = true;   // format v1 stores symmetric weights only (zero point 0)
  // bits <= 4 only: the full signed range [-2^(b-1), 2^(b-1)-1] (int4 [-8, 7], scale max|w| / 7.5)
  // instead of the restricted [-7, 7]: 16 levels, as GPTQ, Marlin and llama.cpp quantize int4.
  // Recipe key `range: full`; checkpoint feature `int4_full_range` (export/FORMAT.md).
  bool full_range = false;
  GgmlFormat ggml_format = GgmlFormat::kNone;
  // FP8 E4M3 elements (core/fp8_e4m3.h, core/fp8_quantize.h) instead of integer codes: bits 8,
  // granularity tensor or channel, scale = amax / 448. Checkpoint feature `fp8_e4m3`.
  bool e4m3 = false;
};

// The scheme a ggml block format implies (bits 4 / 8, group of 32, symmetric).
WeightScheme ggml_weight_scheme(GgmlFormat f);

// The code range of a weight: core/quant.h's restricted symmetric range, or the full one.
QuantRange weight_quant_range(const WeightScheme& s);

// How a layer's input activation is quantized by the runtime (see FORMAT.md "Quantization
// contract"). Static: one (scale, zero point) for the whole tensor, stored in the checkpoint.
// Dynamic per-token: symmetric int8, one scale per row computed at run time from the data.
enum class ActMode { kNone, kStatic, kDynamicPerToken };

const char* act_mode_name(ActMode m);  // "none" | "static" | "dynamic_per_token"
ActMode parse_act_mode(const std::string& s);  // throws qf::Error

struct ActScheme {
  ActMode mode = ActMode::kNone;
  int bits = 8;
  bool symmetric = false;  // false: codes [0, 2^b-1] with zero point; true: [-(2^(b-1)-1), ..]
  float scale = 1.0f;      // static only
  int32_t zero_point = 0;  // static asymmetric only
  // FP8 E4M3 codes (bits 8, symmetric, zero point 0): static scale = observed amax / 448, or
  // per token amax(row) / 448. Pairs with an e4m3 weight only (the exact FP8 GEMM).
  bool e4m3 = false;
};

}  // namespace qf
