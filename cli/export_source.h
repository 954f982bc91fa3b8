// What `qforge export` reads from SOURCE when it needs the LibTorch model: a Hugging Face folder
// (config.json: the float model as stored) or a run directory of model family hf (its trained
// model, with every modifier's slots in their end-of-training state, as export_run sees them).
#pragma once

#include <memory>
#include <string>

#include "train/hf_model.h"

namespace qf::cli {

struct ExportSource {
  std::shared_ptr<train::HfModel> model;  // in eval mode
  bool is_run = false;                    // a run directory (else a Hugging Face folder)
};

// Throws naming SOURCE when it is neither, or a run of another model family.
ExportSource load_export_source(const std::string& source, const char* what_for);

}  // namespace qf::cli
