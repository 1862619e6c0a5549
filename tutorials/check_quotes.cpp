// check_quotes.cpp — the tutorials' quote check. Every fenced code block a
// page attributes to a source file must still be in that file: the same
// lines, in order and consecutive, where a line reading "..." stands for any
// number of source lines. The marking convention is in docs/tutorial-checks.md:
//
//   <!-- quote: kernels/cpu/sinkhorn_reference.cpp -->   (path from the repository root)
//   ```cpp
//   ...the quoted lines...
//   ```
//
//   check_quotes ROOT [PAGE...]
//
// ROOT is the repository root; without PAGEs it checks ROOT/tutorials/*/README.md.
// Before the pages, it checks its own matcher on blocks that must match and on
// deliberately altered ones that must not (a matcher that accepts anything
// would pass every page). Exits 0 when both hold.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "page_text.h"

namespace fs = std::filesystem;

namespace {

using mhc::page::starts_with;
using mhc::page::trim;

// A line as compared: indentation and trailing spaces dropped, runs of
// spaces and tabs inside it read as one space (so re-aligned comments match).
std::string normalise(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : trim(s)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

bool is_elision(const std::string& line) { return normalise(line) == "..."; }

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Where a block fails to match its source.
struct Mismatch {
  size_t block_line = 0;  // index into the block of its first line that does not match
  long source_line = -1;  // the source line it was compared with (0-based); -1: none
  size_t matched = 0;     // lines of the failing part that did match before it
};

// The block's parts (separated by "..." lines) must appear in `source` as
// consecutive lines, the parts in order, each after the one before. Returns
// nothing on a match; else where the closest alignment of the first failing
// part breaks.
std::optional<Mismatch> match_quote(const std::vector<std::string>& block, const std::vector<std::string>& source) {
  std::vector<std::string> src(source.size());
  std::transform(source.begin(), source.end(), src.begin(), normalise);
  size_t pos = 0;  // the first source line the next part may start at
  size_t i = 0;
  while (i < block.size()) {
    if (is_elision(block[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < block.size() && !is_elision(block[end])) ++end;
    std::vector<std::string> part(block.begin() + i, block.begin() + end);
    for (auto& l : part) l = normalise(l);
    bool found = false;
    size_t best_k = 0, best_start = 0;
    for (size_t s = pos; s < src.size() && !found; ++s) {
      size_t k = 0;
      while (k < part.size() && s + k < src.size() && part[k] == src[s + k]) ++k;
      if (k == part.size()) {
        found = true;
        pos = s + part.size();
      } else if (k > best_k) {
        best_k = k;
        best_start = s;
      }
    }
    if (!found) {
      Mismatch m;
      m.block_line = i + best_k;
      m.matched = best_k;
      m.source_line = best_k > 0 && best_start + best_k < src.size() ? static_cast<long>(best_start + best_k) : -1;
      return m;
    }
    i = end;
  }
  return std::nullopt;
}

// A fenced block marked `<!-- quote: PATH -->` on the line before it.
struct Quote {
  std::string file;                // PATH, from the repository root
  int marker_line = 0;             // 1-based, in the page
  std::vector<std::string> lines;  // the block's contents
  std::vector<int> page_lines;     // their 1-based line numbers in the page
};

struct Page {
  std::vector<Quote> quotes;
  std::vector<std::string> errors;  // "line N: ..."
};

// Languages whose blocks show code from the repository: each needs a quote
// marker, or `<!-- not quoted: REASON -->` for a block written for the page.
bool is_code_language(const std::string& info) {
  const std::string lang = info.substr(0, info.find_first_of(" \t"));
  return lang == "cpp" || lang == "c++" || lang == "c" || lang == "cu" || lang == "cuda";
}

Page read_page(const std::vector<std::string>& text) {
  Page page;
  auto error = [&](int line_no, const std::string& what) {
    page.errors.push_back("line " + std::to_string(line_no) + ": " + what);
  };
  enum class Pending { none, quote, not_quoted } pending = Pending::none;
  Quote marker;
  int marker_line = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    const std::string t = trim(text[i]);
    if (starts_with(t, "```")) {
      const std::string info = trim(t.substr(3));
      const size_t close = mhc::page::closing_fence(text, i);
      if (close == text.size()) {
        error(line_no, "a fenced block that is never closed");
        return page;
      }
      if (pending == Pending::quote) {
        for (size_t j = i + 1; j < close; ++j) {
          marker.lines.push_back(text[j]);
          marker.page_lines.push_back(static_cast<int>(j) + 1);
        }
        if (std::all_of(marker.lines.begin(), marker.lines.end(),
                        [](const std::string& l) { return is_elision(l) || normalise(l).empty(); }))
          error(line_no, "a quoted block with no line of code");
        else
          page.quotes.push_back(marker);
      } else if (pending == Pending::none && is_code_language(info)) {
        error(line_no,
              "a ```" + info +
                  " block with no quote marker; put <!-- quote: PATH --> (PATH from the "
                  "repository root) on the line before it, or <!-- not quoted: REASON --> if the page wrote it");
      }
      pending = Pending::none;
      i = close;
      continue;
    }
    if (pending != Pending::none) error(marker_line, "a quote marker must stand on the line just before its ``` block");
    pending = Pending::none;
    if (!starts_with(t, "<!--")) continue;
    const bool closed = t.size() >= 7 && t.compare(t.size() - 3, 3, "-->") == 0;
    const std::string body = closed ? trim(t.substr(4, t.size() - 7)) : std::string();
    if (starts_with(trim(t.substr(4)), "quote:")) {
      marker = Quote();
      marker.file = trim(body.substr(std::min(body.size(), std::string("quote:").size())));
      marker.marker_line = marker_line = line_no;
      if (!closed || marker.file.empty() || marker.file.find_first_of(" \t") != std::string::npos)
        error(line_no, "a quote marker reads <!-- quote: PATH --> on one line, PATH from the repository root");
      else
        pending = Pending::quote;
    } else if (starts_with(trim(t.substr(4)), "not quoted:")) {
      marker_line = line_no;
      if (!closed || trim(body.substr(std::string("not quoted:").size())).empty())
        error(line_no, "a not-quoted marker reads <!-- not quoted: REASON --> on one line");
      else
        pending = Pending::not_quoted;
    }
  }
  if (pending != Pending::none) error(marker_line, "a quote marker must stand on the line just before its ``` block");
  return page;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The matcher on known cases: each must come out as expected.
int self_check(const std::vector<Page>& pages, const fs::path& root) {
  const std::vector<std::string> source = split(
      "int f(int x) {\n"
      "  int y = x * 2;   // doubled\n"
      "  if (y > 10) {\n"
      "    y -= 10;\n"
      "  }\n"
      "  return y;\n"
      "}\n");
  struct Case {
    const char* what;
    const char* block;
    bool match;
  };
  const Case cases[] = {
      {"the exact lines", "int y = x * 2;   // doubled\n  if (y > 10) {", true},
      {"other indentation and comment alignment", "    int y = x * 2; // doubled\nif (y > 10) {", true},
      {"an elision", "int f(int x) {\n...\n  return y;\n}", true},
      {"an elision standing for no line", "int y = x * 2;   // doubled\n...\n  if (y > 10) {", true},
      {"one character altered", "int y = x * 3;   // doubled\n  if (y > 10) {", false},
      {"a line that is not in the file", "  int y = x * 2;   // doubled\n  y += 1;\n  if (y > 10) {", false},
      {"lines out of order", "  if (y > 10) {\n  int y = x * 2;   // doubled", false},
      {"lines not consecutive, without ...", "int f(int x) {\n  return y;", false},
      {"parts out of order", "  return y;\n...\nint f(int x) {", false},
  };
  int failures = 0;
  for (const Case& c : cases)
    if (match_quote(split(c.block), source).has_value() == c.match) {
      std::cout << "check_quotes: self-check failed: a block with " << c.what << " should " << (c.match ? "" : "not ")
                << "match\n";
      ++failures;
    }
  // And on a real quote: altering any one of its lines must make it stale.
  for (const Page& page : pages)
    for (const Quote& q : page.quotes) {
      const std::vector<std::string> source_lines = read_lines(root / q.file);
      if (match_quote(q.lines, source_lines)) continue;  // stale already: reported with its page
      for (size_t i = 0; i < q.lines.size(); ++i) {
        if (is_elision(q.lines[i]) || normalise(q.lines[i]).empty()) continue;
        std::vector<std::string> altered = q.lines;
        altered[i] += " /* altered */";
        if (!match_quote(altered, source_lines)) {
          std::cout << "check_quotes: self-check failed: a quote of " << q.file << " with line " << i + 1
                    << " altered still matches\n";
          ++failures;
        }
      }
      return failures;  // one real block is enough
    }
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: check_quotes ROOT [PAGE...]\n"
                 "  checks that every block a page marks <!-- quote: PATH --> is still in ROOT/PATH\n";
    return 2;
  }
  const fs::path root = argv[1];
  std::vector<fs::path> paths;
  for (int a = 2; a < argc; ++a) paths.emplace_back(argv[a]);
  if (paths.empty()) {
    if (!fs::is_directory(root / "tutorials")) {
      std::cerr << "check_quotes: " << root << " has no tutorials/ folder; is it the repository root?\n";
      return 2;
    }
    for (const auto& entry : fs::directory_iterator(root / "tutorials"))
      if (entry.is_directory() && fs::exists(entry.path() / "README.md")) paths.push_back(entry.path() / "README.md");
    std::sort(paths.begin(), paths.end());
  }

  std::vector<Page> pages;
  for (const fs::path& p : paths) {
    if (!fs::is_regular_file(p)) {
      std::cerr << "check_quotes: cannot read the page " << p << "\n";
      return 2;
    }
    pages.push_back(read_page(read_lines(p)));
  }

  int failures = self_check(pages, root);
  size_t total = 0, stale = 0;
  for (size_t pi = 0; pi < pages.size(); ++pi) {
    const Page& page = pages[pi];
    const std::string page_path = paths[pi].string();
    for (const std::string& e : page.errors) {
      std::cout << "check_quotes: " << page_path << ": " << e << "\n";
      ++failures;
    }
    for (const Quote& q : page.quotes) {
      ++total;
      const fs::path file = root / q.file;
      const std::string where = page_path + ":" + std::to_string(q.marker_line) + ": the quote of " + q.file;
      if (!fs::is_regular_file(file)) {
        std::cout << "check_quotes: " << where << " names a file that does not exist (paths are from the "
                  << "repository root)\n";
        ++stale;
        continue;
      }
      const std::vector<std::string> source = read_lines(file);
      const std::optional<Mismatch> m = match_quote(q.lines, source);
      if (!m) continue;
      ++stale;
      std::cout << "check_quotes: " << where << " is not in " << q.file << " any more\n"
                << "  first line not found, page line " << q.page_lines[m->block_line] << ":\n"
                << "  - page:   " << trim(q.lines[m->block_line]) << "\n";
      if (m->source_line >= 0)
        std::cout << "  + source: " << trim(source[m->source_line]) << "   (" << q.file << ":" << m->source_line + 1
                  << ", after " << m->matched << " matching line(s))\n";
      else
        std::cout << "  + source: (no alignment of this part of the block matches its first line)\n";
    }
  }
  std::cout << "check_quotes: " << stale << " of " << total << " quoted block(s) stale in " << pages.size()
            << " page(s)\n";
  if (failures > 0 || stale > 0) {
    std::cout << "check_quotes: copy the current code into the page (or fix the marker)\n";
    return 1;
  }
  return 0;
}
