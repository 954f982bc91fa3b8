// `qforge export RUN_OR_FOLDER --format hf -o DIR`: a Hugging Face folder transformers loads —
// config.json, model.safetensors (float32) and the source folder's other files (tokenizer,
// generation config). Quantized layers are written fake-quant folded (the float values on their
// quantization grid the trained model computes with), so the folder reproduces the trained
// model in transformers; it is not a packed int4 format.
#pragma once

#include <string>

#include "train/hf_model.h"

namespace qf::exporter {

// Writes `out_dir` (created; files written to temporary names then renamed). If the head of a
// tied model no longer equals the embedding (quantized differently), the folder is written
// untied (tie_word_embeddings: false, lm_head.weight stored).
void write_hf_folder(train::HfModel& model, const std::string& out_dir);

}  // namespace qf::exporter
