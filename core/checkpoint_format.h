// Names and version numbers of the checkpoint format, shared by the writer (export/) and the
// reader (runtime/) so the two cannot drift. The format itself is specified in export/FORMAT.md.
#pragma once

namespace qf::fmt {

inline constexpr const char* kFormatName = "qforge";
inline constexpr int kVersion = 1;  // major: a reader rejects files with a newer major
inline constexpr int kMinor = 3;    // minor: additions that older readers may ignore (1.2: digests,
                                    // required_features, golden traces; 1.3: the features
                                    // block_sparse, kv_cache_int4, ...)

// Root attributes.
inline constexpr const char* kAttrFormat = "format";
inline constexpr const char* kAttrVersion = "format_version";
inline constexpr const char* kAttrMinor = "format_minor";
inline constexpr const char* kAttrWriter = "writer";
// Comma-separated names of the features beyond the base format that a reader must implement to
// compute this model (FORMAT.md, "Versioning"); "" when none. A reader refuses unknown names.
inline constexpr const char* kAttrRequiredFeatures = "required_features";
// On every dataset (format >= 1.2): lowercase hex SHA-256 of its bytes, little-endian row-major.
inline constexpr const char* kAttrSha256 = "sha256";
// Names starting with this prefix (op attributes, layer attributes and datasets) are
// informational: readers may ignore them. Every other unknown name in a layer is an error.
inline constexpr const char* kIgnorablePrefix = "x_";

// The features this build reads and writes. A feature is named in required_features by the
// writer whenever a file uses it.
inline constexpr const char* kFeatureNMInt4 = "nm_int4";  // 1.1: N:M values nibble-packed
// 1.2: the op kinds of Hugging Face decoders (rms_norm, rotary_embedding, gqa_attention,
// gated_activation, scale); core/op_schema.h names the feature of each kind.
inline constexpr const char* kFeatureDecoderOps = "decoder_ops";
// 1.3: weight_format bs_int8 / bs_int4, block-sparse weights in BSR layout (core/block_sparse.h).
inline constexpr const char* kFeatureBlockSparse = "block_sparse";
// 1.3: attention ops with a quantized KV cache (attributes kv_bits, kv_group_size, kv_symmetric,
// kv_clip; core/kv_cache_attrs.h, core/kv_quant.h).
inline constexpr const char* kFeatureKvCacheInt4 = "kv_cache_int4";
// 1.3: the KV cache's asymmetric groups with an integer zero point instead of the fp16 offset
// (attribute kv_zero_point; always beside kv_cache_int4): another cache layout and rule.
inline constexpr const char* kFeatureKvCacheZeroPoint = "kv_cache_zero_point";
// 1.3: the op kind moe_experts (routed expert MLPs; their linears are layer groups of their own).
inline constexpr const char* kFeatureMoeExperts = "moe_experts";
// 1.3: weight_format fp8_e4m3 (E4M3 bit patterns + per-tensor / per-channel scales) and, on such
// layers, E4M3 input activations with the exact FP8 GEMM (FORMAT.md, "FP8 E4M3 weights").
inline constexpr const char* kFeatureFp8E4M3 = "fp8_e4m3";
// 1.3: the layer attribute code_range = "full" on 2..4-bit weights (int4 / nm_int4 / bs_int4):
// codes in the full signed range [-8, 7] instead of the restricted [-7, 7] (core/quant.h).
inline constexpr const char* kFeatureInt4FullRange = "int4_full_range";
inline constexpr const char* kKnownFeatures[] = {kFeatureNMInt4,       kFeatureDecoderOps,       kFeatureBlockSparse,
                                                 kFeatureKvCacheInt4,  kFeatureKvCacheZeroPoint, kFeatureMoeExperts,
                                                 kFeatureFp8E4M3,      kFeatureInt4FullRange};

// Root datasets / groups.
inline constexpr const char* kGraph = "graph";        // uint8 [n], UTF-8 JSON
inline constexpr const char* kLayers = "layers";      // group of layer groups
inline constexpr const char* kGolden = "golden";      // group of golden cases "0", "1", ...
inline constexpr const char* kProvenance = "provenance";  // group, string attributes
inline constexpr const char* kRecipe = "recipe";      // uint8 [n], UTF-8 YAML
inline constexpr const char* kMetrics = "metrics";    // uint8 [n], UTF-8 JSON

// Layer group attributes.
inline constexpr const char* kAttrKind = "kind";
inline constexpr const char* kAttrWeightFormat = "weight_format";  // none|float32|int8|int4|nm_int8|nm_int4|fp8_e4m3
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
// "full" (feature int4_full_range): the weight's codes use [-2^(b-1), 2^(b-1)-1]; absent: the
// restricted symmetric range. Written only when full.
inline constexpr const char* kAttrCodeRange = "code_range";

// Layer datasets.
inline constexpr const char* kWeight = "weight";
inline constexpr const char* kWeightScale = "weight_scale";
inline constexpr const char* kWeightValues = "weight_values";
inline constexpr const char* kWeightIndices = "weight_indices";
// Block-sparse weights (feature block_sparse): BSR index arrays and the kept blocks.
inline constexpr const char* kWeightBlockRowPtr = "weight_block_row_ptr";
inline constexpr const char* kWeightBlockCols = "weight_block_cols";
inline constexpr const char* kWeightBlocks = "weight_blocks";
inline constexpr const char* kBias = "bias";

// Golden case subgroups.
inline constexpr const char* kGoldenInputs = "inputs";
inline constexpr const char* kGoldenOutputs = "outputs";              // the contract's outputs
inline constexpr const char* kGoldenModelOutputs = "model_outputs";   // the trained model's (1.2)
inline constexpr const char* kGoldenTrace = "trace";                  // every op output (1.2)

}  // namespace qf::fmt
