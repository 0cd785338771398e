// Tokenizer: training on generated English text, exact round trips (byte fallback covers any
// UTF-8), the cached encoder gives exactly SentencePiece's tokens, and bad models / vocabulary
// sizes are clear errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/segment.h"
#include "data/stream_decoder.h"
#include "data/token_encoder.h"
#include "data/tokenizer.h"
#include "src/core/rng.h"
#include "data_fixtures.h"

namespace mor::data {
namespace {
using namespace mor::testing;

// Trains a small tokenizer on generated text (one per test binary run; ~0.1 s).
const Tokenizer& small_tokenizer() {
  static TempDir dir;
  static Tokenizer tok = [] {
    const std::string text = english_text(30000, 3);
    size_t pos = 0;
    auto next = [&](std::string& s) {  // sentences of whole lines, at most ~2 KB
      if (pos >= text.size()) return false;
      size_t end = text.rfind('\n', std::min(text.size(), pos + 2000));
      end = end == std::string::npos || end <= pos ? std::min(text.size(), pos + 2000) : end + 1;
      s = text.substr(pos, end - pos);
      pos = end;
      return true;
    };
    return Tokenizer::train(next, TokenizerTrainOptions{400, 2}, dir.str("tok.model"), "generated");
  }();
  return tok;
}

// Text that stresses segmentation: whitespace runs, tabs, CRLF, punctuation, digits, non-ASCII.
std::string mixed_text(uint64_t seed) {
  static const char* kBits[] = {"the ", "model", " learns", ".\n", "\n\n   ", "\t", "  ", "(x, y)", "1234", " 56.7",
                                "\r\n", "caf\xC3\xA9", " \xE4\xB8\xAD\xE6\x96\x87", " \xF0\x9F\x98\x80", "\xE2\x96\x81",
                                "--", "``code``", " ", "token", "s"};
  Rng rng(seed);
  std::string s;
  for (int i = 0; i < 3000; ++i) s += kBits[rng.below(sizeof(kBits) / sizeof(kBits[0]))];
  return s;
}

TEST(Tokenizer, TrainsAndRoundTripsAnyText) {
  const Tokenizer& tok = small_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 400);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.segmentable());
  const std::string english = "the model learns to route each token.\n\n   class object returns value";
  const std::vector<int32_t> ids = tok.encode(english);
  EXPECT_LT(ids.size(), english.size() / 2) << "BPE merges should compress known words";
  EXPECT_EQ(tok.decode(ids), english);
  // Characters never seen in training go through byte fallback and still round-trip.
  const std::string unseen = "Zw\xC3\xB6lf \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 tabs\tand  spaces\r\n";
  EXPECT_EQ(tok.decode(tok.encode(unseen)), unseen);
  for (int32_t id : tok.encode(unseen)) EXPECT_LT(id, tok.vocab_size());
}

// Issue item 10 (generate streams its tokens): the streamed pieces add up to the full decode, and a
// character split over byte-fallback tokens is held back only until it is complete.
TEST(Tokenizer, StreamDecoderConcatenatesToTheFullDecode) {
  const Tokenizer& tok = small_tokenizer();
  // Text whose unseen characters go through byte fallback (one token per byte), then random ids
  // (lone lead bytes, stray continuation bytes, truncated sequences).
  std::vector<int32_t> ids = tok.encode(mixed_text(5) + "Zw\xC3\xB6lf \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87");
  Rng rng(11);
  for (int i = 0; i < 3000; ++i) ids.push_back(int32_t(rng.below(uint64_t(tok.vocab_size()))));
  StreamDecoder s(tok);
  std::string streamed;
  size_t held = 0, max_held = 0;
  for (int32_t id : ids) {
    const std::string part = s.push(id);
    if (!tok.decode({id}).empty()) held = part.empty() ? held + 1 : 0;  // control pieces decode to nothing
    max_held = std::max(max_held, held);
    streamed += part;
  }
  streamed += s.finish();
  EXPECT_EQ(streamed, tok.decode(ids));
  EXPECT_LE(max_held, 3u) << "a token's text is held back at most until its character is complete";
  // A character split over byte tokens appears whole, once its last byte arrives.
  const std::vector<int32_t> emoji = tok.encode("\xF0\x9F\x98\x80");
  ASSERT_EQ(emoji.size(), 4u);
  StreamDecoder e(tok);
  for (size_t i = 0; i + 1 < emoji.size(); ++i) EXPECT_EQ(e.push(emoji[i]), "");
  EXPECT_EQ(e.push(emoji.back()), "\xF0\x9F\x98\x80");
  EXPECT_EQ(e.finish(), "");
}

TEST(Tokenizer, HashIsOfTheModelFileAndLoadGivesTheSameModel) {
  const Tokenizer& tok = small_tokenizer();
  EXPECT_EQ(tok.hash(), hash_string(read_file(tok.path())));
  Tokenizer again = Tokenizer::load(tok.path());
  EXPECT_EQ(again.hash(), tok.hash());
  const std::string text = mixed_text(1);
  EXPECT_EQ(again.encode(text), tok.encode(text));
}

TEST(Tokenizer, CachedEncoderGivesExactlySentencePiecesTokens) {
  const Tokenizer& tok = small_tokenizer();
  SharedSegmentCache shared(10);
  TokenEncoder cached(tok, &shared), tiny(tok, nullptr, 4);  // tiny: 16 slots, cleared constantly
  for (uint64_t seed : {1, 2, 3}) {
    const std::string text = mixed_text(seed);
    const std::vector<int32_t> expect = tok.encode(text);
    std::vector<int32_t> a, b;
    cached.encode(text, a);
    tiny.encode(text, b);
    EXPECT_EQ(a, expect) << "seed " << seed;
    EXPECT_EQ(b, expect) << "seed " << seed;
    // Chunking at whitespace segment boundaries does not change the tokens either.
    std::vector<int32_t> chunked;
    for (size_t pos = 0; pos < text.size();) {
      size_t cut = std::min(text.size(), pos + 500);
      while (cut < text.size() && !is_segment_boundary(text, cut)) ++cut;
      cached.encode(std::string_view(text).substr(pos, cut - pos), chunked);
      pos = cut;
    }
    EXPECT_EQ(chunked, expect) << "seed " << seed;
  }
  EXPECT_GT(cached.hits(), 10 * cached.misses());
}

TEST(Tokenizer, BadModelsAndVocabularySizesAreClearErrors) {
  TempDir t;
  EXPECT_NE(error_of([&] { Tokenizer::load(t.str("none.model")); }).find("none.model: cannot open"), std::string::npos);
  write_file(t.str("junk.model"), "this is not a protobuf");
  EXPECT_NE(error_of([&] { Tokenizer::load(t.str("junk.model")); }).find("junk.model: not a SentencePiece model"),
            std::string::npos);
  const std::string text = english_text(3000, 5);
  auto train = [&](int64_t vocab) {
    size_t pos = 0;
    auto lines = [&](std::string& s) {
      if (pos >= text.size()) return false;
      const size_t end = std::min(text.find('\n', pos), text.size());
      s = text.substr(pos, end - pos + 1);
      pos = end + 1;
      return true;
    };
    Tokenizer::train(lines, TokenizerTrainOptions{vocab, 1}, t.str("v.model"), "corpus.txt");
  };
  const std::string small = error_of([&] { train(100); });
  EXPECT_NE(small.find("--vocab-size 100 is too small"), std::string::npos) << small;
  const std::string big = error_of([&] { train(60000); });
  EXPECT_NE(big.find("corpus.txt: --vocab-size 60000 is too large"), std::string::npos) << big;
  EXPECT_NE(big.find("Hint: use --vocab-size"), std::string::npos) << big;
}

}  // namespace
}  // namespace mor::data
