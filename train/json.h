// json.h — a small JSON library for the trainer's files: config.json (read and
// written pretty) and metrics.jsonl (one compact object per line, appended as
// training runs).
//
//   json::Value v = json::parse(R"({"lr": 3e-4, "layers": [4, 8]})");
//   double lr = v.at("lr").as_number();
//   json::Value line;                       // null; operator[] turns it into an object
//   line["step"] = 100;
//   line["loss"] = 2.31;
//   out << line.dump() << '\n';             // {"step":100,"loss":2.31}
//
// Conventions:
// - Numbers are doubles. Integers up to 2^53 in magnitude are exact and are
//   written without a decimal point; other numbers are written in the shortest
//   form that parses back to the same double bit for bit.
// - JSON has no NaN or infinity: dump() writes non-finite numbers as `null`
//   (a diverged run's "loss": NaN reads back as null, and as_number() on it
//   throws, so check is_null() where a value may have diverged).
// - Strings hold UTF-8. parse() decodes escapes (\n, \uXXXX, surrogate pairs)
//   and rejects invalid UTF-8; dump() escapes quotes, backslashes and control
//   characters, writes other characters as raw UTF-8, and replaces bytes that
//   are not valid UTF-8 with U+FFFD (so a broken generated sample cannot make
//   the output unreadable).
// - Objects keep their keys in insertion order (and dump() writes them in that
//   order); duplicate keys are a parse error. Lookups by key are a linear scan
//   for small objects and use a hash index once an object grows large.
// - Errors are exceptions: json::ParseError (with line and column, 1-based;
//   the column counts UTF-8 characters) and json::Error for misuse such as
//   asking a string for a number.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace mhc::json {

// Misuse of a Value (wrong type, missing key, index out of range, ...).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Malformed JSON text. what() reads "<where>:<line>:<column>: <message>".
class ParseError : public Error {
 public:
  ParseError(const std::string& where, size_t line, size_t column, const std::string& message,
             bool unexpected_end);
  size_t line() const { return line_; }
  size_t column() const { return column_; }
  const std::string& message() const { return message_; }  // without the location
  // True when the text simply stopped early (the value was incomplete), as
  // when a writer was killed in the middle of a line.
  bool unexpected_end() const { return unexpected_end_; }

 private:
  size_t line_, column_;
  std::string message_;
  bool unexpected_end_;
};

enum class Type { null, boolean, number, string, array, object };
const char* type_name(Type type);  // "null", "bool", "number", "string", "array", "object"

class Value;
using Array = std::vector<Value>;

// An object's members in insertion order, with lookup by key.
class Object {
 public:
  using Member = std::pair<std::string, Value>;

  size_t size() const { return members_.size(); }
  bool empty() const { return members_.empty(); }
  std::vector<Member>::const_iterator begin() const { return members_.begin(); }
  std::vector<Member>::const_iterator end() const { return members_.end(); }
  std::vector<Member>::iterator begin() { return members_.begin(); }
  std::vector<Member>::iterator end() { return members_.end(); }

  const Value* find(std::string_view key) const;  // nullptr when absent
  Value* find(std::string_view key);
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // The value for key, appended as null first when absent.
  Value& operator[](std::string_view key);
  // Array element by index (throws when out of range); also keeps v[0] from
  // meaning v[(const char*)0].
  Value& operator[](size_t index);
  // Appends (key, value); throws json::Error when key is already present.
  void insert(std::string key, Value value);
  std::string keys_list() const;  // "a, b, c" — for error messages

 private:
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  void index_last();  // adds members_.back() to the index (building it once large enough)
  static constexpr size_t kIndexThreshold = 16;
  std::vector<Member> members_;
  std::unordered_map<std::string, size_t, KeyHash, std::equal_to<>> index_;  // empty while small
};

class Value {
 public:
  // ---- construction ----------------------------------------------------------
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : data_(b) {}
  Value(double x) : data_(x) {}
  // Any integer type (not bool). Throws json::Error beyond ±2^53, where a
  // double could not hold it exactly (store such values as strings).
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  Value(I i) : data_(checked_integer(static_cast<long double>(i))) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(std::string_view s) : data_(std::string(s)) {}
  Value(Array a) : data_(std::move(a)) {}
  Value(Object o) : data_(std::move(o)) {}
  template <class T>
  Value(const T*) = delete;  // a pointer would silently become a bool

  static Value array(std::initializer_list<Value> items = {}) { return Value(Array(items)); }
  static Value object() { return Value(Object()); }

  // ---- type queries ----------------------------------------------------------
  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_null() const { return type() == Type::null; }
  bool is_bool() const { return type() == Type::boolean; }
  bool is_number() const { return type() == Type::number; }
  bool is_string() const { return type() == Type::string; }
  bool is_array() const { return type() == Type::array; }
  bool is_object() const { return type() == Type::object; }

  // ---- access (each throws json::Error naming the expected and actual type) --
  bool as_bool() const;
  double as_number() const;
  int64_t as_int() const;  // the number must be integral and within ±2^53
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object member by key; throws json::Error naming the missing key.
  const Value& at(std::string_view key) const;
  // Array element by index; throws json::Error when out of range.
  const Value& at(size_t index) const;
  // Object member or nullptr when absent (throws if this is not an object).
  const Value* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // ---- building --------------------------------------------------------------
  // Member by key, inserted as null when absent; a null Value becomes an
  // empty object first.
  Value& operator[](std::string_view key);
  // Array element by index (throws when out of range); also keeps v[0] from
  // meaning v[(const char*)0].
  Value& operator[](size_t index);
  // Appends to an array; a null Value becomes an empty array first.
  void push_back(Value item);
  // Number of array elements or object members.
  size_t size() const;

  // ---- text ------------------------------------------------------------------
  // Compact on one line when indent < 0, otherwise one member per line
  // indented by `indent` spaces per level. Non-finite numbers become null.
  std::string dump(int indent = -1) const;

  // Deep equality; objects compare as unordered maps (key order is ignored).
  friend bool operator==(const Value& a, const Value& b);

 private:
  static double checked_integer(long double i);
  [[noreturn]] void type_error(Type expected) const;
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> data_;
};

// Parses one JSON value; anything but whitespace after it is an error.
// `where` names the source in error messages (a file name, say).
Value parse(std::string_view text, const std::string& where = "json");

// Parses JSON lines (one value per line, blank lines skipped). Errors name the
// line in the whole text. When the last line has no newline after it and
// stops early (a writer killed mid-line): if truncated_tail is given, that
// line is dropped and *truncated_tail set to true; otherwise a ParseError
// whose message says "truncated last line" is thrown. *truncated_tail is set
// to false when the text is complete.
std::vector<Value> parse_lines(std::string_view text, bool* truncated_tail = nullptr,
                               const std::string& where = "jsonl");

// A line the tolerant parse_lines skipped: its number in the whole text and
// what is wrong with it (not JSON, or NUL bytes, as a power loss leaves).
struct DamagedLine {
  size_t line;
  std::string problem;
};

// What the tolerant parse_lines saw besides the values it returns.
struct LinesReport {
  std::vector<size_t> line_numbers;  // the line each returned value came from
  std::vector<DamagedLine> damaged;  // lines skipped, in order
  bool truncated_tail = false;       // the last line stopped early (no newline after it) and was dropped
};

// Tolerant JSON lines: a damaged line anywhere is skipped and recorded in
// `report` instead of ending the parse, so one bad line does not cost the rest.
std::vector<Value> parse_lines(std::string_view text, LinesReport& report, const std::string& where = "jsonl");

// Read a whole file and parse it; error messages start with the path.
Value parse_file(const std::string& path);
std::vector<Value> parse_lines_file(const std::string& path, bool* truncated_tail = nullptr);
std::vector<Value> parse_lines_file(const std::string& path, LinesReport& report);

}  // namespace mhc::json
