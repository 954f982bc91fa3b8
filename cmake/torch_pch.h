// Precompiled header for the LibTorch-side targets: parsing <torch/torch.h> costs ~20 s per
// translation unit on a small machine; compiled once per target it costs that once.
#pragma once
#include <torch/torch.h>
