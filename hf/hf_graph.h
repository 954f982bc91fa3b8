// The runtime graph of a Hugging Face decoder (std-only): the ops the checkpoint stores, named
// like the model's tensors, so the exporter, the LibTorch model and the runtime agree on one
// description. Op kinds: embedding, scale (Gemma's sqrt(H)), rms_norm, linear,
// rotary_embedding, gqa_attention, gated_activation, add (export/FORMAT.md, "Ops").
#pragma once

#include "core/graph.h"
#include "hf/hf_config.h"

namespace qf::hf {

// Float parameters the graph refers to besides linear/embedding weights: every rms_norm's
// weight (named as the Hugging Face tensor without ".weight") and every rotary_embedding's
// inverse frequencies (`<layer>.self_attn.q_rope` / `k_rope`).
Graph describe_hf_graph(const HfConfig& c);

}  // namespace qf::hf
