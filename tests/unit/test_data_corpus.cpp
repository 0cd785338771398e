// Corpus input: UTF-8 validation, file listing (sorted, --ext, hidden entries, output dir), the
// chunked document reader (chunks rebuild the file, cuts at whitespace boundaries, single-document
// split) and the bounded tokenizer sample.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/corpus.h"
#include "data/segment.h"
#include "data/tokenizer_sample.h"
#include "data_fixtures.h"

namespace mor::data {
namespace {
namespace fs = std::filesystem;
using namespace mor::testing;

std::vector<TextChunk> read_all(const std::vector<SourceFile>& sources, size_t chunk_bytes, uint64_t split = 0) {
  DocumentReader r(sources, chunk_bytes, split);
  std::vector<TextChunk> out;
  for (TextChunk c; r.next(c);) out.push_back(c);
  return out;
}

TEST(DataCorpus, Utf8Validation) {
  EXPECT_EQ(find_invalid_utf8("plain ascii", 11), -1);
  EXPECT_EQ(find_invalid_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80", 10), -1);
  EXPECT_EQ(find_invalid_utf8("ab\xff", 3), 2);
  EXPECT_EQ(find_invalid_utf8("a\0b", 3), 1);
  EXPECT_EQ(find_invalid_utf8("\xc0\x80", 2), 0);          // overlong
  EXPECT_EQ(find_invalid_utf8("\xed\xa0\x80", 3), 0);      // surrogate
  EXPECT_EQ(find_invalid_utf8("x\xe2\x82", 3), 1);         // truncated sequence
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80", 4), 0);  // above U+10FFFF
}

TEST(DataCorpus, ListsFilesSortedFilteredAndSkipsHidden) {
  TempDir t;
  fs::create_directories(t.str("in/sub"));
  fs::create_directories(t.str("in/.git"));
  for (const char* f : {"in/b.txt", "in/a.txt", "in/sub/c.txt", "in/sub/d.rst", "in/.hidden.txt", "in/.git/x.txt", "in/e.jsonl"})
    write_file(t.str(f), "x");
  fs::create_symlink(t.str("in/nowhere.txt"), t.str("in/dangling.txt"));  // a broken link is not a file
  std::vector<std::string> names;
  for (const auto& s : list_sources({t.str("in")}, {".txt", "jsonl"}))
    names.push_back(fs::relative(s.path, t.path).string());
  EXPECT_EQ(names, (std::vector<std::string>{"in/a.txt", "in/b.txt", "in/e.jsonl", "in/sub/c.txt"}));
  EXPECT_TRUE(list_sources({t.str("in/e.jsonl")}, {})[0].jsonl);
  EXPECT_NE(error_of([&] { list_sources({t.str("nope")}, {}); }).find("nope: no such file"), std::string::npos);
  EXPECT_NE(error_of([&] { list_sources({t.str("in")}, {".md"}); }).find("no input files found with extensions .md"),
            std::string::npos);
  EXPECT_NE(error_of([&] { list_sources({}, {}); }).find("no input given"), std::string::npos);
}

TEST(DataCorpus, ChunksRebuildEachDocumentAndCutAtSpaceBoundaries) {
  TempDir t;
  const std::string a = english_text(3000, 1), b = english_text(200, 2);
  write_file(t.str("a.txt"), a);
  write_file(t.str("empty.txt"), "");
  write_file(t.str("b.txt"), b);
  const auto sources = list_sources({t.str("a.txt"), t.str("empty.txt"), t.str("b.txt")}, {});
  const auto chunks = read_all(sources, 1000);
  std::string doc0, doc1;
  uint64_t bytes = 0;
  for (const TextChunk& c : chunks) {
    ASSERT_LE(c.document, 1u) << "the empty file holds no document";
    (c.document == 0 ? doc0 : doc1) += c.text;
    bytes += c.file_bytes;
    if (!c.end_of_document) {
      EXPECT_LE(c.text.size(), 1000u);
      const std::string& src = c.document == 0 ? a : b;
      EXPECT_TRUE(is_segment_boundary(src, size_t(c.offset + c.text.size()))) << "cut at " << c.offset + c.text.size();
    }
  }
  EXPECT_EQ(doc0, a);
  EXPECT_EQ(doc1, b);
  EXPECT_EQ(bytes, a.size() + b.size());
  EXPECT_TRUE(chunks.back().end_of_document);
  EXPECT_GT(chunks.size(), a.size() / 1000);
}

TEST(DataCorpus, JsonlLinesAreDocuments) {
  TempDir t;
  write_file(t.str("d.jsonl"), "{\"text\": \"one\"}\n\n  \n{\"text\": \"two\"}\n{\"text\": \"three\"}");
  const auto chunks = read_all(list_sources({t.str("d.jsonl")}, {}), 1 << 20);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1].line, 4u);
  EXPECT_EQ(chunks[2].document, 2u);
  EXPECT_TRUE(chunks[2].json_line && chunks[2].end_of_document);
}

TEST(DataCorpus, OneFileIsSplitAtALineEndNearTheOffset) {
  TempDir t;
  const std::string text = english_text(2000, 4);
  write_file(t.str("one.txt"), text);
  const uint64_t at = text.size() * 9 / 10;
  const auto chunks = read_all(list_sources({t.str("one.txt")}, {}), 700, at);
  std::string doc[2];
  for (const TextChunk& c : chunks) doc[c.document] += c.text;
  EXPECT_EQ(doc[0] + doc[1], text);
  EXPECT_EQ(doc[0].size(), text.find('\n', at) + 1);
  EXPECT_FALSE(doc[1].empty());
}

TEST(DataCorpus, TokenizerSampleIsBoundedDeterministicAndSpread) {
  TempDir t;
  std::string big;
  while (big.size() < (3u << 20)) big += english_text(5000, big.size());
  write_file(t.str("big.txt"), big);
  write_corpus(t.str("docs"), 40, 2000);
  auto sources = list_sources({t.str("big.txt"), t.str("docs")}, {});
  auto collect = [&](uint64_t max, uint64_t seed) {
    TokenizerSample s(sources, max, seed);
    std::vector<std::string> out;
    for (std::string line; s.next(line);) out.push_back(line);
    EXPECT_LE(s.bytes(), max + 4096);
    return out;
  };
  uint64_t total = 0, small = 0;
  for (const auto& s : sources) total += s.bytes, small += s.path.ends_with("big.txt") ? 0 : s.bytes;
  // Only the 40 small files (one block each): about a third of them is kept.
  sources.erase(sources.begin());
  const auto a = collect(small / 3, 1), b = collect(small / 3, 1), c = collect(small / 3, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  size_t bytes = 0;
  for (const auto& s : a) {
    EXPECT_LE(s.size(), 4096u);
    bytes += s.size();
  }
  EXPECT_GT(bytes, small / 12);
  // Everything fits: the whole corpus is the sample (blocks of big.txt join without loss).
  sources = list_sources({t.str("big.txt"), t.str("docs")}, {});
  size_t all = 0;
  for (const auto& s : collect(total, 1)) all += s.size();
  EXPECT_EQ(all, total);
  // Binary data is rejected while sampling already, with the file and offset.
  write_file(t.str("docs/zz.txt"), std::string("text then \xff binary"));
  sources = list_sources({t.str("docs")}, {});
  const std::string e = error_of([&] { collect(100 << 20, 1); });
  EXPECT_NE(e.find("zz.txt: not UTF-8 text (invalid or NUL byte at offset 10)"), std::string::npos) << e;
}

}  // namespace
}  // namespace mor::data
