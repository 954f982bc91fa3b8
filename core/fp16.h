// IEEE-754 binary16 <-> binary32, round to nearest even (what F16C's vcvtps2ph with rounding
// mode 0, numpy, torch's Half and ggml's GGML_FP32_TO_FP16 all do): GGUF's F16 tensors and the
// per-block scales of Q4_0 / Q8_0 are stored in this type.
#pragma once

#include <cstdint>

namespace qf {

uint16_t fp32_to_fp16(float x);  // overflow -> +-inf, NaN stays NaN (quiet)
float fp16_to_fp32(uint16_t h);  // exact

}  // namespace qf
