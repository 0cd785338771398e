// Data pipeline: shard format, tokenizer, `mor prepare` (as a library call), loader semantics.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/corpus.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "data/token_stream.h"
#include "data/tokenizer.h"
#include "data_fixtures.h"
#include "src/core/error.h"

namespace mor::data {
namespace {
namespace fs = std::filesystem;
using mor::testing::TempDir;
using mor::testing::write_corpus;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  return "";
}

void write_shard(const std::string& path, const std::vector<int32_t>& tokens, uint64_t vocab) {
  ShardWriter w(path, vocab, 42);
  w.append(tokens.data(), tokens.size());
  w.finish();
}

TEST(Shard, RoundTripsU16AndU32) {
  TempDir t;
  std::vector<int32_t> small = {0, 5, 65535, 7}, big = {0, 70000, 3};
  write_shard(t.str("a.bin"), small, 65536);
  write_shard(t.str("b.bin"), big, 100000);
  ShardReader a(t.str("a.bin")), b(t.str("b.bin"));
  EXPECT_EQ(a.header().token_bytes, 2u);
  EXPECT_EQ(b.header().token_bytes, 4u);
  std::vector<int32_t> ra(4), rb(3);
  a.read(0, 4, ra.data());
  b.read(0, 3, rb.data());
  EXPECT_EQ(ra, small);
  EXPECT_EQ(rb, big);
  EXPECT_EQ(a.header().tokenizer_hash, 42u);
  EXPECT_FALSE(fs::exists(t.str("a.bin.tmp")));
}

TEST(Shard, CorruptionIsDetectedAndNamed) {
  TempDir t;
  write_shard(t.str("s.bin"), {1, 2, 3, 4, 5, 6}, 100);
  auto mutate = [&](const std::string& name, const std::function<void(std::string&)>& f) {
    std::ifstream in(t.str("s.bin"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    f(bytes);
    std::ofstream(t.str(name), std::ios::binary) << bytes;
    return t.str(name);
  };
  std::string truncated = mutate("trunc.bin", [](std::string& b) { b.resize(b.size() - 2); });
  std::string magic = mutate("magic.bin", [](std::string& b) { b[0] = 'X'; });
  std::string version = mutate("version.bin", [](std::string& b) { b[8] = 9; });
  std::string flipped = mutate("flip.bin", [](std::string& b) { b[64] ^= 1; });
  std::string tiny = mutate("tiny.bin", [](std::string& b) { b.resize(10); });
  EXPECT_NE(error_of([&] { ShardReader r(truncated); }).find("truncated"), std::string::npos);
  EXPECT_NE(error_of([&] { ShardReader r(magic); }).find("bad magic"), std::string::npos);
  EXPECT_NE(error_of([&] { ShardReader r(version); }).find("version 9"), std::string::npos);
  EXPECT_NE(error_of([&] { ShardReader r(flipped); }).find("checksum"), std::string::npos);
  EXPECT_NE(error_of([&] { ShardReader r(tiny); }).find("truncated"), std::string::npos);
  EXPECT_NE(error_of([&] { ShardReader r(truncated); }).find(truncated), std::string::npos);  // names the file
  EXPECT_NE(error_of([&] { ShardReader r(t.str("missing.bin")); }).find("missing.bin"), std::string::npos);
}

TEST(Corpus, Utf8Validation) {
  EXPECT_EQ(find_invalid_utf8("plain ascii", 11), -1);
  EXPECT_EQ(find_invalid_utf8("caf\xc3\xa9", 5), -1);
  EXPECT_EQ(find_invalid_utf8("ab\xff", 3), 2);
  EXPECT_EQ(find_invalid_utf8("a\0b", 3), 1);
  EXPECT_EQ(find_invalid_utf8("\xc0\x80", 2), 0);      // overlong
  EXPECT_EQ(find_invalid_utf8("\xed\xa0\x80", 3), 0);  // surrogate
  EXPECT_EQ(find_invalid_utf8("x\xe2\x82", 3), 1);     // truncated sequence
}

PrepareOptions small_prepare(const std::string& in, const std::string& out) {
  PrepareOptions o;
  o.inputs = {in};
  o.out_dir = out;
  o.vocab_size = 300;
  o.val_fraction = 0.2;
  o.shard_tokens = 4096;
  o.threads = 2;
  o.quiet = true;
  return o;
}

TEST(Prepare, BuildsShardsManifestAndTokenizer) {
  TempDir t;
  write_corpus(t.str("corpus"), 12, 800);
  ::testing::internal::CaptureStdout();
  ASSERT_EQ(run_prepare(small_prepare(t.str("corpus"), t.str("ds"))), 0);
  ::testing::internal::GetCapturedStdout();
  Manifest m = read_manifest(t.str("ds/manifest.json"));
  EXPECT_EQ(m.vocab_size, 300);
  EXPECT_EQ(m.eos_id, 2);
  EXPECT_EQ(m.train.documents + m.val.documents, 12u);
  EXPECT_GE(m.val.documents, 1u);
  EXPECT_GT(m.train.shards.size(), 1u);  // 4096-token shards
  uint64_t sum = 0;
  for (const auto& s : m.train.shards) sum += ShardReader(t.str("ds/train/" + s.file)).tokens();
  EXPECT_EQ(sum, m.train.tokens);
  EXPECT_EQ(m.sources.size(), 12u);
  // Every document ends with EOS: the number of EOS tokens equals the number of documents.
  TokenStream train(t.str("ds/train"), 0), val(t.str("ds/val"), 0);
  auto count_eos = [](const TokenStream& s) {
    std::vector<int32_t> all(s.tokens());
    s.read(0, s.tokens(), all.data());
    return std::count(all.begin(), all.end(), 2);
  };
  EXPECT_EQ(uint64_t(count_eos(train)), m.train.documents);
  EXPECT_EQ(uint64_t(count_eos(val)), m.val.documents);
  // The tokenizer round-trips text from the corpus.
  Tokenizer tok = Tokenizer::load(t.str("ds/tokenizer.model"));
  EXPECT_EQ(tok.hash(), m.tokenizer_hash);
  const std::string text = "the model learns to route each token.\nclass Object returns value";
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
  EXPECT_FALSE(fs::exists(t.str("ds.tmp-") + std::to_string(getpid())));
}

TEST(Prepare, ReusesATokenizerAndIsDeterministic) {
  TempDir t;
  write_corpus(t.str("corpus"), 6, 500);
  ::testing::internal::CaptureStdout();
  run_prepare(small_prepare(t.str("corpus"), t.str("a")));
  PrepareOptions o = small_prepare(t.str("corpus"), t.str("b"));
  o.tokenizer = t.str("a/tokenizer.model");
  run_prepare(o);
  ::testing::internal::GetCapturedStdout();
  Manifest a = read_manifest(t.str("a/manifest.json")), b = read_manifest(t.str("b/manifest.json"));
  EXPECT_EQ(a.tokenizer_hash, b.tokenizer_hash);
  EXPECT_EQ(a.train.tokens, b.train.tokens);
  EXPECT_EQ(a.val.tokens, b.val.tokens);
}

TEST(Prepare, BadInputGivesOneClearErrorAndLeavesNothing) {
  TempDir t;
  write_corpus(t.str("corpus"), 4, 300);
  auto run = [&](PrepareOptions o) {
    ::testing::internal::CaptureStdout();
    std::string e = error_of([&] { run_prepare(o); });
    ::testing::internal::GetCapturedStdout();
    EXPECT_FALSE(fs::exists(o.out_dir)) << e;
    for (const auto& entry : fs::directory_iterator(t.path))
      EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << "leftover " << entry.path();
    return e;
  };
  EXPECT_NE(run(small_prepare(t.str("nope"), t.str("o1"))).find("no such file"), std::string::npos);
  fs::create_directories(t.str("empty_dir"));
  EXPECT_NE(run(small_prepare(t.str("empty_dir"), t.str("o2"))).find("no input files"), std::string::npos);
  std::ofstream(t.str("bin/blob.txt"), std::ios::binary).write("\x7f" "ELF\0\0\x01\xff", 8);
  fs::create_directories(t.str("bin"));
  std::ofstream(t.str("bin/blob.txt"), std::ios::binary).write("\x7f" "ELF\0\0\x01\xff", 8);
  std::ofstream(t.str("bin/ok.txt")) << "some fine text\n";
  EXPECT_NE(run(small_prepare(t.str("bin"), t.str("o3"))).find("blob.txt"), std::string::npos);
  fs::create_directories(t.str("zero"));
  std::ofstream(t.str("zero/a.txt")).close();
  EXPECT_NE(run(small_prepare(t.str("zero"), t.str("o4"))).find("empty"), std::string::npos);
  PrepareOptions small_vocab = small_prepare(t.str("corpus"), t.str("o5"));
  small_vocab.vocab_size = 100;
  EXPECT_NE(run(small_vocab).find("too small"), std::string::npos);
  PrepareOptions huge_vocab = small_prepare(t.str("corpus"), t.str("o6"));
  huge_vocab.vocab_size = 50000;
  EXPECT_NE(run(huge_vocab).find("--vocab-size"), std::string::npos);
  // An existing output directory is kept untouched without --overwrite.
  fs::create_directories(t.str("exists"));
  std::ofstream(t.str("exists/keep")) << "x";
  std::string e = error_of([&] { run_prepare(small_prepare(t.str("corpus"), t.str("exists"))); });
  EXPECT_NE(e.find("already exists"), std::string::npos);
  EXPECT_TRUE(fs::exists(t.str("exists/keep")));
}

TEST(Prepare, JsonlDocuments) {
  TempDir t;
  {
    std::ofstream f(t.str("docs.jsonl"));
    for (int i = 0; i < 20; ++i) f << "{\"text\": \"the model learns to route token number " << i << " through shared layers\"}\n";
  }
  PrepareOptions o = small_prepare(t.str("docs.jsonl"), t.str("ds"));
  ::testing::internal::CaptureStdout();
  run_prepare(o);
  ::testing::internal::GetCapturedStdout();
  Manifest m = read_manifest(t.str("ds/manifest.json"));
  EXPECT_EQ(m.train.documents + m.val.documents, 20u);
  std::ofstream(t.str("bad.jsonl")) << "{\"text\": \"fine\"}\n{\"txt\": 1}\n";
  std::string e = error_of([&] { run_prepare(small_prepare(t.str("bad.jsonl"), t.str("ds2"))); });
  EXPECT_NE(e.find("bad.jsonl:2"), std::string::npos) << e;
}

// A dataset of consecutive integers (token i = i % vocab) so windows are recognisable.
std::string counting_dataset(const TempDir& t, uint64_t tokens, uint64_t vocab = 1000) {
  fs::create_directories(t.str("ds/train"));
  std::vector<int32_t> v(tokens);
  for (uint64_t i = 0; i < tokens; ++i) v[i] = int32_t(i % vocab);
  // Two shards so windows span shard boundaries.
  const size_t half = tokens / 2 + 3;
  write_shard(t.str("ds/train/shard_000000.bin"), std::vector<int32_t>(v.begin(), v.begin() + half), vocab);
  write_shard(t.str("ds/train/shard_000001.bin"), std::vector<int32_t>(v.begin() + half, v.end()), vocab);
  return t.str("ds/train");
}

// Window index of a batch row (first token / T for the counting dataset).
std::vector<int64_t> windows_of(const Tensor& batch, int64_t T) {
  std::vector<int64_t> w;
  for (int64_t i = 0; i < batch.dim(0); ++i) {
    const int32_t* row = batch.data<int32_t>() + i * (T + 1);
    w.push_back(row[0] / T);
    for (int64_t j = 1; j <= T; ++j) EXPECT_EQ(row[j], row[0] + j);  // contiguous T+1 tokens
  }
  return w;
}

TEST(Loader, EveryWindowOncePerEpochInAFreshOrder) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 25 + 1);  // T=8: 25 windows
  LoaderOptions o{dir, 5, 8, 11, true, 0, 1, 2, 0};
  BatchLoader l(o);
  ASSERT_EQ(l.windows_per_epoch(), 25u);
  std::vector<int64_t> e0, e1;
  for (int b = 0; b < 5; ++b) for (int64_t w : windows_of(l.next(), 8)) e0.push_back(w);
  for (int b = 0; b < 5; ++b) for (int64_t w : windows_of(l.next(), 8)) e1.push_back(w);
  EXPECT_EQ(std::set<int64_t>(e0.begin(), e0.end()).size(), 25u);
  EXPECT_EQ(std::set<int64_t>(e1.begin(), e1.end()).size(), 25u);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(l.position(), (LoaderPosition{2, 0}));
  BatchLoader again(o);  // same seed, same order
  std::vector<int64_t> a0;
  for (int b = 0; b < 5; ++b) for (int64_t w : windows_of(again.next(), 8)) a0.push_back(w);
  EXPECT_EQ(a0, e0);
}

TEST(Loader, RanksAreDisjointAndCoverTheEpoch) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 24 + 1);  // 24 windows
  for (int dp : {1, 2, 3}) {
    std::vector<int64_t> all;
    for (int r = 0; r < dp; ++r) {
      LoaderOptions o{dir, 2, 8, 3, true, r, dp, 0, 0};
      BatchLoader l(o);
      for (int b = 0; b < 24 / (2 * dp); ++b)
        for (int64_t w : windows_of(l.next(), 8)) all.push_back(w);
    }
    EXPECT_EQ(all.size(), 24u) << dp;
    EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 24u) << "dp " << dp;
  }
}

TEST(Loader, SeekResumesWithTheNextBatchEvenWithAnotherRankCount) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 30 + 1);
  LoaderOptions one{dir, 4, 8, 5, true, 0, 1, 2, 0};
  BatchLoader ref(one);
  std::vector<std::vector<int64_t>> batches;
  for (int b = 0; b < 12; ++b) batches.push_back(windows_of(ref.next(), 8));
  // Resume after 5 batches.
  BatchLoader l(one);
  for (int b = 0; b < 5; ++b) l.next();
  LoaderPosition pos = l.position();
  BatchLoader resumed(one);
  resumed.seek(pos);
  for (int b = 5; b < 12; ++b) EXPECT_EQ(windows_of(resumed.next(), 8), batches[b]) << b;
  // Two ranks of batch 2 continue the same global order as one rank of batch 4.
  std::vector<int64_t> merged;
  for (int r = 0; r < 2; ++r) {
    LoaderOptions o{dir, 2, 8, 5, true, r, 2, 2, 0};
    BatchLoader lr(o);
    lr.seek(pos);
    for (int64_t w : windows_of(lr.next(), 8)) merged.push_back(w);
  }
  EXPECT_EQ(merged, batches[5]);
}

TEST(Loader, VocabMismatchAndMissingSplitAreClearErrors) {
  TempDir t;
  const std::string dir = counting_dataset(t, 200);
  std::string e = error_of([&] { BatchLoader l(LoaderOptions{dir, 1, 8, 0, true, 0, 1, 0, 512}); });
  EXPECT_NE(e.find("model.vocab_size: 1000"), std::string::npos) << e;
  e = error_of([&] { BatchLoader l(LoaderOptions{t.str("nowhere"), 1, 8, 0, true, 0, 1, 0, 0}); });
  EXPECT_NE(e.find("nowhere"), std::string::npos) << e;
  e = error_of([&] { BatchLoader l(LoaderOptions{dir, 1, 500, 0, true, 0, 1, 0, 0}); });
  EXPECT_NE(e.find("fewer than one window"), std::string::npos) << e;
}

TEST(Loader, EvalStreamCoversAllWindowsInOrder) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 10 + 1);
  EvalStream s(dir, 3, 8);
  std::vector<int64_t> all;
  for (Tensor b = s.next(); b.defined(); b = s.next())
    for (int64_t w : windows_of(b, 8)) all.push_back(w);
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EvalStream capped(dir, 3, 8, 4);
  int64_t n = 0;
  for (Tensor b = capped.next(); b.defined(); b = capped.next()) n += b.dim(0);
  EXPECT_EQ(n, 4);
}

TEST(Loader, PermutationIsABijection) {
  for (uint64_t n : {1ull, 2ull, 7ull, 100ull, 1025ull}) {
    WindowPermutation p(n, 9, 3);
    std::set<uint64_t> seen;
    for (uint64_t i = 0; i < n; ++i) seen.insert(p(i));
    EXPECT_EQ(seen.size(), n);
    EXPECT_LT(*seen.rbegin(), n);
  }
}

}  // namespace
}  // namespace mor::data
