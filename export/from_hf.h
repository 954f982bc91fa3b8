// Exporting a Hugging Face folder without training: the float model as the folder holds it.
// Golden inputs are deterministic token sequences (no corpus needed); golden outputs are the
// contract computed from the stored parameters, like every export.
#pragma once

#include <string>

#include "export/checkpoint_writer.h"
#include "train/models.h"

namespace qf::exporter {

// `golden_sequences` sequences of `golden_tokens` ids drawn with a fixed seed from [0, vocab).
CheckpointContent checkpoint_from_hf_model(train::ZooModel& model, int64_t vocab, int64_t golden_sequences,
                                           int64_t golden_tokens, const std::string& source_folder);

}  // namespace qf::exporter
