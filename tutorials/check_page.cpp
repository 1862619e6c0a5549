// check_page.cpp — the tutorials' output check. Runs one tutorial program and
// asserts that every fenced block its page marks as that program's output
// appears, line for line, in what the program printed. The marking
// convention is described in docs/tutorial-checks.md.
//
//   check_page PAGE.md NAME PROGRAM [ARGS...]
//
// Exits 0 when the program exits 0 and every checked block matches; on a
// mismatch it names the page, the block and the first differing line.
//
// A block marked `(within REL: REASON)` holds figures whose last digits
// depend on the order of floating-point additions (the BLAS kernel, FMA
// contraction, -march): there every decimal number agrees when it is within
// REL relative, or one unit of the page's last printed digit; integers and
// all other text must still be equal.
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "page_text.h"

namespace {

using mhc::page::rstrip;
using mhc::page::split_lines;
using mhc::page::starts_with;
using mhc::page::trim;

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A fenced block marked `<!-- output: NAME -->` or
// `<!-- output: NAME (not checked: REASON) -->` on the line before it.
struct OutputBlock {
  std::string program;             // NAME
  bool checked = true;             // false: "(not checked: ...)"
  double within = 0;               // > 0: "(within REL: ...)", decimals compared to REL relative
  int marker_line = 0;             // 1-based line of the marker in the page
  std::vector<std::string> lines;  // the block's contents
  std::vector<int> page_lines;     // their 1-based line numbers in the page
};

struct Page {
  std::vector<OutputBlock> blocks;
  std::vector<std::string> errors;  // convention violations, "line N: ..."
};

// Parses a marker line into `block`. Returns false when the line is no
// marker; sets `error` when it is a malformed one.
bool parse_marker(const std::string& line, OutputBlock& block, std::string& error) {
  const std::string t = trim(line);
  if (!starts_with(t, "<!--") || t.find("output:") == std::string::npos) return false;
  const std::string form =
      "an output marker reads <!-- output: NAME -->, <!-- output: NAME (within REL: REASON) --> or "
      "<!-- output: NAME (not checked: REASON) -->";
  if (t.size() < 7 || t.compare(t.size() - 3, 3, "-->") != 0) {
    error = "an output marker must be one line ending in -->";
    return true;
  }
  std::string body = trim(t.substr(4, t.size() - 7));
  if (!starts_with(body, "output:")) {
    error = form;
    return true;
  }
  body = trim(body.substr(7));
  const size_t space = body.find_first_of(" \t");
  block.program = body.substr(0, space);
  const std::string rest = space == std::string::npos ? std::string() : trim(body.substr(space));
  if (block.program.empty()) error = form;
  if (rest.empty()) return true;
  if (starts_with(rest, "(within ")) {
    const size_t colon = rest.find(':');
    char* end = nullptr;
    const std::string rel = colon == std::string::npos ? std::string() : trim(rest.substr(8, colon - 8));
    block.within = std::strtod(rel.c_str(), &end);
    if (rel.empty() || *end != '\0' || !(block.within > 0 && block.within < 1) || rest.back() != ')' ||
        trim(rest.substr(colon + 1, rest.size() - colon - 2)).empty())
      error = form + " (REL a number between 0 and 1, and a reason); got \"" + rest + "\" after the name";
    return true;
  }
  const std::string prefix = "(not checked:";
  if (!starts_with(rest, prefix) || rest.back() != ')' ||
      trim(rest.substr(prefix.size(), rest.size() - prefix.size() - 1)).empty())
    error = form + "; got \"" + rest + "\" after the name";
  block.checked = false;
  return true;
}

Page read_page(const std::vector<std::string>& text) {
  Page page;
  auto error = [&](int line_no, const std::string& what) {
    page.errors.push_back("line " + std::to_string(line_no) + ": " + what);
  };
  bool pending = false;  // the previous line was a marker
  OutputBlock marker;
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
      if (pending) {
        if (!info.empty()) error(line_no, "an output block takes no language (```" + info + ")");
        for (size_t j = i + 1; j < close; ++j) {
          marker.lines.push_back(text[j]);
          marker.page_lines.push_back(static_cast<int>(j) + 1);
        }
        if (marker.lines.empty()) error(line_no, "an empty output block");
        page.blocks.push_back(marker);
      } else if (info.empty()) {
        error(line_no,
              "a fenced block with neither a language nor an output marker; mark it "
              "<!-- output: NAME --> on the line before, or give it a language (```sh, ```text)");
      }
      pending = false;
      i = close;
      continue;
    }
    if (pending) error(marker.marker_line, "an output marker must stand on the line just before its ``` block");
    pending = false;
    OutputBlock candidate;
    std::string what;
    if (parse_marker(text[i], candidate, what)) {
      if (!what.empty()) error(line_no, what);
      candidate.marker_line = line_no;
      marker = candidate;
      pending = true;
    }
  }
  if (pending) error(marker.marker_line, "an output marker must stand on the line just before its ``` block");
  return page;
}

// The length of the number that starts at s[i] ("-12", "3.25", "1.5e-07"),
// or 0. A sign counts only where no letter or digit stands before it.
size_t number_at(const std::string& s, size_t i, bool* decimal) {
  size_t j = i;
  if (j < s.size() && s[j] == '-' && (j == 0 || !std::isalnum(static_cast<unsigned char>(s[j - 1])))) ++j;
  const size_t digits = j;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  if (j == digits || (i > 0 && (std::isalnum(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == '.'))) return 0;
  *decimal = false;
  if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
    *decimal = true;
    for (++j; j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]));) ++j;
  }
  if (j + 1 < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    size_t k = j + 1;
    if (s[k] == '-' || s[k] == '+') ++k;
    if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
      *decimal = true;
      while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) ++k;
      j = k;
    }
  }
  return j - i;
}

// One unit of the last digit a number is printed with: 1e-4 for "3.2979",
// 1e-9 for "1.25e-07".
double last_digit_unit(const std::string& number) {
  const size_t e = number.find_first_of("eE"), dot = number.find('.');
  const std::string mantissa = number.substr(0, e);
  const int decimals =
      dot == std::string::npos || dot > mantissa.size() ? 0 : static_cast<int>(mantissa.size() - dot - 1);
  const int exponent = e == std::string::npos ? 0 : std::atoi(number.c_str() + e + 1);
  return std::pow(10.0, exponent - decimals);
}

// A page line against an output line: equal text, or (rel > 0) equal text
// with decimal numbers in the same places, each within rel relative or one
// unit of the page's last digit of the printed one.
bool line_matches(const std::string& page, const std::string& out, double rel) {
  if (rel <= 0) return rstrip(page) == out;
  const std::string p = rstrip(page);
  size_t i = 0, j = 0;
  while (i < p.size() && j < out.size()) {
    bool dec_p = false, dec_o = false;
    const size_t np = number_at(p, i, &dec_p), no = number_at(out, j, &dec_o);
    if (np > 0 && no > 0 && dec_p && dec_o) {
      const std::string a = p.substr(i, np), b = out.substr(j, no);
      const double x = std::strtod(a.c_str(), nullptr), y = std::strtod(b.c_str(), nullptr);
      if (!(std::fabs(x - y) <= rel * std::max(std::fabs(x), std::fabs(y)) + last_digit_unit(a))) return false;
      i += np, j += no;
      continue;
    }
    if (p[i] != out[j]) return false;
    ++i, ++j;
  }
  return i == p.size() && j == out.size();
}

// Where a block disagrees with the output, at the closest alignment of the
// part that fails (0-based indices).
struct Mismatch {
  size_t block_index = 0;  // the block's first differing line
  long output_index = -1;  // the output line it was compared with; -1: none (output ended, or no alignment)
  size_t matched = 0;      // lines of the part that matched before it
  long part_start = -1;    // the output line where the part was aligned; -1: no line of it matched anywhere
};

// Parts of a block are separated by lines reading "..." (any number of
// output lines, also none). Each part must appear as consecutive output
// lines, the parts in order. Returns true on a match; otherwise `m` says
// where the closest alignment of the first failing part breaks.
bool match_block(const OutputBlock& block, const std::vector<std::string>& out, Mismatch& m) {
  size_t pos = 0;  // the next output line a part may start at
  size_t i = 0;
  while (i < block.lines.size()) {
    if (trim(block.lines[i]) == "...") {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < block.lines.size() && trim(block.lines[end]) != "...") ++end;
    const size_t len = end - i;
    bool found = false;
    size_t best_k = 0, best_start = pos;
    for (size_t s = pos; s < out.size() && !found; ++s) {
      size_t k = 0;
      while (k < len && s + k < out.size() && line_matches(block.lines[i + k], out[s + k], block.within)) ++k;
      if (k == len) {
        found = true;
        pos = s + len;
      } else if (k > best_k) {
        best_k = k;
        best_start = s;
      }
    }
    if (!found) {
      m.block_index = i + best_k;
      m.matched = best_k;
      m.part_start = best_k > 0 ? static_cast<long>(best_start) : -1;
      m.output_index = best_k > 0 && best_start + best_k < out.size() ? static_cast<long>(best_start + best_k) : -1;
      return false;
    }
    i = end;
  }
  return true;
}

// Runs the program (argv[3..]) through the shell; returns its output and sets its status.
std::string run_program(int argc, char** argv, int& status) {
  std::string command;
  for (int a = 3; a < argc; ++a) command += (a > 3 ? " " : "") + shell_quote(argv[a]);
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  status = pclose(pipe);
  return output;
}

// One block against the output: prints where it differs; returns whether it matched.
bool check_block(const OutputBlock& block, const std::vector<std::string>& out, const std::string& where,
                 const std::string& name) {
  Mismatch m;
  if (match_block(block, out, m)) return true;
  std::cout << "\ncheck_page: " << where << " differs from what " << name << " prints now\n"
            << "  first differing line, page line " << block.page_lines[m.block_index] << ":\n"
            << "  - page:    " << block.lines[m.block_index] << "\n";
  if (m.matched == 0)
    std::cout << "  + program: (no line of its output is this one)\n";
  else if (m.output_index < 0)
    std::cout << "  + program: (its output ends here)\n";
  else
    std::cout << "  + program: " << out[m.output_index] << "\n";
  if (m.matched > 0)
    std::cout << "  (the " << m.matched << " line(s) before it match the program's output from its line "
              << m.part_start + 1 << ")\n";
  return false;
}

struct Tally {
  int failures = 0, checked = 0, unchecked = 0;
};

// Every block the page marks, checked against the program's output.
void check_blocks(const Page& page, const std::vector<std::string>& out, const std::string& page_path,
                  const std::string& name, Tally& t) {
  for (const std::string& e : page.errors) {
    std::cout << "\ncheck_page: " << page_path << ": " << e << "\n";
    ++t.failures;
  }
  if (page.blocks.empty()) {
    std::cout << "\ncheck_page: " << page_path << " marks no block as output (<!-- output: " << name << " -->)\n";
    ++t.failures;
  }
  for (size_t b = 0; b < page.blocks.size(); ++b) {
    const OutputBlock& block = page.blocks[b];
    const std::string where = page_path + ":" + std::to_string(block.marker_line) + ": output block " +
                              std::to_string(b + 1) + " of " + std::to_string(page.blocks.size());
    if (!block.checked) {
      ++t.unchecked;
      continue;
    }
    if (block.program != name) {
      std::cout << "\ncheck_page: " << where << " is marked as output of " << block.program << ", but this test runs "
                << name << "; mark it (not checked: REASON) if no test can run it\n";
      ++t.failures;
      continue;
    }
    ++t.checked;
    if (!check_block(block, out, where, name)) ++t.failures;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: check_page PAGE.md NAME PROGRAM [ARGS...]\n"
                 "  runs PROGRAM and checks the blocks PAGE.md marks as NAME's output\n";
    return 2;
  }
  const std::string page_path = argv[1], name = argv[2];
  std::ifstream in(page_path);
  if (!in) {
    std::cerr << "check_page: cannot read the page " << page_path << "\n";
    return 2;
  }
  std::vector<std::string> text;
  for (std::string line; std::getline(in, line);) text.push_back(rstrip(line));

  int status = 0;
  std::string output;
  try {
    output = run_program(argc, argv, status);
  } catch (const std::runtime_error& e) {
    std::cerr << "check_page: " << e.what() << "\n";
    return 2;
  }
  std::cout << output << std::flush;  // the program's own output, as ctest showed it before
  Tally t;
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cout << "\ncheck_page: " << name << " failed (exit status "
              << (WIFEXITED(status) ? std::to_string(WEXITSTATUS(status)) : "abnormal") << ")\n";
    ++t.failures;
  }
  check_blocks(read_page(text), split_lines(output), page_path, name, t);
  if (t.failures > 0) {
    std::cout << "\ncheck_page: " << page_path << ": " << t.failures
              << " problem(s); copy the program's output above into the page (or fix the program)\n";
    return 1;
  }
  std::cout << "\ncheck_page: " << page_path << ": " << t.checked << " block(s) match " << name << "'s output"
            << (t.unchecked ? ", " + std::to_string(t.unchecked) + " marked not checked" : std::string()) << "\n";
  return 0;
}
