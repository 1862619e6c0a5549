// json_io.h — JSON for the trainer's files through nlohmann::json, plus the
// little it does not do by itself: errors that say where (file:line:column),
// refusal of duplicate keys, a tolerant reader for metrics.jsonl (a run killed
// mid-line, NUL bytes after a power loss), and output that never throws on a
// broken UTF-8 sample.
//
//   Json v = json::parse_file("runs/x/config.json");   // "runs/x/config.json:3:7: ..." on bad text
//   double lr = v.at("optim").at("lr").get<double>();
//   Json line;  line["step"] = 100;  line["loss"] = 2.31;
//   out << json::dump(line) << '\n';                    // {"step":100,"loss":2.31}
//
// Json is nlohmann::ordered_json: objects keep their keys in insertion order,
// so config.json, sweep.json and metrics lines are written in a stable,
// readable order, and a sweep spec's axes keep the order they were written in.
// nlohmann writes doubles in the shortest form that reads back bit for bit,
// integers without a decimal point, and NaN / infinities as null.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mhc {

using Json = nlohmann::ordered_json;

namespace json {

// A file that cannot be read, or text that is not JSON.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Malformed JSON text. what() reads "<where>:<line>:<column>: <message>"
// (1-based; the column counts UTF-8 characters).
class ParseError : public Error {
 public:
  ParseError(const std::string& where, size_t line, size_t column, const std::string& message, bool unexpected_end);
  size_t line() const { return line_; }
  size_t column() const { return column_; }
  const std::string& message() const { return message_; }  // without the location
  // True when the text simply stopped early (a writer killed mid-line).
  bool unexpected_end() const { return unexpected_end_; }

 private:
  size_t line_, column_;
  std::string message_;
  bool unexpected_end_;
};

// The deepest nesting of arrays and objects that any parse here accepts:
// mhc's own files nest a few levels; a crafted file nested 10^5 deep would
// overflow the stack of the recursive code that reads, copies or writes it.
inline constexpr size_t kMaxDepth = 64;

// How deeply `text` nests arrays and objects (brackets inside strings do not
// count); a quick scan, no parse. 0 for a scalar.
size_t nesting_depth(std::string_view text);

// Throws ParseError "<where>:<line>:1: nested N levels deep; the limit is 64"
// when `text` nests deeper than kMaxDepth.
void check_depth(std::string_view text, const std::string& where, size_t line = 1);

// One JSON value; anything but whitespace after it, a key given twice in one
// object, and nesting deeper than kMaxDepth are errors. `where` names the
// source in error messages.
Json parse(std::string_view text, const std::string& where = "json");
// Reads a whole file and parses it; error messages start with the path.
Json parse_file(const std::string& path);

// Compact on one line when indent < 0, else one member per line. Bytes that
// are not valid UTF-8 become U+FFFD instead of an exception.
std::string dump(const Json& v, int indent = -1);

// A value as a person writes it (run ids, command-line arguments): strings
// without quotes, whole numbers without a decimal point ("3", not "3.0"),
// anything else as compact JSON.
std::string plain_text(const Json& v);

// The member `key` of an object, or nullptr when absent or v is no object.
const Json* find(const Json& v, std::string_view key);
Json* find(Json& v, std::string_view key);

// JSON lines (one value per line, blank lines skipped); errors name the line
// in the whole text. Strict: the first bad line throws ParseError. When the
// last line has no newline after it and stops early: if truncated_tail is
// given, it is dropped and *truncated_tail set (false when the text is
// complete); otherwise the ParseError says "truncated last line".
std::vector<Json> parse_lines(std::string_view text, bool* truncated_tail = nullptr,
                              const std::string& where = "jsonl");
std::vector<Json> parse_lines_file(const std::string& path, bool* truncated_tail = nullptr);

// A line the tolerant reader skipped: its number and what is wrong with it.
struct DamagedLine {
  size_t line;
  std::string problem;
};

// What the tolerant reader saw besides the values it returns.
struct LinesReport {
  std::vector<size_t> line_numbers;  // the line each returned value came from
  std::vector<DamagedLine> damaged;  // lines skipped (not JSON, NUL bytes), in order
  bool truncated_tail = false;       // the last line stopped early (no newline after it) and was dropped
};

// Tolerant: a damaged line anywhere is recorded in `report` and skipped, so
// one bad line does not cost the rest.
std::vector<Json> parse_lines(std::string_view text, LinesReport& report, const std::string& where = "jsonl");
std::vector<Json> parse_lines_file(const std::string& path, LinesReport& report);

}  // namespace json
}  // namespace mhc
