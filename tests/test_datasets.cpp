// test_datasets.cpp — tokenizers, corpora, the token cache, the train/val
// split and the batch sampler (datasets/).
#include <catch2/catch.hpp>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include "datasets/batches.h"
#include "datasets/bpe_tokenizer.h"
#include "datasets/char_tokenizer.h"
#include "datasets/corpus.h"
#include "fileio/file_io.h"
#include "datasets/token_cache.h"
#include "fileio/utf8.h"
#include "test_files.h"

using namespace mhc;
using Catch::Contains;
using Catch::EndsWith;
namespace fs = std::filesystem;

namespace {

using mhc::test::read_bytes;
using mhc::test::TempDir;
using mhc::test::write_bytes;

// Sets (or unsets, with nullopt) an environment variable and restores it at scope exit.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const std::optional<std::string>& value) : name(std::move(n)) {
    if (const char* v = getenv(name.c_str())) old = v;
    if (value)
      setenv(name.c_str(), value->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    if (old)
      setenv(name.c_str(), old->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

// Tiny Shakespeare, found the way the trainer finds it; nullopt (with a
// visible warning) on a machine without it.
const std::optional<std::string>& shakespeare() {
  static const std::optional<std::string> text = []() -> std::optional<std::string> {
    try {
      return load_text(resolve_corpus_path(""));
    } catch (const std::exception& e) {
      return std::nullopt;
    }
  }();
  return text;
}
#define REQUIRE_SHAKESPEARE_OR_SKIP()                                                   \
  if (!shakespeare()) {                                                                 \
    WARN("SKIPPED: tinyshakespeare.txt not found (set MHC_DATA_DIR to run this test)"); \
    return;                                                                             \
  }

// One BPE tokenizer trained on Tiny Shakespeare, shared by the tests that need it.
const BpeTokenizer& shakespeare_bpe512() {
  static const BpeTokenizer tok = BpeTokenizer::train(*shakespeare(), 512);
  return tok;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

// ---- character tokenizer ---------------------------------------------------------

TEST_CASE("char tokenizer: Tiny Shakespeare has 65 characters and round-trips", "[datasets][char]") {
  REQUIRE_SHAKESPEARE_OR_SKIP();
  const std::string& text = *shakespeare();
  const CharTokenizer tok = CharTokenizer::train(text);
  CHECK(tok.vocab_size() == 65);
  CHECK(tok.code_points().front() == U'\n');
  CHECK(std::is_sorted(tok.code_points().begin(), tok.code_points().end()));
  const std::vector<int32_t> ids = tok.encode(text);
  CHECK(ids.size() == text.size());  // all ASCII: one id per byte
  CHECK(tok.decode(ids) == text);
}

TEST_CASE("char tokenizer: multi-byte UTF-8 characters are single tokens", "[datasets][char]") {
  // a, é (2 bytes), 日 (3 bytes), 😀 (4 bytes), space: 5 distinct code points.
  const std::string text = "a\u00e9 \u65e5\U0001F600 a\u00e9\u00e9\U0001F600";
  const CharTokenizer tok = CharTokenizer::train(text);
  REQUIRE(tok.vocab_size() == 5);
  CHECK(tok.code_points() == std::vector<char32_t>{U' ', U'a', 0xE9, 0x65E5, 0x1F600});
  const std::vector<int32_t> ids = tok.encode(text);
  CHECK(ids == std::vector<int32_t>{1, 2, 0, 3, 4, 0, 1, 2, 2, 4});
  CHECK(tok.decode(ids) == text);
  CHECK(tok.decode({4}) == "\xF0\x9F\x98\x80");
}

TEST_CASE("char tokenizer: unknown characters and invalid UTF-8 are named", "[datasets][char]") {
  const CharTokenizer tok = CharTokenizer::train("abc\n");
  CHECK_THROWS_WITH(tok.encode("abd"), Contains("'d' (U+0064)") && Contains("byte offset 2"));
  CHECK_THROWS_WITH(tok.encode("ab\u00e9"), Contains("U+00E9") && Contains("byte offset 2"));
  CHECK_THROWS_WITH(tok.decode({0, 4}), Contains("outside [0, 4)"));

  CHECK_THROWS_WITH(CharTokenizer::train("ab\xff"), Contains("byte offset 2"));
  CHECK_THROWS_WITH(CharTokenizer::train("xy\xe6\x97"), Contains("byte offset 2") && Contains("ends in the middle"));
  CHECK_THROWS_WITH(CharTokenizer::train("\xc0\xaf"), Contains("overlong"));
  CHECK_THROWS_WITH(CharTokenizer::train("a\xed\xa0\x80"), Contains("surrogate") && Contains("byte offset 1"));
  CHECK_THROWS_WITH(CharTokenizer::train("\x80"), Contains("continuation byte"));
  CHECK_THROWS_WITH(tok.encode("a\xe6(b"), Contains("byte offset 1"));
  CHECK_THROWS_WITH(CharTokenizer::train(""), Contains("empty"));
}

// ---- BPE -----------------------------------------------------------------------------------

TEST_CASE("bpe: words split at letter digit punctuation and space runs", "[datasets][bpe]") {
  const std::string text = "Hello, world  42x\n\nfoo caf\u00e9!\nStay.\n\n'Tis I'll -- 'x\t";
  const std::vector<std::string_view> words = split_into_words(text);
  CHECK(words == std::vector<std::string_view>{"Hello", ",", " world", " ", " 42", "x", "\n\n", "foo", " caf\u00e9",
                                               "!\n", "Stay", ".\n\n", "'Tis", " I", "'ll", " --", " 'x", "\t"});
  std::string joined;
  for (auto w : words) joined += w;
  CHECK(joined == text);
}

TEST_CASE("bpe: merges on a hand-made corpus", "[datasets][bpe]") {
  // Words: "abab", " abab", " ab". Pair counts: (a,b)=5, (b,a)=2, (' ',a)=2.
  //   merge 0: (a,b) -> 256.   words: [256 256] [' ' 256 256] [' ' 256]
  //   pairs (' ',256)=2 and (256,256)=2 tie; the smaller pair wins:
  //   merge 1: (32,256) -> 257. words: [256 256] [257 256] [257]
  //   (256,256)=1 and (257,256)=1 tie:
  //   merge 2: (256,256) -> 258; merge 3: (257,256) -> 259; then no pairs are left.
  const BpeTokenizer tok = BpeTokenizer::train("abab abab ab", 300);
  REQUIRE(tok.merges().size() == 4);
  CHECK(tok.merges()[0].left == 'a');
  CHECK(tok.merges()[0].right == 'b');
  CHECK(tok.merges()[1].left == ' ');
  CHECK(tok.merges()[1].right == 256);
  CHECK(tok.merges()[2].left == 256);
  CHECK(tok.merges()[2].right == 256);
  CHECK(tok.merges()[3].left == 257);
  CHECK(tok.merges()[3].right == 256);
  CHECK(tok.vocab_size() == 260);  // stopped early: asked for 300
  CHECK(tok.token_bytes(259) == " abab");
  CHECK(tok.encode("abab abab ab") == std::vector<int32_t>{258, 259, 257});
  CHECK(tok.encode("ab ab") == std::vector<int32_t>{256, 257});
  CHECK(tok.encode("ba") == std::vector<int32_t>{'b', 'a'});
  CHECK(tok.encode("ababab") == std::vector<int32_t>{258, 256});  // merges apply left to right
  CHECK_THROWS_WITH(BpeTokenizer::train("abc", 255), Contains("below 256"));
}

TEST_CASE("bpe: Tiny Shakespeare at vocab 512 round-trips and compresses", "[datasets][bpe]") {
  REQUIRE_SHAKESPEARE_OR_SKIP();
  const std::string& text = *shakespeare();
  const BpeTokenizer& tok = shakespeare_bpe512();
  CHECK(tok.vocab_size() == 512);
  const std::vector<int32_t> ids = tok.encode(text);
  CHECK(tok.decode(ids) == text);
  const double tokens_per_byte = static_cast<double>(ids.size()) / static_cast<double>(text.size());
  INFO("tokens per byte " << tokens_per_byte);
  CHECK(tokens_per_byte < 0.5);
  // No token spans two words: every merged token's bytes form a single word.
  for (int32_t id = 256; id < tok.vocab_size(); ++id) CHECK(split_into_words(tok.token_bytes(id)).size() == 1);
}

TEST_CASE("bpe: any byte string round-trips even with bytes never seen in training", "[datasets][bpe]") {
  const BpeTokenizer small = BpeTokenizer::train("the cat sat on the mat; the cat ate.", 280);
  Rng rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::string bytes(1 + rng.below(300), '\0');
    for (auto& b : bytes) b = static_cast<char>(trial % 2 ? rng.below(256) : "the cat \xff\x00\n"[rng.below(11)]);
    const std::vector<int32_t> ids = small.encode(bytes);
    CHECK(small.decode(ids) == bytes);
    if (shakespeare()) CHECK(shakespeare_bpe512().decode(shakespeare_bpe512().encode(bytes)) == bytes);
  }
  CHECK(small.encode("").empty());
  CHECK(small.vocab_size() < 280);  // this short text runs out of pairs first
  CHECK_THROWS_WITH(small.decode({small.vocab_size()}),
                    Contains("outside [0, " + std::to_string(small.vocab_size()) + ")"));
}

TEST_CASE("bpe: training is deterministic", "[datasets][bpe]") {
  REQUIRE_SHAKESPEARE_OR_SKIP();
  const std::string& text = *shakespeare();
  const BpeTokenizer a = BpeTokenizer::train(text, 1024);
  const BpeTokenizer b = BpeTokenizer::train(text, 1024);
  CHECK(a.vocab_size() == 1024);
  CHECK(a.fingerprint() == b.fingerprint());
  CHECK(a.encode(text) == b.encode(text));
  // The first 256 merges of a 1024 vocabulary are the 512 vocabulary's merges.
  const BpeTokenizer& c = shakespeare_bpe512();
  for (size_t r = 0; r < c.merges().size(); ++r) {
    CHECK(a.merges()[r].left == c.merges()[r].left);
    CHECK(a.merges()[r].right == c.merges()[r].right);
  }
  CHECK(c.fingerprint() != a.fingerprint());
}

// ---- tokenizer files ------------------------------------------------------------------------

TEST_CASE("tokenizer files: save and load both kinds", "[datasets][tokenizer]") {
  TempDir dir;
  const std::string text = "To be, or not to be: that is the question.\n\u00bfQu\u00e9?\n";
  const CharTokenizer chars = CharTokenizer::train(text);
  const BpeTokenizer bpe = BpeTokenizer::train(text, 300);
  const Tokenizer* originals[] = {&chars, &bpe};
  for (const Tokenizer* original : originals) {
    const std::string path = dir.file(original->kind() + ".tok");
    original->save(path);
    CHECK_FALSE(fs::exists(path + ".tmp"));
    const std::unique_ptr<Tokenizer> loaded = Tokenizer::load(path);
    CHECK(loaded->kind() == original->kind());
    CHECK(loaded->vocab_size() == original->vocab_size());
    CHECK(loaded->fingerprint() == original->fingerprint());
    CHECK(loaded->encode(text) == original->encode(text));
  }
  CHECK(chars.fingerprint() != bpe.fingerprint());
}

TEST_CASE("tokenizer files: missing or truncated or corrupt files are named", "[datasets][tokenizer]") {
  TempDir dir;
  const BpeTokenizer bpe = BpeTokenizer::train("she sells sea shells by the sea shore", 270);
  const std::string good = dir.file("good.tok");
  bpe.save(good);
  const std::string contents = read_bytes(good);

  CHECK_THROWS_WITH(Tokenizer::load(dir.file("nope.tok")), Contains("nope.tok") && Contains("does not exist"));

  const std::string truncated = dir.file("truncated.tok");
  write_bytes(truncated, contents.substr(0, contents.size() / 2));
  CHECK_THROWS_WITH(Tokenizer::load(truncated), Contains("truncated.tok") && Contains("truncated"));
  write_bytes(truncated, contents.substr(0, contents.size() - 5));  // inside the checksum line
  CHECK_THROWS_WITH(Tokenizer::load(truncated), Contains("truncated"));

  std::string flipped = contents;
  const size_t merge_line = flipped.find("merges ");
  REQUIRE(merge_line != std::string::npos);
  const size_t digit = flipped.find_first_of("0123456789", flipped.find('\n', merge_line));
  flipped[digit] = flipped[digit] == '1' ? '2' : '1';
  const std::string corrupt = dir.file("corrupt.tok");
  write_bytes(corrupt, flipped);
  CHECK_THROWS_WITH(Tokenizer::load(corrupt), Contains("corrupt.tok") && Contains("checksum"));

  const std::string empty = dir.file("empty.tok");
  write_bytes(empty, "");
  CHECK_THROWS_WITH(Tokenizer::load(empty), Contains("empty"));

  const std::string other = dir.file("other.txt");
  write_bytes(other, "hello\nworld\n");
  CHECK_THROWS_WITH(Tokenizer::load(other), Contains("not an mhc tokenizer file"));
  CHECK_THROWS_WITH(Tokenizer::load(dir.path.string()), Contains("is a directory"));
}

// ---- corpus -------------------------------------------------------------------------------

TEST_CASE("corpus: a failed search lists every place in order and how to fetch the file", "[datasets][corpus]") {
  TempDir dir;
  fs::create_directories(dir.path / "empty");
  fs::create_directories(dir.path / "a" / "b" / "bin");
  CorpusSearch search;
  search.data_dir = (dir.path / "empty").string();
  search.repo_dir = dir.path / "repo";
  search.cwd = dir.path / "a" / "b";
  search.executable = dir.path / "a" / "b" / "bin" / "mhc";
  try {
    resolve_corpus_path("", search);
    FAIL("expected an exception");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    INFO(message);
    const std::vector<fs::path> expected = {
        dir.path / "empty" / "tinyshakespeare.txt",                                // $MHC_DATA_DIR
        dir.path / "repo" / "data" / "tinyshakespeare.txt",                        // the repository's copy
        dir.path / "a" / "b" / "bin" / "data" / "tinyshakespeare.txt",             // around the program
        dir.path / "a" / "b" / "data" / "tinyshakespeare.txt",                     // and upwards
        dir.path / "a" / "shared" / "data" / "tinyshakespeare.txt",                // <cwd>/../shared
        dir.path / "a" / "b" / "bin" / "shared" / "data" / "tinyshakespeare.txt",  // next to the program
        dir.path / "a" / "b" / "shared" / "data" / "tinyshakespeare.txt",          // and upwards
        fs::path("/shared/data/tinyshakespeare.txt"),                              // up to the root
    };
    size_t last = 0;
    for (const fs::path& p : expected) {
      const size_t at = message.find(". " + p.string() + "\n");
      CHECK(at != std::string::npos);
      CHECK(at >= last);
      if (at != std::string::npos) last = at;
    }
    CHECK_THAT(message, Contains("curl -o tinyshakespeare.txt https://raw.githubusercontent.com/karpathy/char-rnn/"
                                 "master/data/tinyshakespeare/input.txt"));
    CHECK_THAT(message, Contains("--data") && Contains("MHC_DATA_DIR"));
    CHECK_THAT(message, Contains("--data synthetic:addition | synthetic:grammar"));
  }
}

TEST_CASE("corpus: lookup order", "[datasets][corpus]") {
  TempDir dir;
  // The copy reached through <cwd>/../shared is found when there is no other.
  fs::create_directories(dir.path / "root" / "shared" / "data");
  fs::create_directories(dir.path / "root" / "work");
  write_bytes(dir.file("root/shared/data/tinyshakespeare.txt"), "shared\n");
  CorpusSearch search;
  search.cwd = dir.path / "root" / "work";
  search.executable = dir.path / "elsewhere" / "build" / "mhc";
  CHECK(resolve_corpus_path("", search) == (dir.path / "root/shared/data/tinyshakespeare.txt").string());

  // The repository's own data/ (found above the program's build folder) comes before ../shared.
  fs::create_directories(dir.path / "elsewhere" / "data");
  write_bytes(dir.file("elsewhere/data/tinyshakespeare.txt"), "repo\n");
  CHECK(resolve_corpus_path("", search) == (dir.path / "elsewhere/data/tinyshakespeare.txt").string());
  // ... and the source tree it was built from before that.
  fs::create_directories(dir.path / "src" / "data");
  write_bytes(dir.file("src/data/tinyshakespeare.txt"), "source tree\n");
  search.repo_dir = dir.path / "src";
  CHECK(resolve_corpus_path("", search) == (dir.path / "src/data/tinyshakespeare.txt").string());

  // $MHC_DATA_DIR comes first, from the real environment too.
  fs::create_directories(dir.path / "env");
  write_bytes(dir.file("env/tinyshakespeare.txt"), "from env\n");
  search.data_dir = dir.file("env");
  CHECK(resolve_corpus_path("", search) == (dir.path / "env/tinyshakespeare.txt").string());
  ScopedEnv env("MHC_DATA_DIR", dir.file("env"));
  CHECK(resolve_corpus_path("") == (dir.path / "env/tinyshakespeare.txt").string());
  CHECK(load_text(resolve_corpus_path("")) == "from env\n");

  // An explicit --data path wins, and must exist.
  CHECK(resolve_corpus_path(dir.file("root/shared/data/tinyshakespeare.txt")) ==
        dir.file("root/shared/data/tinyshakespeare.txt"));
  CHECK_THROWS_WITH(resolve_corpus_path(dir.file("missing.txt")), Contains("missing.txt") && Contains("no such file"));
}

TEST_CASE("corpus: this build finds the repository's own copy of Tiny Shakespeare", "[datasets][corpus]") {
  // A fresh clone trains with nothing beside it: data/ is part of the repository.
  CorpusSearch search = CorpusSearch::from_environment();
  search.data_dir.reset();
  const std::string path = resolve_corpus_path("", search);
  CHECK_THAT(path, EndsWith("data/tinyshakespeare.txt"));
  CHECK_THAT(path, !Contains("shared"));
  CHECK(fs::file_size(path) == 1115394);
}

TEST_CASE("corpus: load_text errors", "[datasets][corpus]") {
  TempDir dir;
  write_bytes(dir.file("empty.txt"), "");
  CHECK_THROWS_WITH(load_text(dir.file("empty.txt")), Contains("empty.txt") && Contains("is empty"));
  CHECK_THROWS_WITH(load_text(dir.file("missing.txt")), Contains("missing.txt") && Contains("does not exist"));
  CHECK_THROWS_WITH(load_text(dir.path.string()), Contains("is a directory"));
  const std::string binary("a\0b\xff", 4);
  write_bytes(dir.file("bin.txt"), binary);
  CHECK(load_text(dir.file("bin.txt")) == binary);
}

TEST_CASE("synthetic corpora: deterministic per seed and different across seeds", "[datasets][synthetic]") {
  CHECK(is_synthetic("synthetic:addition"));
  CHECK_FALSE(is_synthetic("data/synthetic.txt"));
  for (const std::string& name : synthetic_corpus_names()) {
    const std::string a = synthetic_corpus(name, 5000, 1);
    CHECK(a.size() >= 5000);
    CHECK(a.size() < 5100);
    CHECK(a.back() == '\n');
    CHECK(synthetic_corpus(name, 5000, 1) == a);
    CHECK(synthetic_corpus("synthetic:" + name, 5000, 1) == a);
    CHECK(synthetic_corpus(name, 5000, 2) != a);
  }
  CHECK_THROWS_WITH(synthetic_corpus("multiplication", 100, 0),
                    Contains("multiplication") && Contains("addition") && Contains("grammar"));
  CHECK_THROWS_WITH(resolve_corpus_path("synthetic:addition"), Contains("synthetic"));
}

TEST_CASE("synthetic corpora: every addition is correct", "[datasets][synthetic]") {
  const std::string text = synthetic_corpus("addition", 20000, 3);
  std::set<size_t> operand_lengths;
  for (const std::string& line : lines_of(text)) {
    const size_t plus = line.find('+'), equals = line.find('=');
    REQUIRE(plus != std::string::npos);
    REQUIRE(equals != std::string::npos);
    const std::string a = line.substr(0, plus), b = line.substr(plus + 1, equals - plus - 1);
    const std::string sum = line.substr(equals + 1);
    for (const std::string& operand : {a, b}) {
      REQUIRE(!operand.empty());
      REQUIRE(operand.find_first_not_of("0123456789") == std::string::npos);
      CHECK((operand.size() == 1 || operand[0] != '0'));
      operand_lengths.insert(operand.size());
    }
    CHECK(std::stoll(a) + std::stoll(b) == std::stoll(sum));
  }
  CHECK(operand_lengths == std::set<size_t>{1, 2, 3, 4});
}

TEST_CASE("synthetic corpora: grammar sentences agree in number", "[datasets][synthetic]") {
  const GrammarLexicon& lex = grammar_lexicon();
  std::map<std::string, bool> noun_is_plural, verb_is_plural;
  for (const auto& n : lex.nouns) noun_is_plural[n.singular] = false, noun_is_plural[n.plural] = true;
  for (const auto* verbs : {&lex.transitive_verbs, &lex.intransitive_verbs})
    for (const auto& v : *verbs) verb_is_plural[v.singular] = false, verb_is_plural[v.plural] = true;

  const std::string text = synthetic_corpus("grammar", 20000, 5);
  int with_distractor = 0, plural_subjects = 0, sentences = 0;
  for (std::string line : lines_of(text)) {
    INFO(line);
    REQUIRE(line.size() > 2);
    CHECK(std::isupper(static_cast<unsigned char>(line[0])));
    REQUIRE(line.back() == '.');
    line.pop_back();
    line[0] = static_cast<char>(std::tolower(line[0]));
    std::istringstream words(line);
    std::vector<std::string> nouns_seen;
    std::optional<bool> subject_plural, verb_plural;
    for (std::string w; words >> w;) {
      if (noun_is_plural.count(w) && !verb_plural) {
        if (!subject_plural) subject_plural = noun_is_plural[w];
        nouns_seen.push_back(w);
      }
      if (verb_is_plural.count(w) && !verb_plural) verb_plural = verb_is_plural[w];
    }
    REQUIRE(subject_plural.has_value());
    REQUIRE(verb_plural.has_value());
    CHECK(*subject_plural == *verb_plural);
    with_distractor += nouns_seen.size() == 2;
    plural_subjects += *subject_plural;
    ++sentences;
  }
  CHECK(with_distractor > sentences / 10);  // the prepositional phrase does occur
  CHECK(plural_subjects > sentences / 4);
  CHECK(plural_subjects < 3 * sentences / 4);
}

// ---- token cache ----------------------------------------------------------------------------

TEST_CASE("token cache: the second call reads the cache", "[datasets][cache]") {
  TempDir dir;
  const std::string cache_dir = dir.file("not/yet/there");
  const std::string text = synthetic_corpus("grammar", 30000, 11);
  const BpeTokenizer tok = BpeTokenizer::train(text, 300);
  const std::vector<int32_t> expected = tok.encode(text);

  bool hit = true;
  CHECK(tokenize_cached(text, tok, cache_dir, &hit) == expected);
  CHECK_FALSE(hit);
  const std::string path = token_cache_path(text, tok, cache_dir);
  CHECK(fs::exists(path));
  CHECK(tokenize_cached(text, tok, cache_dir, &hit) == expected);
  CHECK(hit);

  // Another tokenizer or another text is another entry.
  const CharTokenizer chars = CharTokenizer::train(text);
  CHECK(token_cache_path(text, chars, cache_dir) != path);
  CHECK(token_cache_path(text + "x", tok, cache_dir) != path);
  CHECK(tokenize_cached(text, chars, cache_dir, &hit) == chars.encode(text));
  CHECK_FALSE(hit);

  // An empty cache dir means no caching.
  CHECK(tokenize_cached(text, tok, "", &hit) == expected);
  CHECK_FALSE(hit);
}

TEST_CASE("token cache: a corrupt or truncated file is ignored and rewritten", "[datasets][cache]") {
  TempDir dir;
  const std::string text = synthetic_corpus("addition", 10000, 4);
  const CharTokenizer tok = CharTokenizer::train(text);
  const std::vector<int32_t> expected = tok.encode(text);
  tokenize_cached(text, tok, dir.path.string());
  const std::string path = token_cache_path(text, tok, dir.path.string());
  const std::string good = read_bytes(path);

  std::string corrupt = good;
  corrupt[corrupt.size() - 3] ^= 0x01;  // one bit of one token id
  const std::string broken[] = {corrupt, good.substr(0, good.size() - 4), good.substr(0, 10), "",
                                std::string(good.size(), 'x')};
  for (const std::string& bad : broken) {
    write_bytes(path, bad);
    bool hit = true;
    CHECK(tokenize_cached(text, tok, dir.path.string(), &hit) == expected);
    CHECK_FALSE(hit);
    CHECK(read_bytes(path) == good);  // rewritten
    CHECK(tokenize_cached(text, tok, dir.path.string(), &hit) == expected);
    CHECK(hit);
  }
}

TEST_CASE("token cache: default folder from the environment", "[datasets][cache]") {
  {
    ScopedEnv a("MHC_CACHE_DIR", std::string("/tmp/mhc-cache-test"));
    CHECK(default_cache_dir() == "/tmp/mhc-cache-test");
  }
  ScopedEnv a("MHC_CACHE_DIR", std::nullopt);
  {
    ScopedEnv b("XDG_CACHE_HOME", std::string("/xdg"));
    CHECK(default_cache_dir() == "/xdg/mhc");
  }
  ScopedEnv b("XDG_CACHE_HOME", std::nullopt);
  ScopedEnv c("HOME", std::string("/home/someone"));
  CHECK(default_cache_dir() == "/home/someone/.cache/mhc");
}

// ---- split and batches ------------------------------------------------------------------------

namespace {
std::vector<int32_t> iota_tokens(int32_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}
}  // namespace

TEST_CASE("split: deterministic and disjoint and complete and in chunk order", "[datasets][split]") {
  const std::vector<int32_t> tokens = iota_tokens(10000);  // every token distinct
  const TokenSplit s = split_tokens(tokens, 0.1, 42, 100);
  CHECK(s.train.size() + s.val.size() == tokens.size());
  CHECK(s.val.size() == 1000);  // round(0.1 * 100 chunks) = 10 chunks of 100
  std::set<int32_t> all(s.train.begin(), s.train.end());
  for (int32_t t : s.val) CHECK(all.insert(t).second);  // no token in both
  CHECK(all.size() == tokens.size());
  CHECK(std::is_sorted(s.train.begin(), s.train.end()));
  CHECK(std::is_sorted(s.val.begin(), s.val.end()));
  for (size_t i = 0; i < s.val.size(); i += 100) CHECK(s.val[i] % 100 == 0);  // whole chunks

  const TokenSplit again = split_tokens(tokens, 0.1, 42, 100);
  CHECK(again.train == s.train);
  CHECK(again.val == s.val);
  CHECK(split_tokens(tokens, 0.1, 43, 100).val != s.val);

  // Small fractions still give one chunk; a partial last chunk counts.
  const TokenSplit tiny = split_tokens(iota_tokens(250), 0.01, 1, 100);
  CHECK((tiny.val.size() == 100 || tiny.val.size() == 50));
  CHECK(tiny.train.size() + tiny.val.size() == 250);
  CHECK(split_tokens(tokens, 0.0, 1, 100).val.empty());

  CHECK_THROWS_WITH(split_tokens(tokens, 1.0, 1), Contains("outside [0, 1)"));
  CHECK_THROWS_WITH(split_tokens(tokens, -0.1, 1), Contains("outside [0, 1)"));
  CHECK_THROWS_WITH(split_tokens(iota_tokens(50), 0.1, 1, 100), Contains("too few tokens"));
  CHECK_THROWS_WITH(split_tokens({}, 0.0, 1), Contains("too few tokens"));
}

TEST_CASE("sampler: x is a window of the split and y is x shifted by one", "[datasets][batches]") {
  const std::vector<int32_t> tokens = iota_tokens(500);  // the value is the position
  BatchSampler sampler(&tokens, 8, 16, 3);
  std::set<int32_t> starts;
  for (int step = 0; step < 20; ++step) {
    Tensor x, y;
    sampler.next(x, y);
    REQUIRE(x.shape() == Shape{8, 16});
    REQUIRE(y.shape() == Shape{8, 16});
    CHECK(x.dtype() == DType::i32);
    CHECK(y.device() == Device::cpu);
    const std::vector<int32_t> xs = x.to_vector<int32_t>(), ys = y.to_vector<int32_t>();
    for (int b = 0; b < 8; ++b) {
      const int32_t o = xs[b * 16];
      starts.insert(o);
      CHECK(o + 16 < 500);  // the last target exists
      for (int t = 0; t < 16; ++t) {
        CHECK(xs[b * 16 + t] == o + t);
        CHECK(ys[b * 16 + t] == o + t + 1);
      }
    }
  }
  CHECK(starts.size() > 100);  // random windows, not the same few
  CHECK(sampler.batches_drawn() == 20);

  const std::vector<int32_t> short_split = iota_tokens(16);
  CHECK_THROWS_WITH(BatchSampler(&short_split, 2, 16, 0), Contains("has 16 tokens") && Contains("17"));
}

TEST_CASE("sampler: same seed same batches and state() resumes exactly", "[datasets][batches]") {
  const std::vector<int32_t> tokens = iota_tokens(1000);
  BatchSampler a(&tokens, 4, 8, 9), b(&tokens, 4, 8, 9), other(&tokens, 4, 8, 10);
  Tensor xa, ya, xb, yb, xo, yo;
  for (int i = 0; i < 5; ++i) {
    a.next(xa, ya);
    b.next(xb, yb);
    other.next(xo, yo);
    CHECK(xa.to_vector<int32_t>() == xb.to_vector<int32_t>());
  }
  CHECK(xa.to_vector<int32_t>() != xo.to_vector<int32_t>());

  // Checkpoint a after 5 batches, run on; a fresh sampler restored from the state follows.
  const BatchSampler::State saved = a.state();
  std::vector<std::vector<int32_t>> uninterrupted;
  for (int i = 0; i < 5; ++i) {
    a.next(xa, ya);
    uninterrupted.push_back(xa.to_vector<int32_t>());
  }
  BatchSampler resumed(&tokens, 4, 8, 12345);
  resumed.set_state(saved);
  CHECK(resumed.batches_drawn() == 5);
  for (int i = 0; i < 5; ++i) {
    resumed.next(xb, yb);
    CHECK(xb.to_vector<int32_t>() == uninterrupted[i]);
  }
  CHECK(resumed.batches_drawn() == 10);
}

TEST_CASE("validation batches: windows tiled in order from the split's start, whatever the shard",
          "[datasets][batches]") {
  const std::vector<int32_t> tokens = iota_tokens(3000);  // id i at position i (mod the vocabulary)
  // 3000 tokens hold (3000 - 1) / 32 = 93 windows of 32 (+1 target each).
  const ValidationSet all = validation_batches(tokens, 4, 32, 0);
  CHECK(all.windows == 93);
  REQUIRE(all.batches.size() == 24);  // 23 full batches of 4 and one of 1
  CHECK(all.batches.back().first.shape() == Shape{1, 32});
  for (size_t b = 0; b < all.batches.size(); ++b) {
    const std::vector<int32_t> x = all.batches[b].first.to_vector<int32_t>();
    const std::vector<int32_t> y = all.batches[b].second.to_vector<int32_t>();
    for (size_t r = 0; r * 32 < x.size(); ++r) {
      const int64_t start = (static_cast<int64_t>(b) * 4 + static_cast<int64_t>(r)) * 32;  // window b·4 + r
      CHECK(x[r * 32] == tokens[start]);
      CHECK(x[r * 32 + 31] == tokens[start + 31]);
      CHECK(y[r * 32] == tokens[start + 1]);
      CHECK(y[r * 32 + 31] == tokens[start + 32]);
    }
  }
  // A cap keeps the first windows; two ranks split the batches between them.
  const ValidationSet first6 = validation_batches(tokens, 4, 32, 24);
  CHECK(first6.windows == 24);
  REQUIRE(first6.batches.size() == 6);
  const ValidationSet r0 = validation_batches(tokens, 4, 32, 24, {0, 2}),
                      r1 = validation_batches(tokens, 4, 32, 24, {1, 2});
  CHECK(r0.windows == 24);
  REQUIRE(r0.batches.size() == 3);
  REQUIRE(r1.batches.size() == 3);
  CHECK(r0.batches[1].first.to_vector<int32_t>() == first6.batches[2].first.to_vector<int32_t>());
  CHECK(r1.batches[2].first.to_vector<int32_t>() == first6.batches[5].first.to_vector<int32_t>());
  CHECK_THROWS_WITH(validation_batches(iota_tokens(32), 4, 32, 0), Contains("fewer than one window"));
  CHECK_THROWS_WITH(validation_batches(tokens, 4, 32, -1), Contains("max_windows"));
}

TEST_CASE("printable_text keeps text and escapes what a terminal would act on", "[datasets][utf8]") {
  CHECK(printable_text("ROMEO:\n\tthou art") == "ROMEO:\n\tthou art");
  CHECK(printable_text("caf\xc3\xa9 \xe2\x80\x94 ok") == "caf\xc3\xa9 \xe2\x80\x94 ok");  // é and an em dash pass
  CHECK(printable_text("a\x1b[2Jb") == "a\\x1b[2Jb");                                     // ESC: no screen clearing
  CHECK(printable_text(std::string("x\0y", 3)) == "x\\x00y");
  CHECK(printable_text("\r\x7f") == "\\x0d\\x7f");
  CHECK(printable_text("\xc2\x85") == "\\x85");               // a C1 control character, escaped by code point
  CHECK(printable_text("end \xe2\x80") == "end \\xe2\\x80");  // a character cut short: its bytes
  CHECK(printable_text("\xff!") == "\\xff!");
}

// ---- writing files ---------------------------------------------------------------------------

TEST_CASE("write_file_atomically: streamed output with seeks lands byte for byte", "[datasets][files]") {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  std::string big(300000, '\0');  // larger than the write buffer: goes straight through
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  write_file_atomically(
      path,
      [&](std::ostream& out) {
        out.write("????", 4);  // a header filled in last, as checkpoints do
        for (int i = 0; i < 1000; ++i) out.put(static_cast<char>('a' + i % 26));
        out.write(big.data(), static_cast<std::streamsize>(big.size()));
        out << "tail";
        out.seekp(0);
        out.write("HEAD", 4);
      },
      path + ".tmp");
  std::string expected = "HEAD";
  for (int i = 0; i < 1000; ++i) expected += static_cast<char>('a' + i % 26);
  expected += big + "tail";
  CHECK(read_bytes(path) == expected);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // A writer that throws leaves the old file and no temporary file.
  CHECK_THROWS_WITH(write_file_atomically(
                        path,
                        [](std::ostream& out) {
                          out << "partial";
                          throw std::runtime_error("writer gave up");
                        },
                        path + ".tmp"),
                    Contains("writer gave up"));
  CHECK(read_bytes(path) == expected);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // A folder that does not exist: the error names the file and the reason.
  CHECK_THROWS_WITH(write_file_atomically(dir.file("no/such/f"), "x", dir.file("no/such/f.tmp")),
                    Contains("no/such/f") && Contains(std::strerror(ENOENT)));
}

TEST_CASE("write_file_atomically: a full disk keeps the old file, removes the .tmp and says why", "[datasets][files]") {
  mhc::test::TmpfsMount disk(64 * 1024);
  if (!disk.mounted()) {
    WARN("SKIPPED: cannot mount a tmpfs (" << disk.error() << ")");
    return;
  }
  const std::string path = (disk.path() / "state.bin").string();
  const std::string old_bytes(8000, 'a');
  write_file_atomically(path, old_bytes, path + ".tmp");
  REQUIRE(read_bytes(path) == old_bytes);
  const std::string big(200 * 1024, 'b');  // more than the disk holds
  for (const bool streamed : {false, true}) {
    INFO((streamed ? "streamed" : "whole bytes"));
    try {
      if (streamed)
        write_file_atomically(
            path,
            [&](std::ostream& out) {
              out.write("HEAD", 4);
              for (int i = 0; i < 50; ++i) out.write(big.data(), 4096);
              out.seekp(0);
              out.write("head", 4);
            },
            path + ".tmp");
      else
        write_file_atomically(path, big, path + ".tmp");
      FAIL("a write larger than the disk succeeded");
    } catch (const WriteError& e) {
      CHECK_THAT(e.what(), Contains("cannot write '" + path + "'") && Contains(std::strerror(ENOSPC)));
      CHECK_THAT(e.what(), Contains("is unchanged"));
    }
    CHECK(read_bytes(path) == old_bytes);
    CHECK_FALSE(fs::exists(path + ".tmp"));  // a leftover would keep the disk full
  }
  // The failed writes gave their space back: a file of most of the disk fits.
  const std::string fits(40 * 1024, 'c');
  write_file_atomically(path, fits, path + ".tmp");
  CHECK(read_bytes(path) == fits);
}
