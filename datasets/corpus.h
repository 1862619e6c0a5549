// corpus.h — where the training text comes from: finding Tiny Shakespeare on
// disk, reading a text file, and the built-in synthetic corpora
// (`--data synthetic:addition`, `--data synthetic:grammar`) that need no download.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mhc {

inline constexpr const char* kDefaultCorpusFile = "tinyshakespeare.txt";
inline constexpr const char* kCorpusUrl =
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt";

// ---- finding the corpus file ----------------------------------------------------

// The facts resolve_corpus_path looks at, gathered in one place so tests can
// substitute their own.
struct CorpusSearch {
  std::optional<std::string> data_dir;  // $MHC_DATA_DIR, when set and non-empty
  std::filesystem::path repo_dir;       // the source tree this program was built from (may have moved)
  std::filesystem::path cwd;            // the current directory
  std::filesystem::path executable;     // the running program (/proc/self/exe); empty if unknown
  static CorpusSearch from_environment();
};

// The default-corpus locations, in the order they are tried:
//   1. $MHC_DATA_DIR/tinyshakespeare.txt;
//   2. the repository's own copy: <repo_dir>/data/tinyshakespeare.txt, then
//      D/data/tinyshakespeare.txt for each folder D holding the executable,
//      up to the root (a build folder sits inside the repository);
//   3. ../shared/data: <cwd>/../shared/data/tinyshakespeare.txt, then for each
//      such D: D/shared/data/… and D/../shared/data/….
// Paths are normalised and each is listed once.
std::vector<std::string> corpus_candidates(const CorpusSearch& search);

// The path of the training text. A non-empty `data_flag` (the --data value)
// must name an existing file and is returned as given. Otherwise the first
// existing corpus_candidates() entry. Throws std::runtime_error listing every
// place looked and how to download the file when there is none.
std::string resolve_corpus_path(const std::string& data_flag);
std::string resolve_corpus_path(const std::string& data_flag, const CorpusSearch& search);

// The whole file (any size). Throws std::runtime_error for a missing,
// unreadable, directory or empty file.
std::string load_text(const std::string& path);

// ---- synthetic corpora ---------------------------------------------------------------

// Whether a --data value selects a built-in corpus ("synthetic:NAME").
bool is_synthetic(const std::string& data_flag);
std::vector<std::string> synthetic_corpus_names();  // {"addition", "grammar"}

// Deterministic text of about `approx_bytes` bytes (whole lines; at least one),
// the same for the same (name, seed) on every machine. `name` may carry the
// "synthetic:" prefix. Unknown names throw std::invalid_argument listing the known ones.
//   addition: "482+1937=2419\n" — operands of 1 to 4 digits, correct sums.
//   grammar:  "The small cat near two dogs sees a bird.\n" — sentences from
//             a fixed context-free grammar (grammar_lexicon()); the verb agrees in
//             number with the subject's noun, not with the nearer noun in the
//             prepositional phrase.
std::string synthetic_corpus(const std::string& name, size_t approx_bytes, uint64_t seed);

// The words of the `grammar` corpus, exposed so tests and probes can check agreement.
//   Sentence     -> NounPhrase(n) [Preposition NounPhrase(any)] VerbPhrase(n) "."
//   NounPhrase(n) -> Determiner(n) [Adjective] Noun(n)
//   VerbPhrase(n) -> TransitiveVerb(n) NounPhrase(any) | IntransitiveVerb(n) [Adverb]
struct GrammarLexicon {
  struct Inflected {
    std::string singular, plural;
  };
  std::vector<Inflected> nouns, transitive_verbs, intransitive_verbs;
  std::vector<std::string> singular_determiners, plural_determiners;
  std::vector<std::string> adjectives, adverbs, prepositions;
};
const GrammarLexicon& grammar_lexicon();

}  // namespace mhc
