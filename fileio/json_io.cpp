// json_io.cpp — see json_io.h.
#include "fileio/json_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>

#include "fileio/file_io.h"

namespace mhc::json {

ParseError::ParseError(const std::string& where, size_t line, size_t column, const std::string& message,
                       bool unexpected_end)
    : Error(fmt::format("{}:{}:{}: {}", where, line, column, message)),
      line_(line),
      column_(column),
      message_(message),
      unexpected_end_(unexpected_end) {}

size_t nesting_depth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void check_depth(std::string_view text, const std::string& where, size_t line) {
  if (const size_t depth = nesting_depth(text); depth > kMaxDepth)
    throw ParseError(where, line, 1, fmt::format("nested {} levels deep; the limit is {}", depth, kMaxDepth), false);
}

namespace {

// nlohmann's parse_error knows the byte it stopped at (1-based, one past the
// end when the text ran out); this turns it into line:column.
ParseError located(std::string_view text, const Json::parse_error& e, const std::string& where, size_t first_line = 1) {
  const size_t at = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
  const std::string_view before = text.substr(0, at);
  const size_t line_start = before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  size_t column = 1;
  for (size_t i = line_start; i < at; ++i) column += (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
  // what(): "[json.exception.parse_error.101] parse error at line 1, column 8: syntax error ... - <the message>"
  std::string message = e.what();
  if (const size_t c = message.find("column "); c != std::string::npos && message.find(": ", c) != std::string::npos)
    message = message.substr(message.find(": ", c) + 2);
  if (const size_t dash = message.find(" - "); message.rfind("syntax error", 0) == 0 && dash != std::string::npos)
    message = message.substr(dash + 3);
  return ParseError(where, first_line + static_cast<size_t>(std::count(before.begin(), before.end(), '\n')), column,
                    message, e.byte > text.size());
}

struct DuplicateKey {
  std::string key;
};

std::string read_json_file(const std::string& path) {
  try {
    return read_file(path, "JSON file");
  } catch (const std::runtime_error& e) {
    throw Error(e.what());
  }
}

// One value, without the duplicate-key check (JSON lines are written by us).
Json parse_plain(std::string_view text, const std::string& where, size_t line) {
  check_depth(text, where, line);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw located(text, e, where, line);
  } catch (const Json::exception& e) {  // out_of_range.406: a number beyond double
    throw ParseError(where, line, 1, e.what(), false);
  }
}

}  // namespace

Json parse(std::string_view text, const std::string& where) {
  check_depth(text, where);
  std::vector<std::set<std::string>> open;  // keys seen in each object being read
  const Json::parser_callback_t check = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open.emplace_back();
    if (event == Json::parse_event_t::object_end) open.pop_back();
    if (event == Json::parse_event_t::key && !open.back().insert(parsed.get<std::string>()).second)
      throw DuplicateKey{parsed.get<std::string>()};
    return true;
  };
  try {
    return Json::parse(text, check);
  } catch (const DuplicateKey& d) {
    throw ParseError(where, 1, 1, "the key \"" + d.key + "\" appears twice in one object", false);
  } catch (const Json::parse_error& e) {
    throw located(text, e, where);
  } catch (const Json::exception& e) {
    throw ParseError(where, 1, 1, e.what(), false);
  }
}

Json parse_file(const std::string& path) { return parse(read_json_file(path), path); }

std::string dump(const Json& v, int indent) { return v.dump(indent, ' ', false, Json::error_handler_t::replace); }

std::string plain_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (x == std::floor(x) && std::fabs(x) < 1e15) return fmt::format("{}", static_cast<int64_t>(x));
  }
  return dump(v);
}

const Json* find(const Json& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  const auto it = v.find(key);
  return it == v.end() ? nullptr : &*it;
}

Json* find(Json& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  const auto it = v.find(key);
  return it == v.end() ? nullptr : &*it;
}

namespace {

// Both flavours of parse_lines: strict when `report` is null (the first bad
// line throws), tolerant otherwise.
std::vector<Json> parse_lines_impl(std::string_view text, bool* truncated_tail, LinesReport* report,
                                   const std::string& where) {
  if (truncated_tail) *truncated_tail = false;
  std::vector<Json> values;
  size_t line_number = 0;
  for (size_t start = 0; start < text.size();) {
    ++line_number;
    const size_t newline = text.find('\n', start);
    const bool last_without_newline = newline == std::string_view::npos;
    const size_t end = last_without_newline ? text.size() : newline;
    const std::string_view line = text.substr(start, end - start);
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
      values.push_back(parse_plain(line, where, line_number));
      if (report) report->line_numbers.push_back(line_number);
    } catch (const ParseError& e) {
      if (last_without_newline && e.unexpected_end()) {
        if (truncated_tail) {
          *truncated_tail = true;
          break;
        }
        if (!report)
          throw ParseError(
              where, line_number, e.column(),
              "truncated last line (no newline after it; was the writer stopped mid-line?): " + e.message(), true);
      }
      if (!report) throw;
      report->damaged.push_back({line_number, fmt::format("column {}: {}", e.column(), e.message())});
    }
  }
  return values;
}

}  // namespace

std::vector<Json> parse_lines(std::string_view text, bool* truncated_tail, const std::string& where) {
  return parse_lines_impl(text, truncated_tail, nullptr, where);
}

std::vector<Json> parse_lines(std::string_view text, LinesReport& report, const std::string& where) {
  report = LinesReport{};
  return parse_lines_impl(text, &report.truncated_tail, &report, where);
}

std::vector<Json> parse_lines_file(const std::string& path, bool* truncated_tail) {
  return parse_lines(read_json_file(path), truncated_tail, path);
}

std::vector<Json> parse_lines_file(const std::string& path, LinesReport& report) {
  return parse_lines(read_json_file(path), report, path);
}

}  // namespace mhc::json
