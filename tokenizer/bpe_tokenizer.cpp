#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <climits>

#include "core/error.h"
#include "core/json.h"
#include "tokenizer/byte_unicode.h"

namespace qf::tok {
namespace {

const Json kNull;

const Json& get(const Json& obj, const std::string& key) {
  return obj.is_object() && obj.contains(key) ? obj.at(key) : kNull;
}

std::string merge_key(const std::string& a, const std::string& b) {
  std::string k = a;
  k += '\0';
  k += b;
  return k;
}

bool is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

bool BpeTokenizer::is_byte_level(const Json& json) {
  const Json& model = get(json, "model");
  if (!model.is_object() || !model.contains("type") || !model.at("type").is_string() ||
      model.at("type").as_string() != "BPE")
    return false;
  const Json& dec = get(json, "decoder");
  return dec.is_object() && dec.contains("type") && dec.at("type").is_string() &&
         dec.at("type").as_string() == "ByteLevel";
}

BpeTokenizer::BpeTokenizer(const Json& json, const std::string& source) : source_(source) {
  auto fail = [&](const std::string& what) { throw Error(source_ + ": " + what); };
  if (!json.is_object()) fail("not a JSON object");
  const Json& model = get(json, "model");
  if (!model.is_object()) fail("missing object 'model'");
  if (!get(model, "type").is_string() || get(model, "type").as_string() != "BPE")
    fail("model.type must be \"BPE\" (got " +
         (get(model, "type").is_string() ? get(model, "type").as_string() : "none") + ")");
  if (!get(model, "dropout").is_null()) fail("model.dropout is not supported (BPE dropout)");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json& v = get(model, k);
    if (!v.is_null() && !(v.is_string() && v.as_string().empty()))
      fail(std::string("model.") + k + " is not supported");
  }
  if (get(model, "byte_fallback").is_bool() && get(model, "byte_fallback").as_bool())
    fail("model.byte_fallback is not supported for byte-level BPE");
  if (get(model, "ignore_merges").is_bool()) ignore_merges_ = get(model, "ignore_merges").as_bool();

  // Vocabulary: ids must be dense 0..n-1 once added tokens are included.
  const Json& vocab = get(model, "vocab");
  if (!vocab.is_object()) fail("model.vocab must be an object {piece: id}");
  int64_t max_id = -1;
  std::map<int64_t, std::string> by_id;
  auto put = [&](const std::string& piece, const Json& idj, const std::string& where) {
    if (!idj.is_int()) fail(where + " '" + piece + "' has a non-integer id");
    const int64_t id = idj.as_int();
    if (id < 0 || id > INT32_MAX) fail(where + " '" + piece + "' has id out of range");
    auto it = by_id.find(id);
    if (it != by_id.end() && it->second != piece)
      fail("id " + std::to_string(id) + " is used by both '" + it->second + "' and '" + piece + "'");
    by_id[id] = piece;
    max_id = std::max(max_id, id);
  };
  for (const auto& [piece, idj] : vocab.as_object()) put(piece, idj, "model.vocab entry");
  const Json& added = get(json, "added_tokens");
  if (!added.is_null() && !added.is_array()) fail("added_tokens must be an array");
  if (added.is_array()) {
    for (size_t i = 0; i < added.as_array().size(); ++i) {
      const Json& a = added.as_array()[i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!get(a, "content").is_string()) fail(where + " has no string 'content'");
      if (get(a, "content").as_string().empty()) fail(where + " has empty content");
      put(get(a, "content").as_string(), get(a, "id"), where);
      auto flag = [&](const char* k) { return get(a, k).is_bool() && get(a, k).as_bool(); };
      added_.push_back({get(a, "content").as_string(), static_cast<int32_t>(get(a, "id").as_int()),
                        flag("special"), flag("lstrip"), flag("rstrip")});
    }
  }
  if (static_cast<int64_t>(by_id.size()) != max_id + 1)
    fail("token ids are not dense: " + std::to_string(by_id.size()) + " tokens but max id " +
         std::to_string(max_id));
  pieces_.resize(by_id.size());
  is_special_.assign(by_id.size(), false);
  for (auto& [id, piece] : by_id) {
    pieces_[static_cast<size_t>(id)] = piece;
    ids_[piece] = static_cast<int32_t>(id);
  }
  is_added_.assign(by_id.size(), false);
  for (const AddedToken& a : added_) {
    is_special_[static_cast<size_t>(a.id)] = a.special;
    is_added_[static_cast<size_t>(a.id)] = true;
  }
  std::stable_sort(added_.begin(), added_.end(), [](const AddedToken& x, const AddedToken& y) {
    return x.content.size() > y.content.size();
  });

  const Json& unk = get(model, "unk_token");
  if (unk.is_string()) {
    auto it = ids_.find(unk.as_string());
    if (it == ids_.end()) fail("model.unk_token '" + unk.as_string() + "' is not in the vocab");
    unk_id_ = it->second;
  }

  // Merges: ["a", "b"] pairs (tokenizers >= 0.20) or "a b" strings (older files).
  const Json& merges = get(model, "merges");
  if (!merges.is_array()) fail("model.merges must be an array");
  for (size_t r = 0; r < merges.as_array().size(); ++r) {
    const Json& m = merges.as_array()[r];
    std::string a, b;
    if (m.is_string()) {
      const std::string& s = m.as_string();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size() ||
          s.find(' ', sp + 1) != std::string::npos)
        fail("model.merges[" + std::to_string(r) + "] '" + s + "' is not \"left right\"");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.as_array().size() == 2 && m.as_array()[0].is_string() &&
               m.as_array()[1].is_string()) {
      a = m.as_array()[0].as_string();
      b = m.as_array()[1].as_string();
    } else {
      fail("model.merges[" + std::to_string(r) + "] is neither \"left right\" nor [left, right]");
    }
    if (!ids_.count(a) || !ids_.count(b) || !ids_.count(a + b))
      fail("model.merges[" + std::to_string(r) + "] (" + a + ", " + b +
           ") uses a piece that is not in the vocab");
    ranks_.emplace(merge_key(a, b), static_cast<int32_t>(r));  // first occurrence wins
    merges_.push_back(a + " " + b);
  }

  // Normalizer: none, or one Unicode normalization form (Qwen2: NFC). Others are refused.
  const Json& norm = get(json, "normalizer");
  if (!norm.is_null()) {
    const std::string t = get(norm, "type").is_string() ? get(norm, "type").as_string() : "?";
    if (t != "NFC" && t != "NFKC" && t != "NFD" && t != "NFKD")
      fail("normalizer '" + t + "' is not supported (none, NFC, NFKC, NFD or NFKD)");
    normalizer_ = std::make_unique<UnicodeNormalizer>(t);
  }

  // Pre-tokenizer: ByteLevel (optionally with GPT-2's regex), or Sequence[Split(regex,
  // Isolated), ByteLevel(use_regex=false)] as Llama 3 / Qwen2 write it.
  const Json& pre = get(json, "pre_tokenizer");
  auto check_byte_level = [&](const Json& bl, bool& use_regex) {
    if (get(bl, "add_prefix_space").is_bool() && get(bl, "add_prefix_space").as_bool())
      fail("pre_tokenizer ByteLevel.add_prefix_space = true is not supported");
    use_regex = !get(bl, "use_regex").is_bool() || get(bl, "use_regex").as_bool();
  };
  auto type_of = [&](const Json& j) {
    return get(j, "type").is_string() ? get(j, "type").as_string() : std::string("?");
  };
  if (type_of(pre) == "ByteLevel") {
    bool use_regex = true;
    check_byte_level(pre, use_regex);
    if (use_regex) splitter_ = std::make_unique<RegexSplitter>(kGpt2SplitRegex);
  } else if (type_of(pre) == "Sequence") {
    const Json& list = get(pre, "pretokenizers");
    if (!list.is_array()) fail("pre_tokenizer Sequence has no 'pretokenizers' array");
    bool seen_byte_level = false;
    for (const Json& p : list.as_array()) {
      const std::string t = type_of(p);
      if (t == "Split" && !splitter_ && !seen_byte_level) {
        const Json& pat = get(p, "pattern");
        if (!get(pat, "Regex").is_string())
          fail("pre_tokenizer Split must have a {\"Regex\": ...} pattern");
        if (!get(p, "behavior").is_string() || get(p, "behavior").as_string() != "Isolated")
          fail("pre_tokenizer Split behavior must be \"Isolated\"");
        if (get(p, "invert").is_bool() && get(p, "invert").as_bool())
          fail("pre_tokenizer Split invert = true is not supported");
        try {
          splitter_ = std::make_unique<RegexSplitter>(get(pat, "Regex").as_string());
        } catch (const Error& e) {
          fail(e.what());
        }
      } else if (t == "ByteLevel" && !seen_byte_level) {
        bool use_regex = true;
        check_byte_level(p, use_regex);
        if (use_regex && splitter_)
          fail("pre_tokenizer: ByteLevel.use_regex after a Split is not supported");
        if (use_regex) splitter_ = std::make_unique<RegexSplitter>(kGpt2SplitRegex);
        seen_byte_level = true;
      } else {
        fail("pre_tokenizer '" + t + "' in this position is not supported");
      }
    }
    if (!seen_byte_level) fail("pre_tokenizer Sequence has no ByteLevel step");
  } else {
    fail("pre_tokenizer '" + type_of(pre) + "' is not supported (byte-level BPE only)");
  }
  if (!is_byte_level(json)) fail("decoder must be ByteLevel (byte-level BPE only)");
}

void BpeTokenizer::set_special_ids(int32_t bos, int32_t eos, bool add_bos) {
  for (int32_t id : {bos, eos})
    if (id < -1 || id >= vocab_size())
      throw Error(source_ + ": special token id " + std::to_string(id) + " is out of range");
  bos_id_ = bos;
  eos_id_ = eos;
  add_bos_ = add_bos;
}

int32_t BpeTokenizer::token_id(const std::string& piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

void BpeTokenizer::bpe_word(const std::string& mapped, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    auto it = ids_.find(mapped);
    if (it != ids_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // Symbols start as single code points; merge the lowest-ranked adjacent pair (leftmost on
  // ties) until none is in the merge table.
  std::vector<std::string> sym;
  for (size_t i = 0; i < mapped.size();) {
    const size_t b = i;
    next_code_point(mapped, i);
    sym.emplace_back(mapped, b, i - b);
  }
  while (sym.size() > 1) {
    int32_t best = INT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = ranks_.find(merge_key(sym[i], sym[i + 1]));
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == INT32_MAX) break;
    sym[at] += sym[at + 1];
    sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  for (const std::string& s : sym) {
    auto it = ids_.find(s);
    if (it != ids_.end()) {
      out.push_back(it->second);
    } else if (unk_id_ >= 0) {
      out.push_back(unk_id_);
    } else {
      throw Error(source_ + ": piece '" + s + "' is not in the vocab and there is no unk_token");
    }
  }
}

void BpeTokenizer::encode_words(const std::string& text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  const std::string normalized = normalizer_ ? normalizer_->normalize(text) : text;
  std::vector<std::string> words;
  if (splitter_) words = splitter_->split(normalized);
  else words.push_back(normalized);
  for (const std::string& w : words) {
    std::string mapped;
    for (char c : w) mapped += byte_to_unicode(static_cast<uint8_t>(c));
    bpe_word(mapped, out);
  }
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos) {
    if (bos_id_ < 0) throw Error(source_ + ": BOS requested but the tokenizer has no bos token");
    out.push_back(bos_id_);
  }
  // Added tokens are matched literally (longest first) before any pre-tokenization; lstrip /
  // rstrip let them absorb the whitespace beside them.
  size_t seg_start = 0, i = 0;
  while (i < text.size()) {
    const AddedToken* hit = nullptr;
    for (const AddedToken& a : added_)
      if (text.compare(i, a.content.size(), a.content) == 0) {
        hit = &a;
        break;
      }
    if (!hit) {
      ++i;
      continue;
    }
    size_t seg_end = i;
    if (hit->lstrip)
      while (seg_end > seg_start && is_space_byte(text[seg_end - 1])) --seg_end;
    encode_words(text.substr(seg_start, seg_end - seg_start), out);
    out.push_back(hit->id);
    i += hit->content.size();
    if (hit->rstrip)
      while (i < text.size() && is_space_byte(text[i])) ++i;
    seg_start = i;
  }
  encode_words(text.substr(seg_start), out);
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                  std::to_string(vocab_size()) + ")");
    const std::string& p = pieces_[static_cast<size_t>(id)];
    if (is_special_[static_cast<size_t>(id)]) {
      if (!skip_special) out += p;
      continue;
    }
    if (is_added_[static_cast<size_t>(id)]) {  // added tokens are stored as plain text, not byte-mapped
      out += p;
      continue;
    }
    for (size_t i = 0; i < p.size();) {
      const size_t b = i;
      const int64_t cp = next_code_point(p, i);
      const int byte = cp >= 0 ? unicode_to_byte(static_cast<uint32_t>(cp)) : -1;
      if (byte >= 0) out += static_cast<char>(byte);
      else out.append(p, b, i - b);  // not a mapped code point: keep it as written
    }
  }
  // Bytes, not necessarily valid UTF-8 on their own: a multi-byte character may span tokens.
  return out;
}

TokenVocab BpeTokenizer::vocab() const {
  TokenVocab v;
  v.model = "bpe";
  v.pre_tokenizer_regex = splitter_ ? splitter_->pattern() : "";
  v.pieces = pieces_;
  v.scores.assign(pieces_.size(), 0.0f);
  v.types.assign(pieces_.size(), TokenType::kNormal);
  for (const AddedToken& a : added_)
    v.types[static_cast<size_t>(a.id)] = a.special ? TokenType::kControl : TokenType::kUserDefined;
  v.merges = merges_;
  v.bos_id = bos_id_;
  v.eos_id = eos_id_;
  v.unk_id = unk_id_;
  v.add_bos = add_bos_;
  return v;
}

}  // namespace qf::tok
