// Names and version numbers of the checkpoint format, shared by the writer (export/) and the
// reader (runtime/) so the two cannot drift. The format itself is specified in export/FORMAT.md.
#pragma once

namespace qf::fmt {

inline constexpr const char* kFormatName = "qforge";
inline constexpr int kVersion = 1;  // major: a reader rejects files with a newer major
inline constexpr int kMinor = 1;    // minor: additions that older readers may ignore

// Root attributes.
inline constexpr const char* kAttrFormat = "format";
inline constexpr const char* kAttrVersion = "format_version";
inline constexpr const char* kAttrMinor = "format_minor";
inline constexpr const char* kAttrWriter = "writer";

// Root datasets / groups.
inline constexpr const char* kGraph = "graph";        // uint8 [n], UTF-8 JSON
inline constexpr const char* kLayers = "layers";      // group of layer groups
inline constexpr const char* kGolden = "golden";      // group of golden cases "0", "1", ...
inline constexpr const char* kProvenance = "provenance";  // group, string attributes
inline constexpr const char* kRecipe = "recipe";      // uint8 [n], UTF-8 YAML
inline constexpr const char* kMetrics = "metrics";    // uint8 [n], UTF-8 JSON

// Layer group attributes.
inline constexpr const char* kAttrKind = "kind";
inline constexpr const char* kAttrWeightFormat = "weight_format";  // none|float32|int8|int4|nm_int8
inline constexpr const char* kAttrWeightShape = "weight_shape";
inline constexpr const char* kAttrBits = "bits";
inline constexpr const char* kAttrGranularity = "granularity";
inline constexpr const char* kAttrGroupSize = "group_size";
inline constexpr const char* kAttrSparsity = "sparsity";
inline constexpr const char* kAttrActMode = "act_mode";
inline constexpr const char* kAttrActBits = "act_bits";
inline constexpr const char* kAttrActSymmetric = "act_symmetric";
inline constexpr const char* kAttrActScale = "act_scale";
inline constexpr const char* kAttrActZeroPoint = "act_zero_point";

// Layer datasets.
inline constexpr const char* kWeight = "weight";
inline constexpr const char* kWeightScale = "weight_scale";
inline constexpr const char* kWeightValues = "weight_values";
inline constexpr const char* kWeightIndices = "weight_indices";

}  // namespace qf::fmt
