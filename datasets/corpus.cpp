// corpus.cpp — locating and reading the training text, and the synthetic corpora.
#include "datasets/corpus.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

#include "autograd/random.h"
#include "fileio/file_io.h"

namespace mhc {

namespace fs = std::filesystem;

// ---- finding the corpus file ----------------------------------------------------

CorpusSearch CorpusSearch::from_environment() {
  CorpusSearch search;
  if (const char* dir = std::getenv("MHC_DATA_DIR"); dir && *dir) search.data_dir = dir;
  std::error_code ec;
  search.cwd = fs::current_path(ec);
  search.executable = fs::read_symlink("/proc/self/exe", ec);
  if (ec) search.executable.clear();
#ifdef MHC_SOURCE_DIR
  search.repo_dir = MHC_SOURCE_DIR;
#endif
  return search;
}

std::vector<std::string> corpus_candidates(const CorpusSearch& search) {
  std::vector<std::string> paths;
  auto add = [&](const fs::path& p) {
    const std::string normal = p.lexically_normal().string();
    if (std::find(paths.begin(), paths.end(), normal) == paths.end()) paths.push_back(normal);
  };
  // The folders holding the executable, from its own up to the root.
  std::vector<fs::path> exe_dirs;
  if (!search.executable.empty()) {
    for (fs::path dir = search.executable.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      exe_dirs.push_back(dir);
      if (dir == dir.parent_path()) break;  // reached the root
    }
  }
  if (search.data_dir) add(fs::path(*search.data_dir) / kDefaultCorpusFile);
  const fs::path own = fs::path("data") / kDefaultCorpusFile;
  if (!search.repo_dir.empty()) add(search.repo_dir / own);
  for (const fs::path& dir : exe_dirs) add(dir / own);
  const fs::path shared = fs::path("shared") / "data" / kDefaultCorpusFile;
  if (!search.cwd.empty()) add(search.cwd / ".." / shared);
  for (const fs::path& dir : exe_dirs) {
    add(dir / shared);
    add(dir / ".." / shared);
  }
  return paths;
}

std::string resolve_corpus_path(const std::string& data_flag) {
  return resolve_corpus_path(data_flag, CorpusSearch::from_environment());
}

std::string resolve_corpus_path(const std::string& data_flag, const CorpusSearch& search) {
  std::error_code ec;
  if (!data_flag.empty()) {
    if (is_synthetic(data_flag))
      throw std::invalid_argument(
          fmt::format("--data '{}' names a built-in synthetic corpus, not a file (use synthetic_corpus())", data_flag));
    if (!fs::exists(data_flag, ec))  // ec: why it cannot be looked at (a loop of symbolic links, permissions)
      throw std::runtime_error(fmt::format("--data '{}': {}", data_flag, ec ? ec.message() : "no such file"));
    return data_flag;
  }

  const std::vector<std::string> candidates = corpus_candidates(search);
  for (const std::string& path : candidates)
    if (fs::is_regular_file(path, ec)) return path;

  std::string message = fmt::format("could not find the training text {}. Looked in, in order:\n", kDefaultCorpusFile);
  if (!search.data_dir) message += "  -  $MHC_DATA_DIR (not set)\n";
  for (size_t i = 0; i < candidates.size(); ++i) message += fmt::format("  {}. {}\n", i + 1, candidates[i]);
  message += fmt::format(
      "The repository carries it as data/{} (is this a full clone?). To get it:\n"
      "  curl -o {} {}\n"
      "then pass --data /path/to/{} or set MHC_DATA_DIR to the folder holding it.\n"
      "Or train on a built-in corpus that needs no file: --data synthetic:addition | synthetic:grammar",
      kDefaultCorpusFile, kDefaultCorpusFile, kCorpusUrl, kDefaultCorpusFile);
  throw std::runtime_error(message);
}

std::string load_text(const std::string& path) {
  std::string text = read_file(path, "text file");
  if (text.empty()) throw std::runtime_error(fmt::format("text file '{}' is empty: nothing to train on", path));
  return text;
}

// ---- synthetic corpora ---------------------------------------------------------------

namespace {

constexpr std::string_view kSyntheticPrefix = "synthetic:";

// "482+1937=2419\n": each operand has 1 to 4 digits (the digit count is
// drawn first, so short numbers are as common as long ones).
std::string addition_line(Rng& rng) {
  auto operand = [&] {
    const int digits = 1 + static_cast<int>(rng.below(4));
    if (digits == 1) return static_cast<int64_t>(rng.below(10));
    int64_t low = 1;
    for (int d = 1; d < digits; ++d) low *= 10;
    return low + static_cast<int64_t>(rng.below(9 * low));  // [10^(d-1), 10^d)
  };
  const int64_t a = operand(), b = operand();
  return fmt::format("{}+{}={}\n", a, b, a + b);
}

template <class T>
const T& pick(const std::vector<T>& options, Rng& rng) {
  return options[rng.below(options.size())];
}

// Appends Determiner(n) [Adjective] Noun(n) to `words`.
void noun_phrase(const GrammarLexicon& lex, bool plural, Rng& rng, std::vector<std::string>& words) {
  words.push_back(pick(plural ? lex.plural_determiners : lex.singular_determiners, rng));
  if (rng.uniform() < 0.4) words.push_back(pick(lex.adjectives, rng));
  const auto& noun = pick(lex.nouns, rng);
  words.push_back(plural ? noun.plural : noun.singular);
}

std::string grammar_sentence(Rng& rng) {
  const GrammarLexicon& lex = grammar_lexicon();
  std::vector<std::string> words;
  const bool plural = rng.uniform() < 0.5;
  noun_phrase(lex, plural, rng, words);
  if (rng.uniform() < 0.3) {  // a distractor noun between subject and verb
    words.push_back(pick(lex.prepositions, rng));
    noun_phrase(lex, rng.uniform() < 0.5, rng, words);
  }
  if (rng.uniform() < 0.5) {
    const auto& verb = pick(lex.transitive_verbs, rng);
    words.push_back(plural ? verb.plural : verb.singular);
    noun_phrase(lex, rng.uniform() < 0.5, rng, words);
  } else {
    const auto& verb = pick(lex.intransitive_verbs, rng);
    words.push_back(plural ? verb.plural : verb.singular);
    if (rng.uniform() < 0.5) words.push_back(pick(lex.adverbs, rng));
  }
  std::string sentence = fmt::format("{}", fmt::join(words, " "));
  sentence[0] = static_cast<char>(sentence[0] - 'a' + 'A');  // every word in the lexicon is lower-case
  return sentence + ".\n";
}

}  // namespace

bool is_synthetic(const std::string& data_flag) {
  return data_flag.compare(0, kSyntheticPrefix.size(), kSyntheticPrefix) == 0;
}

std::vector<std::string> synthetic_corpus_names() { return {"addition", "grammar"}; }

std::string synthetic_corpus(const std::string& name_or_flag, size_t approx_bytes, uint64_t seed) {
  const std::string name = is_synthetic(name_or_flag) ? name_or_flag.substr(kSyntheticPrefix.size()) : name_or_flag;
  std::string (*make_line)(Rng&) = nullptr;
  if (name == "addition") make_line = addition_line;
  if (name == "grammar") make_line = grammar_sentence;
  if (!make_line)
    throw std::invalid_argument(
        fmt::format("unknown synthetic corpus '{}'; available: {}", name, fmt::join(synthetic_corpus_names(), ", ")));
  Rng rng(seed);
  std::string text;
  text.reserve(approx_bytes + 64);
  do text += make_line(rng);
  while (text.size() < approx_bytes);
  return text;
}

const GrammarLexicon& grammar_lexicon() {
  // Every word starts with a consonant, so "a" is always right.
  static const GrammarLexicon lexicon{
      .nouns = {{"cat", "cats"},
                {"dog", "dogs"},
                {"bird", "birds"},
                {"child", "children"},
                {"farmer", "farmers"},
                {"robot", "robots"},
                {"teacher", "teachers"},
                {"fox", "foxes"}},
      .transitive_verbs = {{"sees", "see"},
                           {"likes", "like"},
                           {"chases", "chase"},
                           {"helps", "help"},
                           {"follows", "follow"},
                           {"finds", "find"}},
      .intransitive_verbs =
          {{"sleeps", "sleep"}, {"runs", "run"}, {"sings", "sing"}, {"waits", "wait"}, {"laughs", "laugh"}},
      .singular_determiners = {"the", "a", "every", "this"},
      .plural_determiners = {"the", "some", "many", "these", "two"},
      .adjectives = {"small", "red", "happy", "quiet", "clever", "lazy", "brave", "tiny"},
      .adverbs = {"quickly", "quietly", "today", "again", "loudly"},
      .prepositions = {"near", "with", "behind"},
  };
  return lexicon;
}

}  // namespace mhc
