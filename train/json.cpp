// json.cpp — JSON values, the parser (recursive descent with line:column
// errors), the writer (shortest round-trip numbers) and JSON-lines reading.
#include "train/json.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "datasets/file_io.h"
#include "datasets/utf8.h"

namespace mhc::json {

namespace {

constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

// Length of the valid UTF-8 sequence starting at s[i], 0 when it is invalid
// (bad lead byte, bad continuation, overlong form, surrogate, > U+10FFFF), and
// -1 when it is a valid prefix cut off by the end of s.
int utf8_sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  int len;
  uint32_t cp;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2, cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3, cp = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4, cp = lead & 0x07;
  } else {
    return 0;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= s.size()) return -1;
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  if (overlong || surrogate || cp > 0x10FFFF) return 0;
  return len;
}

// ---- writer --------------------------------------------------------------------

void write_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
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
            out += fmt::format("\\u{:04x}", c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const int len = utf8_sequence_length(s, i);
    if (len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER for a byte that is not UTF-8
      ++i;
    }
  }
  out += '"';
}

void write_number(std::string& out, double x) {
  if (!std::isfinite(x)) {
    out += "null";  // JSON has no NaN or infinity
  } else if (x == 0.0) {
    out += std::signbit(x) ? "-0" : "0";  // keep the sign of -0.0 for bit-exact round trips
  } else if (x == std::trunc(x) && std::fabs(x) <= kMaxExactInteger) {
    out += fmt::format("{}", static_cast<int64_t>(x));
  } else {
    out += fmt::format("{}", x);  // shortest representation that round-trips (e.g. 0.1, 1e-07)
  }
}

void write_value(std::string& out, const Value& v, int indent, int depth) {
  const auto newline = [&](int level) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * level, ' ');
  };
  switch (v.type()) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += v.as_bool() ? "true" : "false"; break;
    case Type::number: write_number(out, v.as_number()); break;
    case Type::string: write_string(out, v.as_string()); break;
    case Type::array: {
      const Array& items = v.as_array();
      if (items.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ',';
        newline(depth + 1);
        write_value(out, items[i], indent, depth + 1);
      }
      newline(depth);
      out += ']';
      break;
    }
    case Type::object: {
      const Object& members = v.as_object();
      if (members.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, value] : members) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        write_string(out, key);
        out += indent < 0 ? ":" : ": ";
        write_value(out, value, indent, depth + 1);
      }
      newline(depth);
      out += '}';
      break;
    }
  }
}

// ---- parser --------------------------------------------------------------------

class Parser {
 public:
  Parser(std::string_view text, const std::string& where) : text_(text), where_(where) {}

  Value parse_document() {
    skip_whitespace();
    Value v = parse_value(0);
    skip_whitespace();
    if (pos_ < text_.size()) fail("expected end of input after the JSON value, found " + describe_here());
    return v;
  }

 private:
  static constexpr int kMaxDepth = 512;  // deeper nesting is surely a mistake (and would risk the stack)

  [[noreturn]] void fail_at(size_t pos, const std::string& message, bool unexpected_end = false) const {
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      if (text_[i] == '\n') ++line, line_start = i + 1;
    }
    size_t column = 1;  // counts UTF-8 characters, not bytes
    for (size_t i = line_start; i < pos && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
    }
    throw ParseError(where_, line, column, message, unexpected_end);
  }
  [[noreturn]] void fail(const std::string& message) const { fail_at(pos_, message); }
  [[noreturn]] void fail_end(const std::string& expected) const {
    fail_at(pos_, "unexpected end of input, expected " + expected, true);
  }

  // "'x'" for the character at pos_ (or a description of an unprintable one).
  std::string describe_here() const {
    if (pos_ >= text_.size()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x20 && c < 0x7F) return fmt::format("'{}'", static_cast<char>(c));
    if (c == '\n') return "a newline";
    if (c == '\t') return "a tab";
    return fmt::format("byte 0x{:02x}", c);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  void expect_literal(std::string_view word) {
    for (size_t k = 0; k < word.size(); ++k) {
      if (pos_ + k >= text_.size()) {
        pos_ += k;
        fail_end(fmt::format("'{}'", word));
      }
      if (text_[pos_ + k] != word[k]) fail(fmt::format("invalid literal, expected '{}'", word));
    }
    pos_ += word.size();
  }

  Value parse_value(int depth) {
    if (at_end()) fail_end("a value");
    switch (peek()) {
      case '{': return parse_object(depth);
      case '[': return parse_array(depth);
      case '"': return Value(parse_string());
      case 't': expect_literal("true"); return Value(true);
      case 'f': expect_literal("false"); return Value(false);
      case 'n': expect_literal("null"); return Value();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return Value(parse_number());
        fail("expected a value (object, array, string, number, true, false or null), found " + describe_here());
    }
  }

  Value parse_object(int depth) {
    if (depth >= kMaxDepth) fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
    ++pos_;  // '{'
    Object members;
    skip_whitespace();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return Value(std::move(members));
    }
    while (true) {
      skip_whitespace();
      if (at_end()) fail_end("a string key");
      if (peek() != '"') fail("expected a string key in object, found " + describe_here());
      const size_t key_pos = pos_;
      std::string key = parse_string();
      if (members.contains(key)) fail_at(key_pos, fmt::format("duplicate key \"{}\" in object", key));
      skip_whitespace();
      if (at_end()) fail_end("':' after object key");
      if (peek() != ':') fail("expected ':' after object key, found " + describe_here());
      ++pos_;
      skip_whitespace();
      Value value = parse_value(depth + 1);
      members.insert(std::move(key), std::move(value));
      skip_whitespace();
      if (at_end()) fail_end("',' or '}' in object");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return Value(std::move(members));
      }
      fail("expected ',' or '}' in object, found " + describe_here());
    }
  }

  Value parse_array(int depth) {
    if (depth >= kMaxDepth) fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
    ++pos_;  // '['
    Array items;
    skip_whitespace();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return Value(std::move(items));
    }
    while (true) {
      skip_whitespace();
      items.push_back(parse_value(depth + 1));
      skip_whitespace();
      if (at_end()) fail_end("',' or ']' in array");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return Value(std::move(items));
      }
      fail("expected ',' or ']' in array, found " + describe_here());
    }
  }

  // Four hex digits after "\u".
  uint32_t parse_hex4() {
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      if (at_end()) fail_end("4 hex digits after \\u");
      const char c = peek();
      int digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        fail("expected 4 hex digits after \\u, found " + describe_here());
      }
      cp = cp * 16 + static_cast<uint32_t>(digit);
      ++pos_;
    }
    return cp;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (at_end()) fail_end("'\"' to close the string");
      const unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        const size_t escape_pos = pos_;
        ++pos_;
        if (at_end()) fail_end("an escape character after '\\'");
        const char e = peek();
        ++pos_;
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
            uint32_t cp = parse_hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
              fail_at(escape_pos, fmt::format("unpaired low surrogate \\u{:04X} in string", cp));
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {  // high surrogate: a low one must follow
              if (pos_ + 1 >= text_.size()) {
                pos_ = text_.size();
                fail_end("a low surrogate \\uDC00-\\uDFFF after a high surrogate");
              }
              if (text_[pos_] != '\\' || text_[pos_ + 1] != 'u') {
                fail_at(escape_pos, fmt::format("high surrogate \\u{:04X} is not followed by a low surrogate", cp));
              }
              pos_ += 2;
              const uint32_t low = parse_hex4();
              if (low < 0xDC00 || low > 0xDFFF) {
                fail_at(escape_pos, fmt::format("high surrogate \\u{:04X} is followed by \\u{:04X}, "
                                                "not a low surrogate", cp, low));
              }
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            mhc::append_utf8(out, static_cast<char32_t>(cp));
            break;
          }
          default:
            pos_ = escape_pos + 1;
            fail("invalid escape '\\" + std::string(1, e) + "' in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        }
        continue;
      }
      if (c < 0x20) fail("unescaped control character in string (" + describe_here() + "); write it as an escape");
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      const int len = utf8_sequence_length(text_, pos_);
      if (len < 0) {
        pos_ = text_.size();
        fail_end("the rest of a UTF-8 character");
      }
      if (len == 0) fail(fmt::format("invalid UTF-8 (byte 0x{:02x}) in string", c));
      out.append(text_.substr(pos_, len));
      pos_ += len;
    }
  }

  double parse_number() {
    const size_t start = pos_;
    const auto is_digit = [&] { return !at_end() && peek() >= '0' && peek() <= '9'; };
    const auto need_digit = [&](const char* after) {
      if (at_end()) fail_end(std::string("a digit ") + after);
      if (!is_digit()) fail(std::string("expected a digit ") + after + ", found " + describe_here());
    };
    if (peek() == '-') ++pos_;
    need_digit("in number");
    // Position of the first significant digit relative to the decimal point,
    // used only to tell underflow from overflow when the value is out of range.
    long long magnitude = 0;
    bool seen_nonzero = false;
    if (peek() == '0') {
      ++pos_;
      if (is_digit()) fail("numbers may not have leading zeros");
    } else {
      while (is_digit()) {
        ++magnitude;
        seen_nonzero = true;
        ++pos_;
      }
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      need_digit("after the decimal point");
      while (is_digit()) {
        if (!seen_nonzero) {
          if (peek() == '0') --magnitude; else seen_nonzero = true;
        }
        ++pos_;
      }
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      const bool negative_exponent = !at_end() && peek() == '-';
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      need_digit("in exponent");
      long long exponent = 0;
      while (is_digit()) {
        exponent = std::min<long long>(exponent * 10 + (peek() - '0'), 1'000'000'000);
        ++pos_;
      }
      magnitude += negative_exponent ? -exponent : exponent;
    }
    const std::string_view literal = text_.substr(start, pos_ - start);
    double value = 0.0;
    const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), value);
    if (ec == std::errc::result_out_of_range) {
      if (magnitude > 0) fail_at(start, fmt::format("number {} is too large for a double", literal));
      return literal[0] == '-' ? -0.0 : 0.0;  // underflows to zero
    }
    if (ec != std::errc() || end != literal.data() + literal.size()) {
      fail_at(start, fmt::format("cannot read number {}", literal));
    }
    return value;
  }

  std::string_view text_;
  const std::string& where_;
  size_t pos_ = 0;
};

std::string read_json_file(const std::string& path) {
  try {
    return mhc::read_file(path, "JSON file");
  } catch (const std::runtime_error& e) {
    throw Error(e.what());  // keep json's error type
  }
}

}  // namespace

// ---- ParseError, type names ----------------------------------------------------

ParseError::ParseError(const std::string& where, size_t line, size_t column, const std::string& message,
                       bool unexpected_end)
    : Error(fmt::format("{}:{}:{}: {}", where, line, column, message)),
      line_(line),
      column_(column),
      message_(message),
      unexpected_end_(unexpected_end) {}

const char* type_name(Type type) {
  switch (type) {
    case Type::null: return "null";
    case Type::boolean: return "bool";
    case Type::number: return "number";
    case Type::string: return "string";
    case Type::array: return "array";
    case Type::object: return "object";
  }
  return "?";
}

// ---- Object --------------------------------------------------------------------

const Value* Object::find(std::string_view key) const {
  if (!index_.empty()) {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &members_[it->second].second;
  }
  for (const Member& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Value* Object::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Object*>(this)->find(key));
}

Value& Object::operator[](std::string_view key) {
  if (Value* v = find(key)) return *v;
  members_.emplace_back(std::string(key), Value());
  index_last();
  return members_.back().second;
}

void Object::insert(std::string key, Value value) {
  if (find(key)) throw Error(fmt::format("json: object already has key \"{}\"", key));
  members_.emplace_back(std::move(key), std::move(value));
  index_last();
}

void Object::index_last() {
  if (members_.size() < kIndexThreshold) return;
  if (index_.empty()) {  // just grew large: index everything so far
    for (size_t i = 0; i < members_.size(); ++i) index_.emplace(members_[i].first, i);
  } else {
    index_.emplace(members_.back().first, members_.size() - 1);
  }
}

std::string Object::keys_list() const {
  std::string out;
  for (const Member& m : members_) {
    if (!out.empty()) out += ", ";
    out += m.first;
  }
  return out.empty() ? "(none)" : out;
}

// ---- Value ---------------------------------------------------------------------

double Value::checked_integer(long double i) {
  if (i > static_cast<long double>(kMaxExactInteger) || i < -static_cast<long double>(kMaxExactInteger)) {
    throw Error(fmt::format("json: integer {} does not fit a JSON number exactly (|x| > 2^53); "
                            "store it as a string", static_cast<long double>(i)));
  }
  return static_cast<double>(i);
}

void Value::type_error(Type expected) const {
  std::string got = type_name(type());
  if (is_number()) got += fmt::format(" {}", std::get<double>(data_));
  if (is_string()) {
    const std::string& s = std::get<std::string>(data_);
    got += s.size() <= 40 ? fmt::format(" \"{}\"", s) : fmt::format(" \"{}...\"", s.substr(0, 40));
  }
  throw Error(fmt::format("json: expected {}, got {}", type_name(expected), got));
}

bool Value::as_bool() const {
  if (!is_bool()) type_error(Type::boolean);
  return std::get<bool>(data_);
}

double Value::as_number() const {
  if (!is_number()) type_error(Type::number);
  return std::get<double>(data_);
}

int64_t Value::as_int() const {
  const double x = as_number();
  if (x != std::trunc(x) || std::fabs(x) > kMaxExactInteger) {
    throw Error(fmt::format("json: expected an integer, got {}", x));
  }
  return static_cast<int64_t>(x);
}

const std::string& Value::as_string() const {
  if (!is_string()) type_error(Type::string);
  return std::get<std::string>(data_);
}

const Array& Value::as_array() const {
  if (!is_array()) type_error(Type::array);
  return std::get<Array>(data_);
}

Array& Value::as_array() {
  if (!is_array()) type_error(Type::array);
  return std::get<Array>(data_);
}

const Object& Value::as_object() const {
  if (!is_object()) type_error(Type::object);
  return std::get<Object>(data_);
}

Object& Value::as_object() {
  if (!is_object()) type_error(Type::object);
  return std::get<Object>(data_);
}

const Value& Value::at(std::string_view key) const {
  const Object& members = as_object();
  const Value* v = members.find(key);
  if (!v) throw Error(fmt::format("json: missing key \"{}\" (object has: {})", key, members.keys_list()));
  return *v;
}

const Value& Value::at(size_t index) const {
  const Array& items = as_array();
  if (index >= items.size()) {
    throw Error(fmt::format("json: index {} is out of range for an array of {} elements", index, items.size()));
  }
  return items[index];
}

const Value* Value::find(std::string_view key) const { return as_object().find(key); }

Value& Value::operator[](std::string_view key) {
  if (is_null()) data_ = Object();
  return as_object()[key];
}

Value& Value::operator[](size_t index) {
  Array& items = as_array();
  if (index >= items.size()) {
    throw Error(fmt::format("json: index {} is out of range for an array of {} elements", index, items.size()));
  }
  return items[index];
}

void Value::push_back(Value item) {
  if (is_null()) data_ = Array();
  as_array().push_back(std::move(item));
}

size_t Value::size() const {
  if (is_array()) return std::get<Array>(data_).size();
  if (is_object()) return std::get<Object>(data_).size();
  throw Error(fmt::format("json: size() needs an array or an object, got {}", type_name(type())));
}

std::string Value::dump(int indent) const {
  std::string out;
  write_value(out, *this, indent, 0);
  return out;
}

bool operator==(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::null: return true;
    case Type::boolean: return a.as_bool() == b.as_bool();
    case Type::number: return a.as_number() == b.as_number();
    case Type::string: return a.as_string() == b.as_string();
    case Type::array: return a.as_array() == b.as_array();
    case Type::object: {
      const Object& x = a.as_object();
      const Object& y = b.as_object();
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x) {
        const Value* other = y.find(key);
        if (!other || !(*other == value)) return false;
      }
      return true;
    }
  }
  return false;
}

// ---- entry points ----------------------------------------------------------------

Value parse(std::string_view text, const std::string& where) { return Parser(text, where).parse_document(); }

namespace {

// Both flavours of parse_lines: strict when `report` is null (the first bad
// line throws), tolerant otherwise.
std::vector<Value> parse_lines_impl(std::string_view text, bool* truncated_tail, LinesReport* report,
                                    const std::string& where) {
  if (truncated_tail) *truncated_tail = false;
  std::vector<Value> values;
  size_t line_number = 0;
  for (size_t start = 0; start < text.size();) {
    ++line_number;
    const size_t newline = text.find('\n', start);
    const bool last_without_newline = newline == std::string_view::npos;
    const size_t end = last_without_newline ? text.size() : newline;
    std::string_view line = text.substr(start, end - start);
    start = last_without_newline ? text.size() : newline + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank line
    if (report && line.find('\0') != std::string_view::npos) {
      const size_t nuls = static_cast<size_t>(std::count(line.begin(), line.end(), '\0'));
      report->damaged.push_back(
          {line_number, nuls == line.size() ? fmt::format("{} NUL bytes (what a power loss leaves)", nuls)
                                            : fmt::format("{} NUL bytes in {} (a power loss?)", nuls, line.size())});
      continue;
    }
    try {
      values.push_back(Parser(line, where).parse_document());
      if (report) report->line_numbers.push_back(line_number);
    } catch (const ParseError& e) {
      if (last_without_newline && e.unexpected_end()) {
        if (truncated_tail) {
          *truncated_tail = true;
          break;
        }
        if (!report)
          throw ParseError(where, line_number, e.column(),
                           "truncated last line (no newline after it; was the writer stopped mid-line?): " +
                               e.message(),
                           true);
      }
      if (!report) throw ParseError(where, line_number, e.column(), e.message(), e.unexpected_end());
      report->damaged.push_back({line_number, fmt::format("column {}: {}", e.column(), e.message())});
    }
  }
  return values;
}

}  // namespace

std::vector<Value> parse_lines(std::string_view text, bool* truncated_tail, const std::string& where) {
  return parse_lines_impl(text, truncated_tail, nullptr, where);
}

std::vector<Value> parse_lines(std::string_view text, LinesReport& report, const std::string& where) {
  report = LinesReport{};
  return parse_lines_impl(text, &report.truncated_tail, &report, where);
}

Value parse_file(const std::string& path) { return parse(read_json_file(path), path); }

std::vector<Value> parse_lines_file(const std::string& path, bool* truncated_tail) {
  return parse_lines(read_json_file(path), truncated_tail, path);
}

std::vector<Value> parse_lines_file(const std::string& path, LinesReport& report) {
  return parse_lines(read_json_file(path), report, path);
}

}  // namespace mhc::json
