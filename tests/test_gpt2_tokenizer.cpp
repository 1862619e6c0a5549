// test_gpt2_tokenizer.cpp — GPT-2's tokenizer on small tokenizer files the
// tests write (OpenAI's encoder.json + vocab.bpe and Hugging Face's
// tokenizer.json): the pre-tokenisation pattern with Unicode classes, merges
// by rank, <|endoftext|> as one token, decode inverting encode for any bytes,
// and the tokenizer.txt round trip. With $MHC_GPT2_TOKENIZER naming the real
// files, GPT-2's published ids are checked too.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "autograd/random.h"
#include "datasets/gpt2_tokenizer.h"
#include "datasets/tokenizer_spec.h"
#include "gpt2_files.h"
#include "test_files.h"

using Catch::Contains;
using namespace mhc;
using namespace mhc::test;

namespace {

using Pieces = std::vector<std::string_view>;

}  // namespace

TEST_CASE("gpt2: GPT-2's byte table", "[gpt2]") {
  CHECK(byte_symbol(' ') == "Ġ");
  CHECK(byte_symbol('\n') == "Ċ");
  CHECK(byte_symbol('!') == "!");
  CHECK(byte_symbol(0xAD) == "Ń");  // soft hyphen: not printable, the last of the 68 remapped bytes
  CHECK(byte_symbol(0xE9) == "é");
}

TEST_CASE("gpt2: the pre-tokenisation pattern cuts text as GPT-2 does", "[gpt2]") {
  CHECK(gpt2_pieces("Hello world") == Pieces{"Hello", " world"});
  CHECK(gpt2_pieces("I'm sure they'll don't") == Pieces{"I", "'m", " sure", " they", "'ll", " don", "'t"});
  CHECK(gpt2_pieces("a  b") == Pieces{"a", " ", " b"});  // the last space joins the word
  CHECK(gpt2_pieces("abc123 !!?x") == Pieces{"abc", "123", " !!?", "x"});
  CHECK(gpt2_pieces("x\n\ny") == Pieces{"x", "\n", "\n", "y"});
  CHECK(gpt2_pieces("hi  ") == Pieces{"hi", "  "});  // trailing whitespace stays one piece
  // Unicode letters and numbers (½ is a number, 東京 letters), not just ASCII.
  CHECK(gpt2_pieces("héllo wörld 3½ 東京") == Pieces{"héllo", " wörld", " 3½", " 東京"});
  CHECK(gpt2_pieces("a\xff"
                    "b") == Pieces{"a", "\xff", "b"});  // invalid UTF-8: a piece of its own
}

TEST_CASE("gpt2: encoder.json + vocab.bpe encode by merge rank, <|endoftext|> is one token, decode inverts", "[gpt2]") {
  TempDir d;
  write_openai_files(d.path);
  const Gpt2Tokenizer tok = Gpt2Tokenizer::from_files(d.path.string());
  CHECK(tok.kind() == "gpt2");
  CHECK(tok.vocab_size() == 256 + 9 + 1);
  CHECK(tok.encode("Hello world") == std::vector<int32_t>{259, 264});
  CHECK(tok.encode("Hello<|endoftext|> world") == std::vector<int32_t>{259, 265, 264});
  CHECK(tok.encode("Hell") == std::vector<int32_t>{258});
  CHECK(tok.encode("ll") == std::vector<int32_t>{257});
  CHECK(tok.encode("Hi") == std::vector<int32_t>{'H', 'i'});  // no merge: byte ids (here the bytes' values)
  CHECK(tok.decode({259, 265, 264}) == "Hello<|endoftext|> world");
  Rng rng(7);
  for (int i = 0; i < 200; ++i) {  // any bytes round-trip, valid UTF-8 or not
    std::string s;
    for (uint64_t n = rng.below(40); n > 0; --n) s.push_back(static_cast<char>(rng.below(256)));
    if (i % 2) s = "Hello world, l'été — 東京 " + s + "<|endoftext|>  \n";
    REQUIRE(tok.decode(tok.encode(s)) == s);
  }
}

TEST_CASE("gpt2: tokenizer.json gives the same tokenizer, and tokenizer.txt keeps it whole", "[gpt2]") {
  TempDir a, b;
  write_openai_files(a.path);
  nlohmann::ordered_json hf;
  hf["model"] = {{"type", "BPE"}, {"vocab", small_vocab(false)}, {"merges", nlohmann::ordered_json::array()}};
  for (const std::string& m : kMerges)
    hf["model"]["merges"].push_back(
        nlohmann::ordered_json::array({m.substr(0, m.find(' ')), m.substr(m.find(' ') + 1)}));
  hf["added_tokens"] = nlohmann::ordered_json::array({{{"id", 265}, {"content", "<|endoftext|>"}}});
  write_bytes(b.file("tokenizer.json"), hf.dump());
  const Gpt2Tokenizer openai = Gpt2Tokenizer::from_files(a.path.string());
  const Gpt2Tokenizer hugging = Gpt2Tokenizer::from_files(b.file("tokenizer.json"));
  const std::string text = "Hello world<|endoftext|>Hello, world! 3½ wörlds";
  CHECK(hugging.encode(text) == openai.encode(text));
  CHECK(hugging.fingerprint() == openai.fingerprint());
  // Through make_tokenizer (as `mhc tokenize --tokenizer gpt2:PATH`) and a tokenizer.txt round trip.
  const auto made = make_tokenizer(parse_tokenizer_spec("gpt2:" + a.path.string(), 0), "");
  made->save(a.file("tokenizer.txt"));
  const auto loaded = Tokenizer::load(a.file("tokenizer.txt"));
  CHECK(loaded->kind() == "gpt2");
  CHECK(loaded->encode(text) == openai.encode(text));
  CHECK(loaded->fingerprint() == openai.fingerprint());
}

TEST_CASE("gpt2: unusable tokenizer files are refused, naming the file", "[gpt2]") {
  TempDir d;
  CHECK_THROWS_WITH(Gpt2Tokenizer::from_files(d.path.string()),
                    Contains("neither encoder.json + vocab.bpe") && Contains("tokenizer.json"));
  write_openai_files(d.path);
  write_bytes(d.file("vocab.bpe"), "#version: 0.2\nH e\nthree parts here\n");
  CHECK_THROWS_WITH(Gpt2Tokenizer::from_files(d.path.string()),
                    Contains("vocab.bpe:3") && Contains("two symbol strings"));
  write_openai_files(d.path);
  auto gap = small_vocab(true);
  gap["<|endoftext|>"] = 300;
  write_bytes(d.file("encoder.json"), gap.dump());
  CHECK_THROWS_WITH(Gpt2Tokenizer::from_files(d.path.string()), Contains("encoder.json") && Contains("300"));
  write_bytes(d.file("tokenizer.json"), R"({"model": {"type": "WordPiece", "vocab": {}}})");
  CHECK_THROWS_WITH(Gpt2Tokenizer::from_files(d.file("tokenizer.json")),
                    Contains("not a byte-level BPE tokenizer.json"));
}

TEST_CASE("gpt2: GPT-2's published ids, where the real files are on the machine", "[gpt2]") {
  const char* path = std::getenv("MHC_GPT2_TOKENIZER");
  if (!path || !*path) {
    WARN("skipped: set MHC_GPT2_TOKENIZER to a folder with GPT-2's encoder.json and vocab.bpe (or tokenizer.json)");
    return;
  }
  const Gpt2Tokenizer tok = Gpt2Tokenizer::from_files(path);
  CHECK(tok.vocab_size() == 50257);
  CHECK(tok.encode("Hello world") == std::vector<int32_t>{15496, 995});
  CHECK(tok.encode("<|endoftext|>") == std::vector<int32_t>{50256});
  CHECK(tok.encode(" the") == std::vector<int32_t>{262});
  for (const char* s : {"Hello world", "I'm sure they'll don't  \n\n  x", "héllo wörld 3½ 東京", "<|endoftext|>a b"})
    CHECK(tok.decode(tok.encode(s)) == s);
}

// `mhc tokenize` encodes its text in parts on every core, cut only where no
// tokenizer changes its ids (datasets/tokenizer.h). The parts' ids joined
// must equal one encode call's, for every kind, on text full of the places
// where a careless cut would change them: blank-line runs ("\n\n\n"), a line
// end after a space or before one (ASCII or Unicode: U+00A0, U+3000),
// punctuation keeping its line end (BPE), contractions at a line's start, and
// lines longer than a part.
TEST_CASE("tokenize's encoding on all cores gives exactly one encode call's ids", "[gpt2][tokenize]") {
  TempDir d;
  write_openai_files(d.path);
  Rng rng(5);
  const char* words[] = {
      "Hello", " world", ".",      "\n",     "\n\n",          "\n\n\n",  " \n", "\n ", "'s",
      "'ll",   "42",     " 7",     "!?",     "<|endoftext|>", "\r\n",    "\t",  "é",   " naïve",
      ",\n",   "x",      "\u00a0", "\u3000", "\u00a0\n",      "\n\u3000"};  // Unicode spaces: GPT-2's \s has them
  std::string text;
  while (text.size() < 300000) text += words[rng.below(sizeof words / sizeof words[0])];
  text += std::string(100000, 'a');  // a stretch with no place to cut: one part
  const TokenizerSpec specs[] = {parse_tokenizer_spec("gpt2:" + d.path.string(), 0), parse_tokenizer_spec("bpe", 400),
                                 parse_tokenizer_spec("char", 0)};
  for (const TokenizerSpec& spec : specs) {
    // The character tokenizer learns every character of the text; BPE its start.
    const std::string_view learn = spec.kind == TokenizerSpec::Kind::Char ? std::string_view(text)
                                   : spec.learnt()                        ? std::string_view(text).substr(0, 50000)
                                                                          : std::string_view();
    const auto tok = make_tokenizer(spec, learn);
    INFO(tok->kind());
    const std::vector<int32_t> whole = tok->encode(text);
    CHECK(encode_on_all_cores(*tok, text) == whole);
    CHECK(whole.size() > 1000);
  }
  // The ids above agree also where a wrong cut would only split a piece that
  // this small vocabulary has no merge across; GPT-2's pre-tokenisation shows
  // every such split. Cut as often as the rule allows (parts of 1 byte): the
  // pieces of the parts are the pieces of the whole.
  const std::vector<std::string_view> parts = split_at_safe_cuts(text, 1);
  CHECK(parts.size() > 1000);
  std::vector<std::string_view> pieces;
  for (std::string_view part : parts)
    for (std::string_view piece : gpt2_pieces(part)) pieces.push_back(piece);
  CHECK(pieces == gpt2_pieces(text));
}
