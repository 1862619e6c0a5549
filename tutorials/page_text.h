// page_text.h — the text helpers the page checkers share (check_page.cpp,
// check_quotes.cpp): trimming, splitting into lines, and finding where a
// fenced block of a Markdown page closes.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace mhc::page {

inline std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

inline std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  return b == std::string::npos ? std::string() : rstrip(s.substr(b));
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The lines of a text, each without its trailing spaces (or '\r').
inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(rstrip(text.substr(start, end - start)));
    start = end + 1;
  }
  return lines;
}

// For the fence that opens a block at lines[open], the index of the line
// that closes it, or lines.size() when the block is never closed.
inline size_t closing_fence(const std::vector<std::string>& lines, size_t open) {
  size_t close = open + 1;
  while (close < lines.size() && !starts_with(trim(lines[close]), "```")) ++close;
  return close;
}

}  // namespace mhc::page
