// A minimal JSON value, parser and writer. The parser reads untrusted data (the graph stored in
// a checkpoint, metrics.jsonl lines), so it is strict (RFC 8259: no trailing commas, comments,
// NaN, leading zeros or control characters in strings; duplicate object keys are rejected),
// bounded (nesting depth limit, no recursion beyond it) and reports errors as qf::Error with the
// byte offset, line and column.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qf {

class Json {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json>;  // sorted: dump() is deterministic

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::kBool), b_(b) {}
  Json(int v) : type_(Type::kInt), i_(v) {}
  Json(int64_t v) : type_(Type::kInt), i_(v) {}
  Json(double v) : type_(Type::kDouble), d_(v) {}
  Json(const char* s) : type_(Type::kString), s_(s) {}
  Json(std::string s) : type_(Type::kString), s_(std::move(s)) {}
  Json(Array a) : type_(Type::kArray), a_(std::make_shared<Array>(std::move(a))) {}
  Json(Object o) : type_(Type::kObject), o_(std::make_shared<Object>(std::move(o))) {}

  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_number() const { return type_ == Type::kInt || type_ == Type::kDouble; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Typed accessors; throw qf::Error naming the expected and actual type.
  bool as_bool() const;
  int64_t as_int() const;   // ints only (a double with an integral value is also accepted)
  double as_double() const;  // any number
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object helpers.
  bool contains(const std::string& key) const;
  const Json& at(const std::string& key) const;  // throws qf::Error "missing key"
  Json& operator[](const std::string& key);      // inserts (turns null into an object)
  void push_back(Json v);                        // turns null into an array

  // Compact single-line output (suitable for .jsonl). Throws qf::Error on non-finite doubles.
  std::string dump() const;

  static constexpr int kDefaultMaxDepth = 64;
  // Parses exactly one JSON value (surrounding whitespace allowed). Throws qf::Error
  // "JSON parse error at offset N (line L, column C): ...".
  static Json parse(std::string_view text, int max_depth = kDefaultMaxDepth);

  static const char* type_name(Type t);

 private:
  void dump_to(std::string& out) const;

  Type type_ = Type::kNull;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0.0;
  std::string s_;
  std::shared_ptr<Array> a_;   // shared_ptr keeps Json copyable with incomplete types; copies
  std::shared_ptr<Object> o_;  // are made unique on mutation (see mutable accessors)
};

}  // namespace qf
