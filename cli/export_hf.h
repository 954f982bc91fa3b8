// `qforge export HF_FOLDER -o model.qf.h5 [--recipe R]`: a Hugging Face model into the checkpoint
// format without training — float, or post-training quantized by a recipe's modifiers.
#pragma once

#include <cstdint>
#include <string>

namespace qf::cli {

// recipe empty: the float model, golden inputs random ids. Otherwise the recipe (model.family hf,
// model.path naming the same folder) runs calibrate-only into `<output>.run/` and that run is
// exported (golden inputs from the recipe's data).
void export_hf_folder(const std::string& folder, const std::string& output, const std::string& recipe, int64_t golden);

// `--format hf`: `source` a Hugging Face folder (float copy) or a run directory of family hf
// (its trained model, fake quantization folded) -> a Hugging Face folder `out_dir`.
void export_to_hf_format(const std::string& source, const std::string& out_dir);

}  // namespace qf::cli
