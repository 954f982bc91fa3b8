// load_tokenizer: picks the tokenizer file of a Hugging Face folder and resolves special ids.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace qf::tok {

// Defined in spm_tokenizer.cpp (target qforge_tokenizer_spm); null when that is not linked.
__attribute__((weak)) std::unique_ptr<SpmTokenizer> make_spm_tokenizer(const std::string& model_path);

namespace fs = std::filesystem;
namespace {

Json read_json(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string() + ": cannot open");
  std::ostringstream buf;
  buf << in.rdbuf();
  try {
    return Json::parse(buf.str());
  } catch (const Error& e) {
    throw Error(p.string() + ": " + e.what());
  }
}

// tokenizer_config.json writes special tokens as a string or as {"content": ...}.
std::string token_string(const Json& cfg, const std::string& key) {
  if (!cfg.is_object() || !cfg.contains(key)) return "";
  const Json& v = cfg.at(key);
  if (v.is_string()) return v.as_string();
  if (v.is_object() && v.contains("content") && v.at("content").is_string())
    return v.at("content").as_string();
  return "";
}

std::unique_ptr<Tokenizer> load_bpe(const fs::path& file, const Json& json, const fs::path& dir) {
  auto tok = std::make_unique<BpeTokenizer>(json, file.string());
  Json cfg;
  const fs::path cfg_path = dir / "tokenizer_config.json";
  if (fs::exists(cfg_path)) cfg = read_json(cfg_path);
  auto resolve = [&](const std::string& key) -> int32_t {
    const std::string s = token_string(cfg, key);
    if (s.empty()) return -1;
    const int32_t id = tok->token_id(s);
    if (id < 0)
      throw Error(cfg_path.string() + ": " + key + " '" + s + "' is not a token of " +
                  file.string());
    return id;
  };
  bool add_bos = false;
  if (cfg.is_object() && cfg.contains("add_bos_token") && cfg.at("add_bos_token").is_bool())
    add_bos = cfg.at("add_bos_token").as_bool();
  tok->set_special_ids(resolve("bos_token"), resolve("eos_token"), add_bos);
  return tok;
}

std::unique_ptr<Tokenizer> load_spm(const fs::path& file, const fs::path& dir) {
  if (!make_spm_tokenizer)
    throw Error(file.string() + ": SentencePiece tokenizers are not built into this program (LibTorch-linked "
                "binaries leave libsentencepiece out: its protobuf clashes with LibTorch's; see tokenizer/README.md)");
  auto tok = make_spm_tokenizer(file.string());
  const fs::path cfg_path = dir / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    const Json cfg = read_json(cfg_path);
    if (cfg.is_object() && cfg.contains("add_bos_token") && cfg.at("add_bos_token").is_bool())
      tok->set_add_bos(cfg.at("add_bos_token").as_bool());
  }
  return tok;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& folder_or_file) {
  const fs::path p(folder_or_file);
  if (!fs::exists(p)) throw Error(folder_or_file + ": no such file or folder");
  if (fs::is_regular_file(p)) {
    const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    if (p.extension() == ".json") return load_bpe(p, read_json(p), dir);
    return load_spm(p, dir);
  }
  const fs::path json_path = p / "tokenizer.json", model_path = p / "tokenizer.model";
  if (fs::exists(json_path)) {
    const Json json = read_json(json_path);
    // SentencePiece-style tokenizer.json files (Llama 2, Gemma) come with the tokenizer.model
    // they were converted from: use the original.
    if (BpeTokenizer::is_byte_level(json) || !fs::exists(model_path))
      return load_bpe(json_path, json, p);
  }
  if (fs::exists(model_path)) return load_spm(model_path, p);
  throw Error(folder_or_file + ": no tokenizer.json or tokenizer.model in this folder");
}

}  // namespace qf::tok
