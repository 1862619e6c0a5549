// test_json.cpp — fileio/json_io.h, what mhc adds to nlohmann::json: errors
// with file:line:column, duplicate keys refused, numbers that round-trip bit
// for bit, NaN -> null, broken UTF-8 written as U+FFFD, and JSON lines with a
// truncated tail or damaged lines.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>

#include "fileio/json_io.h"
#include "test_files.h"

using namespace mhc;
using Catch::Contains;

namespace {

uint64_t bits_of(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// The ParseError that parse(text) throws (fails the test if it does not throw one).
json::ParseError parse_error(const std::string& text) {
  try {
    (void)json::parse(text);
  } catch (const json::ParseError& e) {
    return e;
  }
  FAIL("expected a json::ParseError for: " << text);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("doubles round-trip bit for bit in shortest form, NaN and infinities become null", "[json]") {
  CHECK(json::dump(Json(0.1)) == "0.1");
  CHECK(json::dump(Json(-2.5e-7)).size() <= 8);                              // shortest form, not %.17g padding
  CHECK(json::dump(Json(int64_t{9007199254740993})) == "9007199254740993");  // integers stay integers
  std::vector<double> values = {0.1,
                                1.0 / 3.0,
                                -2.0 / 3.0,
                                1e-300,
                                5e-324,
                                2.2250738585072014e-308,
                                1e308,
                                std::numeric_limits<double>::max(),
                                9007199254740993.0,
                                3.0e-4,
                                -0.0};
  std::mt19937_64 rng(7);
  while (values.size() < 3000) {  // random bit patterns: every exponent and mantissa
    const uint64_t b = rng();
    double x;
    std::memcpy(&x, &b, sizeof x);
    if (std::isfinite(x)) values.push_back(x);
  }
  for (const double x : values) {
    const std::string text = json::dump(Json(x));
    INFO(text);
    REQUIRE(bits_of(json::parse(text).get<double>()) == bits_of(x));
  }
  Json line;
  line["step"] = 10;
  line["loss"] = std::numeric_limits<double>::quiet_NaN();
  line["grad_norm"] = std::numeric_limits<double>::infinity();
  CHECK(json::dump(line) == R"({"step":10,"loss":null,"grad_norm":null})");  // and in insertion order
}

TEST_CASE("parse errors give file:line:column, and duplicate keys are refused", "[json]") {
  struct Case {
    std::string text;
    size_t line, column;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"{\n  \"a\": 1,\n  \"b\" 2\n}", 3, 7, "expected ':'"},
      {"[1, 2,]", 1, 7, "unexpected ']'"},
      {"{} x", 1, 4, "expected end of input"},
      {"\n\n   ", 3, 4, "unexpected end of input"},
      {"[\"\xC3\xA9\xC3\xA9\", x]", 1, 8, "invalid literal"},  // columns count characters, not bytes
  };
  for (const Case& c : cases) {
    INFO("input: " << c.text);
    const json::ParseError e = parse_error(c.text);
    CHECK(e.line() == c.line);
    CHECK(e.column() == c.column);
    CHECK_THAT(e.what(), Contains(c.says));
    CHECK_THAT(e.what(), Contains("json:" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": "));
    CHECK_THAT(e.what(), !Contains("json.exception"));  // nlohmann's own prefix is replaced by the location
  }
  CHECK(parse_error("[1, 2").unexpected_end());
  CHECK_FALSE(parse_error("[1, x]").unexpected_end());
  CHECK_THROWS_WITH(json::parse("[1,]", "config.json"), Contains("config.json:1:4:"));
  CHECK_THROWS_WITH(json::parse(R"({"a": {"b": 1, "b": 2}})", "spec.json"),
                    Contains("spec.json") && Contains("\"b\" appears twice"));
  CHECK(json::parse(R"({"a": {"b": 1}, "c": {"b": 2}})").at("c").at("b") == 2);  // the same key in two objects is fine
}

TEST_CASE("dump writes broken UTF-8 as U+FFFD instead of throwing", "[json]") {
  const Json v = std::string(
      "ab\xFF"
      "c");
  CHECK(json::dump(v) ==
        "\"ab\xEF\xBF\xBD"
        "c\"");
}

TEST_CASE("JSON lines: blank lines, line numbers and a truncated tail", "[json]") {
  const std::string complete = "{\"step\":1}\n\n{\"step\":2}\r\n  \n{\"step\":3}\n";
  bool truncated = true;
  std::vector<Json> lines = json::parse_lines(complete, &truncated);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].at("step") == 3);
  CHECK_FALSE(truncated);
  CHECK(json::parse_lines("{\"a\":1}").size() == 1);  // no newline at the end, but complete
  CHECK(json::parse_lines("").empty());

  // A writer killed mid-line: the tail is dropped when asked, an error otherwise.
  const std::string killed = "{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"lo";
  lines = json::parse_lines(killed, &truncated);
  CHECK(truncated);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].at("step") == 2);
  CHECK_THROWS_WITH(json::parse_lines(killed), Contains("truncated last line") && Contains(":3:"));

  // Real corruption is never mistaken for truncation.
  CHECK_THROWS_WITH(json::parse_lines("{\"a\":1}\n{\"a\":}\n{\"a\":2}", &truncated), Contains("jsonl:2:6:"));
  CHECK_THROWS_WITH(json::parse_lines("{\"a\":1}\n{\"a\":1}}", &truncated), Contains("jsonl:2:8:"));
  CHECK_THROWS_WITH(json::parse_lines("{\"a\":1}\n{\"a\":\n", &truncated), !Contains("truncated last line"));
}

TEST_CASE("JSON lines, tolerant: damaged lines and NUL padding are skipped and reported by line", "[json]") {
  // A bad line in the middle, a blank line, then what a power loss leaves at
  // the end: the last line cut short and NUL bytes where data should be.
  const std::string text = std::string("{\"step\":1}\n{\"step\":2,\"lo}\n\n{\"step\":3}\n{\"step\":4,\"l") +
                           std::string(5, '\0') + "\n" + std::string(4096, '\0');
  json::LinesReport report;
  const std::vector<Json> lines = json::parse_lines(text, report, "m.jsonl");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].at("step") == 1);
  CHECK(lines[1].at("step") == 3);
  CHECK(report.line_numbers == std::vector<size_t>{1, 4});
  REQUIRE(report.damaged.size() == 3);
  CHECK(report.damaged[0].line == 2);
  CHECK_THAT(report.damaged[0].problem, Contains("column"));
  CHECK(report.damaged[1].line == 5);
  CHECK_THAT(report.damaged[1].problem, Contains("5 NUL bytes"));
  CHECK(report.damaged[2].line == 6);
  CHECK_THAT(report.damaged[2].problem, Contains("4096 NUL bytes (what a power loss leaves)"));
  CHECK_FALSE(report.truncated_tail);
  // The strict reader still refuses the same text, naming the first bad line.
  CHECK_THROWS_WITH(json::parse_lines(text), Contains("jsonl:2:"));

  // A tail cut mid-line (no newline) is dropped, not called damage.
  report.damaged.push_back({99, "left over"});  // the report is reset by each parse
  CHECK(json::parse_lines("{\"a\":1}\n{\"a\":", report).size() == 1);
  CHECK(report.truncated_tail);
  CHECK(report.damaged.empty());
  CHECK(json::parse_lines("{\"a\":1}\n{\"a\":2}\n", report).size() == 2);
  CHECK(report.damaged.empty());
  CHECK_FALSE(report.truncated_tail);
}

TEST_CASE("files: parse_file and parse_lines_file name the path in errors", "[json]") {
  const mhc::test::TempDir tmp;
  const std::string config = (tmp.path / "config.json").string();
  const std::string metrics = (tmp.path / "metrics.jsonl").string();
  Json doc;
  doc["name"] = "mhc-small";
  doc["optim"]["lr"] = 3e-4;
  doc["widths"] = {64, 128};
  std::ofstream(config) << json::dump(doc, 2);
  std::ofstream(metrics) << "{\"step\":1,\"loss\":2.5}\n{\"step\":2,\"loss\":2.25}\n{\"step\":3,";
  CHECK(json::parse_file(config) == doc);
  bool truncated = false;
  const std::vector<Json> lines = json::parse_lines_file(metrics, &truncated);
  CHECK(truncated);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].at("loss").get<double>() == 2.25);
  std::ofstream(config) << "{\n\"lr\": }";
  CHECK_THROWS_WITH(json::parse_file(config), Contains(config + ":2:7:"));
  CHECK_THROWS_WITH(json::parse_file((tmp.path / "absent.json").string()), Contains("does not exist"));
}

TEST_CASE("plain_text writes values as a person does: no quotes, no trailing .0", "[json]") {
  CHECK(json::plain_text(Json("mhc")) == "mhc");
  CHECK(json::plain_text(Json(3.0)) == "3");
  CHECK(json::plain_text(Json(-2)) == "-2");
  CHECK(json::plain_text(Json(0.003)) == "0.003");
  CHECK(json::plain_text(Json(true)) == "true");
  CHECK(json::plain_text(Json::parse("[1, 2.5]")) == "[1,2.5]");
}

TEST_CASE("nesting deeper than the limit is refused with the depth, in documents and in JSON lines", "[json]") {
  using mhc::json::kMaxDepth;
  const auto nested = [](size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  CHECK(mhc::json::nesting_depth("3") == 0);
  CHECK(mhc::json::nesting_depth(R"({"a": [1, {"b": "[[[{{{"}]})") == 3);  // brackets in strings do not count
  CHECK(mhc::json::nesting_depth(R"(["\"[[", []])") == 2);                 // nor after an escaped quote
  CHECK(mhc::json::parse(nested(kMaxDepth), "x").is_array());
  CHECK_THROWS_WITH(mhc::json::parse(nested(kMaxDepth + 1), "cfg.json"),
                    Catch::Contains("cfg.json:1:1: nested 65 levels deep; the limit is 64"));
  CHECK_THROWS_WITH(mhc::json::parse("{\"a\": " + nested(200000) + "}", "config"),
                    Catch::Contains("nested 200001 levels deep"));
  const std::string lines = "{\"step\": 0}\n" + nested(100000) + "\n{\"step\": 1}\n";
  CHECK_THROWS_WITH(mhc::json::parse_lines(lines, nullptr, "metrics.jsonl"),
                    Catch::Contains("metrics.jsonl:2:1: nested 100000 levels deep"));
  mhc::json::LinesReport report;
  CHECK(mhc::json::parse_lines(lines, report, "metrics.jsonl").size() == 2);  // the tolerant reader skips it
  REQUIRE(report.damaged.size() == 1);
  CHECK(report.damaged[0].line == 2);
}
