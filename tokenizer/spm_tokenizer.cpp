#include "tokenizer/spm_tokenizer.h"

#include <sentencepiece_processor.h>

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace qf::tok {

struct SpmTokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

SpmTokenizer::SpmTokenizer(const std::string& model_path)
    : path_(model_path), impl_(std::make_unique<Impl>()) {
  std::ifstream in(model_path, std::ios::binary);
  if (!in) throw Error(model_path + ": cannot open the SentencePiece model");
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string bytes = buf.str();
  if (bytes.empty()) throw Error(model_path + ": empty file, not a SentencePiece model");
  const auto st = impl_->sp.LoadFromSerializedProto(bytes);
  if (!st.ok())
    throw Error(model_path + ": not a valid SentencePiece model (" + st.ToString() + ")");
  if (impl_->sp.GetPieceSize() <= 0) throw Error(model_path + ": the model has no pieces");
  add_bos_ = impl_->sp.bos_id() >= 0;
}

SpmTokenizer::~SpmTokenizer() = default;

std::unique_ptr<SpmTokenizer> make_spm_tokenizer(const std::string& model_path) {
  return std::make_unique<SpmTokenizer>(model_path);
}

std::vector<int32_t> SpmTokenizer::encode(const std::string& text, bool add_bos) const {
  std::vector<int> ids;
  const auto st = impl_->sp.Encode(text, &ids);
  if (!st.ok()) throw Error(path_ + ": cannot encode the text (" + st.ToString() + ")");
  std::vector<int32_t> out;
  if (add_bos) {
    if (bos_id() < 0) throw Error(path_ + ": BOS requested but the model has no bos piece");
    out.push_back(bos_id());
  }
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

std::string SpmTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  const int n = impl_->sp.GetPieceSize();
  for (int32_t id : ids)
    if (id < 0 || id >= n)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                  std::to_string(n) + ")");
  // SentencePiece decodes control pieces to nothing; unless skipping, write their text between
  // the decoded runs of ordinary pieces.
  std::string out;
  std::vector<int> run;
  auto flush = [&] {
    if (run.empty()) return;
    std::string s;
    const auto st = impl_->sp.Decode(run, &s);
    if (!st.ok()) throw Error(path_ + ": cannot decode ids (" + st.ToString() + ")");
    out += s;
    run.clear();
  };
  for (int32_t id : ids) {
    if (impl_->sp.IsControl(id)) {
      flush();
      if (!skip_special) out += impl_->sp.IdToPiece(id);
    } else {
      run.push_back(id);
    }
  }
  flush();
  return out;
}

int64_t SpmTokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }
int32_t SpmTokenizer::bos_id() const { return impl_->sp.bos_id(); }
int32_t SpmTokenizer::eos_id() const { return impl_->sp.eos_id(); }

TokenVocab SpmTokenizer::vocab() const {
  TokenVocab v;
  v.model = "sentencepiece";
  const auto& sp = impl_->sp;
  const int n = sp.GetPieceSize();
  for (int i = 0; i < n; ++i) {
    v.pieces.push_back(sp.IdToPiece(i));
    v.scores.push_back(sp.GetScore(i));
    TokenType t = TokenType::kNormal;
    if (sp.IsUnknown(i)) t = TokenType::kUnknown;
    else if (sp.IsControl(i)) t = TokenType::kControl;
    else if (sp.IsByte(i)) t = TokenType::kByte;
    else if (sp.IsUnused(i)) t = TokenType::kUnused;
    v.types.push_back(t);
  }
  v.bos_id = sp.bos_id();
  v.eos_id = sp.eos_id();
  v.unk_id = sp.unk_id();
  v.pad_id = sp.pad_id();
  v.add_bos = add_bos_;
  // add_dummy_prefix is in the model's normalizer spec, which the library's public header does not
  // expose: observe it instead -- with it, the first piece of "a" starts with U+2581.
  std::vector<std::string> pieces;
  if (sp.Encode("a", &pieces).ok() && !pieces.empty())
    v.add_space_prefix = pieces[0].rfind("\xe2\x96\x81", 0) == 0;
  return v;
}

}  // namespace qf::tok
