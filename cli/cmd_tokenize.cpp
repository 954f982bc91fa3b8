// qforge tokenize FOLDER -p TEXT: the ids a Hugging Face tokenizer gives a text (or, with
// --decode, the text of ids) -- for checking the tokenizer against `transformers` by hand.
#include <climits>
#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "tokenizer/tokenizer.h"

namespace qf::cli {

void add_tokenize_command(CLI::App& app) {
  struct Options {
    std::string folder, text;
    bool decode = false, add_bos = false, skip_special = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Encode text to token ids (or decode ids) with a Hugging Face tokenizer");
  cmd->add_option("folder", opt->folder,
                  "Hugging Face folder with tokenizer.json or tokenizer.model (or the file)")
      ->required()->check(CLI::ExistingPath);
  cmd->add_option("-p,--prompt", opt->text,
                  "Text to encode (with --decode: ids separated by spaces or commas)")->required();
  cmd->add_flag("--decode", opt->decode, "Decode ids to text instead");
  cmd->add_flag("--bos", opt->add_bos, "Prepend the BOS id when encoding");
  cmd->add_flag("--skip-special", opt->skip_special, "Drop control tokens when decoding");
  cmd->callback([opt] {
    auto tok = tok::load_tokenizer(opt->folder);
    if (opt->decode) {
      std::string s = opt->text;
      for (char& c : s) if (c == ',') c = ' ';
      std::istringstream in(s);
      std::vector<int32_t> ids;
      std::string word;
      while (in >> word) {
        size_t used = 0;
        long long v = 0;
        try {
          v = std::stoll(word, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != word.size()) throw std::runtime_error("--decode: '" + word + "' is not a token id");
        if (v < INT32_MIN || v > INT32_MAX) throw std::runtime_error("--decode: id " + word + " is out of range");
        ids.push_back(static_cast<int32_t>(v));
      }
      std::fputs(tok->decode(ids, opt->skip_special).c_str(), stdout);
      std::fputc('\n', stdout);
      return;
    }
    const auto ids = tok->encode(opt->text, opt->add_bos);
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::fputc('\n', stdout);
  });
}

}  // namespace qf::cli
