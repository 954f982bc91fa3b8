#include "core/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/utf8.h"

namespace qf {

const char* Json::type_name(Type t) {
  switch (t) {
    case Type::kNull: return "null";
    case Type::kBool: return "bool";
    case Type::kInt: return "integer";
    case Type::kDouble: return "number";
    case Type::kString: return "string";
    case Type::kArray: return "array";
    default: return "object";
  }
}

static Error type_error(const char* want, Json::Type got) {
  return Error(std::string("JSON: expected ") + want + ", got " + Json::type_name(got));
}

bool Json::as_bool() const {
  if (type_ != Type::kBool) throw type_error("bool", type_);
  return b_;
}
int64_t Json::as_int() const {
  if (type_ == Type::kInt) return i_;
  if (type_ == Type::kDouble && std::isfinite(d_) && std::floor(d_) == d_ &&
      std::fabs(d_) <= 9007199254740992.0)
    return static_cast<int64_t>(d_);
  throw type_error("integer", type_);
}
double Json::as_double() const {
  if (type_ == Type::kInt) return static_cast<double>(i_);
  if (type_ == Type::kDouble) return d_;
  throw type_error("number", type_);
}
const std::string& Json::as_string() const {
  if (type_ != Type::kString) throw type_error("string", type_);
  return s_;
}
const Json::Array& Json::as_array() const {
  if (type_ != Type::kArray) throw type_error("array", type_);
  return *a_;
}
Json::Array& Json::as_array() {
  if (type_ != Type::kArray) throw type_error("array", type_);
  if (a_.use_count() > 1) a_ = std::make_shared<Array>(*a_);
  return *a_;
}
const Json::Object& Json::as_object() const {
  if (type_ != Type::kObject) throw type_error("object", type_);
  return *o_;
}
Json::Object& Json::as_object() {
  if (type_ != Type::kObject) throw type_error("object", type_);
  if (o_.use_count() > 1) o_ = std::make_shared<Object>(*o_);
  return *o_;
}
bool Json::contains(const std::string& key) const {
  return type_ == Type::kObject && o_->count(key) > 0;
}
const Json& Json::at(const std::string& key) const {
  const Object& o = as_object();
  auto it = o.find(key);
  if (it == o.end()) throw Error("JSON: missing key '" + key + "'");
  return it->second;
}
Json& Json::operator[](const std::string& key) {
  if (type_ == Type::kNull) *this = object();
  return as_object()[key];
}
void Json::push_back(Json v) {
  if (type_ == Type::kNull) *this = array();
  as_array().push_back(std::move(v));
}

// ---- writer ----

static void dump_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void Json::dump_to(std::string& out) const {
  switch (type_) {
    case Type::kNull: out += "null"; break;
    case Type::kBool: out += b_ ? "true" : "false"; break;
    case Type::kInt: out += std::to_string(i_); break;
    case Type::kDouble: {
      if (!std::isfinite(d_)) throw Error("JSON: cannot write a non-finite number");
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", d_);
      std::string s = buf;
      // Keep it a double on re-read: "1" would come back as an integer.
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      out += s;
      break;
    }
    case Type::kString: dump_string(s_, out); break;
    case Type::kArray: {
      out += '[';
      bool first = true;
      for (const Json& v : *a_) {
        if (!first) out += ',';
        first = false;
        v.dump_to(out);
      }
      out += ']';
      break;
    }
    case Type::kObject: {
      out += '{';
      bool first = true;
      for (const auto& kv : *o_) {
        if (!first) out += ',';
        first = false;
        dump_string(kv.first, out);
        out += ':';
        kv.second.dump_to(out);
      }
      out += '}';
      break;
    }
  }
}

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

// ---- parser ----

namespace {

class Parser {
 public:
  Parser(std::string_view t, int max_depth) : t_(t), max_depth_(max_depth) {}

  Json parse_document() {
    skip_ws();
    Json v = parse_value(0);
    skip_ws();
    if (p_ != t_.size()) fail("unexpected trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p_ && i < t_.size(); ++i) {
      if (t_[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    throw Error("JSON parse error at offset " + std::to_string(p_) + " (line " +
                std::to_string(line) + ", column " + std::to_string(col) + "): " + msg);
  }
  bool eof() const { return p_ >= t_.size(); }
  char peek() const { return eof() ? '\0' : t_[p_]; }
  void skip_ws() {
    while (!eof() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\n' || t_[p_] == '\r')) ++p_;
  }
  void expect_word(const char* w) {
    for (const char* c = w; *c; ++c, ++p_)
      if (eof() || t_[p_] != *c) fail(std::string("invalid literal (expected '") + w + "')");
  }

  Json parse_value(int depth) {
    if (eof()) fail("unexpected end of input");
    const char c = peek();
    if (c == '{' || c == '[') {
      if (depth >= max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
      return c == '{' ? parse_object(depth + 1) : parse_array(depth + 1);
    }
    if (c == '"') return Json(parse_string());
    if (c == 't') { expect_word("true"); return Json(true); }
    if (c == 'f') { expect_word("false"); return Json(false); }
    if (c == 'n') { expect_word("null"); return Json(); }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    fail(std::string("unexpected character '") + c + "'");
  }

  Json parse_object(int depth) {
    ++p_;  // {
    Json::Object o;
    skip_ws();
    if (peek() == '}') { ++p_; return Json(std::move(o)); }
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key");
      const size_t key_pos = p_;
      std::string key = parse_string();
      skip_ws();
      if (peek() != ':') fail("expected ':' after object key");
      ++p_;
      skip_ws();
      Json v = parse_value(depth);
      if (o.count(key)) { p_ = key_pos; fail("duplicate object key \"" + key + "\""); }
      o.emplace(std::move(key), std::move(v));
      skip_ws();
      if (peek() == ',') { ++p_; continue; }
      if (peek() == '}') { ++p_; return Json(std::move(o)); }
      fail(eof() ? "unterminated object" : "expected ',' or '}' in object");
    }
  }

  Json parse_array(int depth) {
    ++p_;  // [
    Json::Array a;
    skip_ws();
    if (peek() == ']') { ++p_; return Json(std::move(a)); }
    for (;;) {
      skip_ws();
      a.push_back(parse_value(depth));
      skip_ws();
      if (peek() == ',') { ++p_; continue; }
      if (peek() == ']') { ++p_; return Json(std::move(a)); }
      fail(eof() ? "unterminated array" : "expected ',' or ']' in array");
    }
  }

  unsigned parse_hex4() {
    unsigned v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      if (eof()) fail("truncated \\u escape");
      const char c = t_[p_];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else fail("invalid hex digit in \\u escape");
    }
    return v;
  }

  std::string parse_string() {
    ++p_;  // opening quote
    std::string out;
    for (;;) {
      if (eof()) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(t_[p_]);
      if (c == '"') { ++p_; return out; }
      if (c < 0x20) fail("control character in string (must be escaped)");
      if (c != '\\') { out += static_cast<char>(c); ++p_; continue; }
      ++p_;
      if (eof()) fail("unterminated escape");
      const char e = t_[p_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = parse_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p_ + 1 >= t_.size() || t_[p_] != '\\' || t_[p_ + 1] != 'u')
              fail("unpaired high surrogate in \\u escape");
            p_ += 2;
            const unsigned lo = parse_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("invalid low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired low surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default: --p_; fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  Json parse_number() {
    const size_t start = p_;
    bool is_int = true;
    if (peek() == '-') ++p_;
    if (peek() == '0') {
      ++p_;
      if (peek() >= '0' && peek() <= '9') fail("leading zeros are not allowed");
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++p_;
    } else {
      fail("invalid number");
    }
    if (peek() == '.') {
      is_int = false;
      ++p_;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected digits after '.'");
      while (peek() >= '0' && peek() <= '9') ++p_;
    }
    if (peek() == 'e' || peek() == 'E') {
      is_int = false;
      ++p_;
      if (peek() == '+' || peek() == '-') ++p_;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected digits in exponent");
      while (peek() >= '0' && peek() <= '9') ++p_;
    }
    const std::string tok(t_.substr(start, p_ - start));
    if (is_int) {
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(tok.c_str(), &end, 10);
      if (errno == 0 && end == tok.c_str() + tok.size()) return Json(static_cast<int64_t>(v));
      // Out of int64 range: fall through to double.
    }
    char* end = nullptr;
    const double d = std::strtod(tok.c_str(), &end);
    if (!std::isfinite(d)) { p_ = start; fail("number out of range"); }
    return Json(d);
  }

  std::string_view t_;
  size_t p_ = 0;
  int max_depth_;
};

}  // namespace

Json Json::parse(std::string_view text, int max_depth) {
  return Parser(text, max_depth).parse_document();
}

}  // namespace qf
