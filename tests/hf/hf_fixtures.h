// Where the Hugging Face fixtures live (QF_HF_FIXTURES, set by tests/hf/CMakeLists.txt).
#pragma once

#include <string>

namespace qf::hf {

inline const std::string kFix = QF_HF_FIXTURES;

}  // namespace qf::hf
