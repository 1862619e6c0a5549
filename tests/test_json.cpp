// test_json.cpp — train/json.h: round trips, exact numbers, strings and
// unicode, key order, parse errors with line:column, type errors, NaN -> null
// and JSON lines with a truncated tail or damaged lines.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>

#include <fmt/format.h>

#include "train/json.h"
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
    json::parse(text);
  } catch (const json::ParseError& e) {
    return e;
  }
  FAIL("expected a json::ParseError for: " << text);
  throw std::logic_error("unreachable");
}

std::string fmt_key(int i) { return fmt::format("k{}", i); }

json::Value sample_document() {
  json::Value v;
  v["name"] = "mhc-small";
  v["layers"] = 12;
  v["lr"] = 3e-4;
  v["use_mhc"] = true;
  v["notes"] = nullptr;
  v["widths"] = json::Value::array({64, 128, 256});
  v["optimizer"]["kind"] = "adamw";
  v["optimizer"]["betas"] = json::Value::array({0.9, 0.95});
  v["optimizer"]["schedule"] = json::Value::array({json::Value::object(), json::Value::array()});
  json::Value nested;
  nested.push_back(json::Value::array({1, json::Value::array({2, json::Value::array({3})})}));
  nested.push_back("deep");
  v["nested"] = nested;
  return v;
}

}  // namespace

TEST_CASE("nested values round-trip through compact and pretty text", "[json]") {
  const json::Value doc = sample_document();
  for (const int indent : {-1, 0, 2, 4}) {
    INFO("indent " << indent);
    const std::string text = doc.dump(indent);
    const json::Value back = json::parse(text);
    CHECK(back == doc);
    CHECK(back.dump(indent) == text);
  }
  CHECK(doc.dump().find('\n') == std::string::npos);
  CHECK(doc.dump(2).find("\n  \"optimizer\": {\n    \"kind\": \"adamw\"") != std::string::npos);

  const json::Value back = json::parse(doc.dump());
  CHECK(back.at("optimizer").at("betas").at(1).as_number() == 0.95);
  CHECK(back.at("nested").at(0).at(1).at(1).at(0).as_int() == 3);
  CHECK(back.at("notes").is_null());
  CHECK(back.at("use_mhc").as_bool());
  CHECK(back.at("optimizer").at("schedule").at(0).is_object());
  CHECK(back.at("optimizer").at("schedule").at(1).size() == 0);
}

TEST_CASE("pretty printing follows the documented layout", "[json]") {
  json::Value v;
  v["a"] = json::Value::array({1, 2});
  v["b"] = json::Value::object();
  v["c"] = json::Value::array();
  CHECK(v.dump(2) == "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": []\n}");
  CHECK(v.dump() == R"({"a":[1,2],"b":{},"c":[]})");
}

TEST_CASE("integers are exact and written without a decimal point", "[json]") {
  const int64_t two53 = int64_t{1} << 53;
  for (const int64_t i : {int64_t{0}, int64_t{-1}, int64_t{7}, int64_t{123456789012345}, two53, -two53}) {
    const std::string text = json::Value(i).dump();
    INFO(text);
    CHECK(text == std::to_string(i));
    CHECK(json::parse(text).as_int() == i);
  }
  CHECK(json::Value(1e6).dump() == "1000000");
  CHECK(json::Value(-3.0).dump() == "-3");
  CHECK(json::Value(uint64_t{42}).as_int() == 42);
  CHECK_THROWS_WITH(json::Value(two53 + 1), Contains("2^53"));
  CHECK_THROWS_WITH(json::Value(std::numeric_limits<uint64_t>::max()), Contains("store it as a string"));
  CHECK_THROWS_WITH(json::Value(2.5).as_int(), Contains("expected an integer"));
  CHECK_THROWS_WITH(json::Value(1e300).as_int(), Contains("expected an integer"));
}

TEST_CASE("doubles round-trip bit for bit in shortest form", "[json]") {
  CHECK(json::Value(0.1).dump() == "0.1");
  CHECK(json::Value(-2.5e-7).dump().size() <= 8);  // shortest form, not %.17g padding
  std::vector<double> values = {0.1,   1.0 / 3.0, -2.0 / 3.0, 1e-300, 5e-324, 2.2250738585072014e-308,
                                1e308, std::numeric_limits<double>::max(), 9007199254740993.0, 1e16 + 2,
                                3.0e-4, 123456.789, -0.0};
  std::mt19937_64 rng(7);
  while (values.size() < 2000) {  // random bit patterns: every exponent and mantissa
    const uint64_t b = rng();
    double x;
    std::memcpy(&x, &b, sizeof x);
    if (std::isfinite(x)) values.push_back(x);
  }
  std::uniform_real_distribution<double> uniform(-10.0, 10.0);
  for (int i = 0; i < 1000; ++i) values.push_back(uniform(rng));
  for (const double x : values) {
    const std::string text = json::Value(x).dump();
    const double back = json::parse(text).as_number();
    INFO(text);
    REQUIRE(bits_of(back) == bits_of(x));
  }
  // Numbers written by others: exponents, tiny and huge values.
  CHECK(json::parse("1E3").as_number() == 1000.0);
  CHECK(json::parse("-1.5e-2").as_number() == -0.015);
  CHECK(json::parse("2e+2").as_number() == 200.0);
  CHECK(json::parse("1e-400").as_number() == 0.0);  // underflows to zero
  CHECK_THROWS_WITH(json::parse("1e400"), Contains("too large for a double"));
}

TEST_CASE("strings: escapes, unicode and surrogate pairs", "[json]") {
  const std::string tricky = "quote \" backslash \\ slash / newline \n tab \t cr \r bell \x07 nul-free \x1f end";
  const std::string text = json::Value(tricky).dump();
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find('\t') == std::string::npos);
  CHECK(text.find("\\u0007") != std::string::npos);
  CHECK(text.find("\\u001f") != std::string::npos);
  CHECK(json::parse(text).as_string() == tricky);

  CHECK(json::parse(R"("\u00e9\u4e2d")").as_string() == "\xC3\xA9\xE4\xB8\xAD");      // é 中
  CHECK(json::parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");           // U+1F600 via a pair
  CHECK(json::parse(R"("\uD834\uDD1E")").as_string() == "\xF0\x9D\x84\x9E");           // upper-case hex
  CHECK(json::parse(R"("\/\b\f")").as_string() == "/\b\f");
  const std::string raw_utf8 = "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x82\xAC";
  CHECK(json::Value(raw_utf8).dump() == "\"" + raw_utf8 + "\"");  // written raw, not escaped
  CHECK(json::parse(json::Value(raw_utf8).dump()).as_string() == raw_utf8);

  // Bytes that are not UTF-8 are replaced on output so the file stays valid.
  const std::string written = json::Value(std::string("a\xFF" "b")).dump();
  CHECK(written == "\"a\xEF\xBF\xBD" "b\"");
  CHECK(json::parse(written).as_string() == "a\xEF\xBF\xBD" "b");

  CHECK_THROWS_WITH(json::parse(R"("\ude00")"), Contains("unpaired low surrogate"));
  CHECK_THROWS_WITH(json::parse(R"("\ud83d x")"), Contains("not followed by a low surrogate"));
  CHECK_THROWS_WITH(json::parse(R"("\ud83d\u0041")"), Contains("not a low surrogate"));
  CHECK_THROWS_WITH(json::parse("\"a\xC3(\""), Contains("invalid UTF-8"));
  CHECK_THROWS_WITH(json::parse("\"\xC0\xAF\""), Contains("invalid UTF-8"));  // overlong '/'
  CHECK_THROWS_WITH(json::parse(R"("\x")"), Contains("invalid escape"));
  CHECK_THROWS_WITH(json::parse(R"("\u12G4")"), Contains("4 hex digits"));
}

TEST_CASE("object keys keep insertion order and are found by key", "[json]") {
  json::Value v;
  v["zeta"] = 1;
  v["alpha"] = 2;
  v["mid"] = 3;
  v["alpha"] = 20;  // assignment to an existing key keeps its place
  CHECK(v.dump() == R"({"zeta":1,"alpha":20,"mid":3})");
  const json::Value back = json::parse(R"({"b": 1, "a": 2, "c": 3})");
  std::vector<std::string> keys;
  for (const auto& [key, value] : back.as_object()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"b", "a", "c"});
  CHECK(back.at("a").as_int() == 2);
  CHECK(back.find("zz") == nullptr);
  CHECK(back.contains("c"));

  // Large objects (hash-indexed) keep order and lookups too.
  json::Value big;
  for (int i = 0; i < 200; ++i) big[fmt_key(i)] = i;
  const json::Value big_back = json::parse(big.dump());
  int expected = 0;
  for (const auto& [key, value] : big_back.as_object()) {
    CHECK(value.as_int() == expected);
    ++expected;
  }
  for (int i = 199; i >= 0; i -= 7) CHECK(big_back.at(fmt_key(i)).as_int() == i);
  CHECK(big_back.find("k-1") == nullptr);

  // Objects compare as maps: order does not matter for equality.
  CHECK(json::parse(R"({"x":1,"y":[2]})") == json::parse(R"({"y":[2],"x":1})"));
  CHECK_FALSE(json::parse(R"({"x":1})") == json::parse(R"({"x":2})"));

  CHECK_THROWS_WITH(json::parse(R"({"a": 1, "a": 2})"), Contains("duplicate key \"a\""));
}

TEST_CASE("parse errors give line:column and what was expected", "[json]") {
  struct Case {
    std::string text;
    size_t line, column;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"{\n  \"a\": 1,\n  \"b\" 2\n}", 3, 7, "expected ':' after object key, found '2'"},
      {"[1, 2,]", 1, 7, "expected a value"},
      {"{\"a\": tru}", 1, 7, "expected 'true'"},
      {"[1 2]", 1, 4, "expected ',' or ']' in array, found '2'"},
      {"{\"a\": 1 \"b\": 2}", 1, 9, "expected ',' or '}' in object"},
      {"{1: 2}", 1, 2, "expected a string key"},
      {"012", 1, 2, "leading zeros"},
      {"1.", 1, 3, "after the decimal point"},
      {"-", 1, 2, "digit"},
      {"{} x", 1, 4, "expected end of input after the JSON value, found 'x'"},
      {"", 1, 1, "unexpected end of input, expected a value"},
      {"\n\n   ", 3, 4, "unexpected end of input"},
      {"[\"abc", 1, 6, "unexpected end of input"},
      {"\"a\tb\"", 1, 3, "unescaped control character"},
      {"[\"\xC3\xA9\xC3\xA9\", x]", 1, 8, "expected a value"},  // columns count characters, not bytes
      {"[\r\n  1,\r\n  @]", 3, 3, "found '@'"},
  };
  for (const Case& c : cases) {
    INFO("input: " << c.text);
    const json::ParseError e = parse_error(c.text);
    CHECK(e.line() == c.line);
    CHECK(e.column() == c.column);
    CHECK_THAT(e.what(), Contains(c.says));
    CHECK_THAT(e.what(), Contains(std::to_string(c.line) + ":" + std::to_string(c.column) + ":"));
  }
  CHECK(parse_error("[1, 2").unexpected_end());
  CHECK_FALSE(parse_error("[1, x]").unexpected_end());
  CHECK_THROWS_WITH(json::parse(std::string(1000, '[')), Contains("nesting deeper than"));
  CHECK_THROWS_WITH(json::parse("[1,]", "config.json"), Contains("config.json:1:4:"));
}

TEST_CASE("type errors name the expected and the actual type", "[json]") {
  const json::Value v = json::parse(R"({"lr": "fast", "n": 3, "list": [1, 2], "flag": true})");
  CHECK_THROWS_WITH(v.at("lr").as_number(), Contains("expected number, got string \"fast\""));
  CHECK_THROWS_WITH(v.at("n").as_string(), Contains("expected string, got number 3"));
  CHECK_THROWS_WITH(v.at("list").as_object(), Contains("expected object, got array"));
  CHECK_THROWS_WITH(v.at("flag").as_array(), Contains("expected array, got bool"));
  CHECK_THROWS_WITH(v.at("n").as_bool(), Contains("expected bool, got number"));
  CHECK_THROWS_WITH(v.at("missing_key"), Contains("missing key \"missing_key\""));
  CHECK_THROWS_WITH(v.at("missing_key"), Contains("lr, n, list, flag"));
  CHECK_THROWS_WITH(v.at("list").at(2), Contains("index 2 is out of range"));
  CHECK_THROWS_WITH(v.at("list").at("x"), Contains("expected object, got array"));
  CHECK_THROWS_WITH(v.at("n").size(), Contains("size() needs an array or an object"));
  json::Value list = v.at("list");
  CHECK_THROWS_WITH(list["key"], Contains("expected object, got array"));
  json::Value object = json::Value::object();
  CHECK_THROWS_WITH(object.push_back(1), Contains("expected array, got object"));
  CHECK_THROWS_AS(json::Value().as_number(), json::Error);
}

TEST_CASE("building values: operator[] and push_back start from null", "[json]") {
  json::Value v;
  CHECK(v.is_null());
  v["a"]["b"] = 1;
  CHECK(v.is_object());
  CHECK(v.size() == 1);
  json::Value list;
  list.push_back(1);
  list.push_back("two");
  list.push_back(json::Value::array());
  CHECK(list.is_array());
  CHECK(list.size() == 3);
  CHECK(list.at(1).as_string() == "two");
  list[0] = 1.5;
  CHECK(list.at(0).as_number() == 1.5);
  CHECK_THROWS_WITH(list[3], Contains("index 3 is out of range"));
  CHECK(v.dump() == R"({"a":{"b":1}})");
}

TEST_CASE("NaN and infinity are written as null", "[json]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(json::Value(nan).dump() == "null");
  json::Value line;
  line["step"] = 10;
  line["loss"] = nan;
  line["grad_norm"] = inf;
  line["neg"] = -inf;
  const std::string text = line.dump();
  CHECK(text == R"({"step":10,"loss":null,"grad_norm":null,"neg":null})");
  const json::Value back = json::parse(text);
  CHECK(back.at("loss").is_null());
  CHECK(back.at("step").as_int() == 10);
  CHECK_THROWS_WITH(back.at("loss").as_number(), Contains("expected number, got null"));
  CHECK_THROWS(json::parse("NaN"));
  CHECK_THROWS(json::parse("Infinity"));
}

TEST_CASE("JSON lines: blank lines, line numbers and a truncated tail", "[json]") {
  const std::string complete = "{\"step\":1}\n\n{\"step\":2}\r\n  \n{\"step\":3}\n";
  bool truncated = true;
  std::vector<json::Value> lines = json::parse_lines(complete, &truncated);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].at("step").as_int() == 3);
  CHECK_FALSE(truncated);
  CHECK(json::parse_lines("{\"a\":1}").size() == 1);  // no newline at the end, but complete
  CHECK(json::parse_lines("").empty());

  // A writer killed mid-line: the tail is dropped when asked, an error otherwise.
  const std::string killed = "{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"lo";
  lines = json::parse_lines(killed, &truncated);
  CHECK(truncated);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].at("step").as_int() == 2);
  CHECK_THROWS_WITH(json::parse_lines(killed), Contains("truncated last line"));
  CHECK_THROWS_WITH(json::parse_lines(killed), Contains(":3:"));
  // Cut inside a multi-byte character counts as truncated too.
  CHECK(json::parse_lines("{\"s\":\"caf\xC3", &truncated).empty());
  CHECK(truncated);

  // Real corruption is never mistaken for truncation.
  const std::string bad_middle = "{\"a\":1}\n{\"a\":}\n{\"a\":2}";
  CHECK_THROWS_WITH(json::parse_lines(bad_middle, &truncated), Contains("jsonl:2:6: expected a value"));
  CHECK_THROWS_WITH(json::parse_lines("{\"a\":1}\n{\"a\":1}}", &truncated), Contains("2:8"));
  CHECK_THROWS_WITH(json::parse_lines("{\"a\":1}\n{\"a\":\n", &truncated), !Contains("truncated last line"));
  CHECK_THROWS_AS(json::parse_lines("{\"a\":1}\n{\"a\":\n", &truncated), json::ParseError);
}

TEST_CASE("JSON lines, tolerant: damaged lines and NUL padding are skipped and reported by line", "[json]") {
  // A bad line in the middle, a blank line, then what a power loss leaves at
  // the end: the last line cut short and NUL bytes where data should be.
  const std::string text = std::string("{\"step\":1}\n{\"step\":2,\"lo}\n\n{\"step\":3}\n{\"step\":4,\"l") +
                           std::string(5, '\0') + "\n" + std::string(4096, '\0');
  json::LinesReport report;
  const std::vector<json::Value> lines = json::parse_lines(text, report, "m.jsonl");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].at("step").as_int() == 1);
  CHECK(lines[1].at("step").as_int() == 3);
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

  // A tail cut mid-line (no newline) is dropped as before, not called damage.
  report.damaged.push_back({99, "left over"});  // the report is reset by each parse
  CHECK(json::parse_lines("{\"a\":1}\n{\"a\":", report).size() == 1);
  CHECK(report.truncated_tail);
  CHECK(report.damaged.empty());
  // A clean text reports nothing.
  CHECK(json::parse_lines("{\"a\":1}\n{\"a\":2}\n", report).size() == 2);
  CHECK(report.damaged.empty());
  CHECK_FALSE(report.truncated_tail);
}

TEST_CASE("files: parse_file and parse_lines_file name the path in errors", "[json]") {
  const mhc::test::TempDir tmp;  // removed even when a REQUIRE fails
  const std::filesystem::path& dir = tmp.path;
  const std::string config = (dir / "config.json").string();
  const std::string metrics = (dir / "metrics.jsonl").string();
  std::ofstream(config) << sample_document().dump(2);
  std::ofstream(metrics) << "{\"step\":1,\"loss\":2.5}\n{\"step\":2,\"loss\":2.25}\n{\"step\":3,";
  CHECK(json::parse_file(config) == sample_document());
  bool truncated = false;
  const std::vector<json::Value> lines = json::parse_lines_file(metrics, &truncated);
  CHECK(truncated);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].at("loss").as_number() == 2.25);
  std::ofstream(config) << "{\n\"lr\": }";
  CHECK_THROWS_WITH(json::parse_file(config), Contains(config + ":2:7:"));
  CHECK_THROWS_WITH(json::parse_file((dir / "absent.json").string()), Contains("does not exist"));
}
