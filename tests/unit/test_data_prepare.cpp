// `mor prepare` as a library call: the dataset it writes (manifest, shards, tokenizer, EOS after
// every document, tokens equal to SentencePiece's), determinism, and one clear BadInput error
// per bad input with nothing left behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "data/json_io.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "data/split_writer.h"
#include "data/staging.h"
#include "data/token_stream.h"
#include "data/tokenizer.h"
#include "data_fixtures.h"

namespace mor::data {
namespace {
namespace fs = std::filesystem;
using namespace mor::testing;

PrepareOptions small_prepare(const std::string& in, const std::string& out) {
  PrepareOptions o;
  o.inputs = {in};
  o.out_dir = out;
  o.vocab_size = 320;
  o.val_fraction = 0.2;
  o.shard_tokens = 4096;
  o.threads = 2;
  o.quiet = true;
  return o;
}

// Runs prepare with stdout captured; returns what it printed.
std::string prepare_quietly(const PrepareOptions& o) {
  ::testing::internal::CaptureStdout();
  try {
    run_prepare(o);
  } catch (...) {
    ::testing::internal::GetCapturedStdout();
    throw;
  }
  return ::testing::internal::GetCapturedStdout();
}

std::vector<int32_t> all_tokens(const std::string& split_dir) {
  TokenStream s(split_dir, 0);
  std::vector<int32_t> v(s.tokens());
  s.read(0, s.tokens(), v.data());
  return v;
}

TEST(Prepare, BuildsShardsManifestAndTokenizer) {
  TempDir t;
  const auto paths = write_corpus(t.str("corpus"), 12, 1500);
  const std::string printed = prepare_quietly(small_prepare(t.str("corpus"), t.str("ds")));
  EXPECT_NE(printed.find("prepared " + t.str("ds")), std::string::npos) << printed;
  const Manifest m = read_manifest(t.str("ds/manifest.json"));
  EXPECT_EQ(m.vocab_size, 320);
  EXPECT_EQ(m.eos_id, 2);
  EXPECT_EQ(m.token_bytes, 2u);
  EXPECT_EQ(m.documents, 12u);
  EXPECT_EQ(m.train.documents + m.val.documents, 12u);
  EXPECT_GE(m.val.documents, 1u);
  EXPECT_GE(m.train.documents, 1u);
  EXPECT_FALSE(is_validation_document(0, 0.2, 1234));  // document 0 trains, document 1 validates
  EXPECT_TRUE(is_validation_document(1, 0.2, 1234));
  EXPECT_GT(m.train.shards.size(), 1u);  // 4096-token shards
  uint64_t sum = 0, bytes = 0;
  for (const auto& s : m.train.shards) {
    ShardReader r(t.str("ds/train/" + s.file));
    EXPECT_EQ(r.tokens(), s.tokens);
    EXPECT_EQ(r.header().tokenizer_hash, m.tokenizer_hash);
    EXPECT_LE(r.tokens(), 4096u);
    sum += r.tokens();
  }
  EXPECT_EQ(sum, m.train.tokens);
  ASSERT_EQ(m.sources.size(), 12u);
  for (size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(m.sources[i].first, paths[i]);
    EXPECT_EQ(m.sources[i].second, fs::file_size(paths[i]));
    bytes += m.sources[i].second;
  }
  EXPECT_EQ(m.bytes, bytes);
  EXPECT_EQ(m.options.vocab_size, 320);
  EXPECT_DOUBLE_EQ(m.options.val_fraction, 0.2);
  // The shards hold each document's SentencePiece tokens followed by EOS, in corpus order.
  const Tokenizer tok = Tokenizer::load(t.str("ds/tokenizer.model"));
  EXPECT_EQ(tok.hash(), m.tokenizer_hash);
  const std::vector<int32_t> train = all_tokens(t.str("ds/train")), val = all_tokens(t.str("ds/val"));
  EXPECT_EQ(uint64_t(std::count(train.begin(), train.end(), 2)), m.train.documents);
  EXPECT_EQ(uint64_t(std::count(val.begin(), val.end(), 2)), m.val.documents);
  std::vector<int32_t> expect_train, expect_val;
  for (size_t d = 0; d < paths.size(); ++d) {
    std::vector<int32_t> ids = tok.encode(read_file(paths[d]));
    ids.push_back(2);
    auto& dst = is_validation_document(d, 0.2, 1234) ? expect_val : expect_train;
    dst.insert(dst.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(train, expect_train);
  EXPECT_EQ(val, expect_val);
  EXPECT_FALSE(fs::exists(t.str("ds.tmp-") + std::to_string(getpid())));
}

TEST(Prepare, ReusesATokenizerAndIsDeterministic) {
  TempDir t;
  write_corpus(t.str("corpus"), 6, 800);
  prepare_quietly(small_prepare(t.str("corpus"), t.str("a")));
  PrepareOptions o = small_prepare(t.str("corpus"), t.str("b"));
  o.tokenizer = t.str("a/tokenizer.model");
  o.threads = 1;
  o.json = true;
  const std::string json = prepare_quietly(o);
  EXPECT_NE(json.find("\"train_tokens\":"), std::string::npos) << json;
  EXPECT_NE(json.find("\"mb_per_s\":"), std::string::npos) << json;
  const Manifest a = read_manifest(t.str("a/manifest.json")), b = read_manifest(t.str("b/manifest.json"));
  EXPECT_EQ(a.tokenizer_hash, b.tokenizer_hash);
  EXPECT_FALSE(b.tokenizer_trained);
  EXPECT_EQ(read_file(t.str("a/train/shard_000000.bin")), read_file(t.str("b/train/shard_000000.bin")));
  EXPECT_EQ(all_tokens(t.str("a/val")), all_tokens(t.str("b/val")));
  // --overwrite replaces a dataset in place.
  o.overwrite = true;
  o.val_fraction = 0.5;
  prepare_quietly(o);
  EXPECT_GT(read_manifest(t.str("b/manifest.json")).val.documents, b.val.documents);
}

TEST(Prepare, SingleFileAndJsonlCorpora) {
  TempDir t;
  write_file(t.str("one.txt"), english_text(6000, 9));
  prepare_quietly(small_prepare(t.str("one.txt"), t.str("one")));
  const Manifest one = read_manifest(t.str("one/manifest.json"));
  EXPECT_EQ(one.train.documents, 1u);
  EXPECT_EQ(one.val.documents, 1u);  // the file's last ~20% is held out
  EXPECT_GT(one.train.tokens, 3 * one.val.tokens);
  {
    std::string lines;
    for (int i = 0; i < 30; ++i) lines += "{\"text\": \"the model learns to route token number " + std::to_string(i) + "\\nthrough shared layers\"}\n";
    write_file(t.str("docs.jsonl"), lines);
  }
  prepare_quietly(small_prepare(t.str("docs.jsonl"), t.str("ds")));
  EXPECT_EQ(read_manifest(t.str("ds/manifest.json")).documents, 30u);
  write_file(t.str("bad.jsonl"), "{\"text\": \"fine\"}\n{\"txt\": 1}\n");
  PrepareOptions bad = small_prepare(t.str("bad.jsonl"), t.str("ds2"));
  bad.tokenizer = t.str("ds/tokenizer.model");
  const std::string e = error_of([&] { prepare_quietly(bad); });
  EXPECT_NE(e.find("bad.jsonl:2: no string field \"text\""), std::string::npos) << e;
}

TEST(Prepare, BadInputGivesOneClearErrorAndLeavesNothing) {
  TempDir t;
  write_corpus(t.str("corpus"), 4, 600);
  auto run = [&](PrepareOptions o) {
    const std::string e = error_of([&] { prepare_quietly(o); });
    EXPECT_FALSE(fs::exists(o.out_dir)) << e;
    for (const auto& entry : fs::recursive_directory_iterator(t.path))
      EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << "leftover " << entry.path();
    EXPECT_NE(e.find("Hint:"), std::string::npos) << e;
    return e;
  };
  auto expect_in = [](const std::string& msg, const std::string& part) {
    EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  };
  expect_in(run(small_prepare(t.str("nope"), t.str("o1"))), t.str("nope") + ": no such file");
  fs::create_directories(t.str("empty_dir"));
  expect_in(run(small_prepare(t.str("empty_dir"), t.str("o2"))), "empty_dir: no input files");
  fs::create_directories(t.str("bin"));
  write_file(t.str("bin/ok.txt"), "some fine text\n");
  write_file(t.str("bin/blob.txt"), std::string("\x7f" "ELF\0\0\x01\xff", 8));
  expect_in(run(small_prepare(t.str("bin"), t.str("o3"))), "blob.txt: not UTF-8 text (invalid or NUL byte at offset 4)");
  fs::create_directories(t.str("zero"));
  write_file(t.str("zero/a.txt"), "");
  expect_in(run(small_prepare(t.str("zero"), t.str("o4"))), "zero: the corpus is empty");
  PrepareOptions small_vocab = small_prepare(t.str("corpus"), t.str("o5"));
  small_vocab.vocab_size = 100;
  expect_in(run(small_vocab), "--vocab-size 100 is too small");
  PrepareOptions huge_vocab = small_prepare(t.str("corpus"), t.str("deep/er/o6"));
  huge_vocab.vocab_size = 50000;
  expect_in(run(huge_vocab), "corpus: --vocab-size 50000 is too large");
  EXPECT_FALSE(fs::exists(t.str("deep"))) << "parent directories created by a failed run are removed";
  PrepareOptions bad_fraction = small_prepare(t.str("corpus"), t.str("o7"));
  bad_fraction.val_fraction = 1.5;
  expect_in(run(bad_fraction), "--val-fraction 1.5");
  PrepareOptions bad_tokenizer = small_prepare(t.str("corpus"), t.str("o8"));
  bad_tokenizer.tokenizer = t.str("corpus/doc1000.txt");
  expect_in(run(bad_tokenizer), "doc1000.txt: not a SentencePiece model");
  // An existing output directory is kept untouched without --overwrite.
  fs::create_directories(t.str("exists"));
  write_file(t.str("exists/keep"), "x");
  expect_in(error_of([&] { prepare_quietly(small_prepare(t.str("corpus"), t.str("exists"))); }), "exists: already exists");
  EXPECT_TRUE(fs::exists(t.str("exists/keep")));
}

TEST(Prepare, RemovesLeftoversOfKilledRuns) {
  TempDir t;
  write_corpus(t.str("in"), 4, 600);
  // A killed run's staging directory (pid 999999999 cannot exist) is cleaned up by the next run.
  fs::create_directories(t.str("ds.tmp-999999999/train"));
  write_file(t.str("ds.tmp-999999999/train/shard_000000.bin"), "partial");
  PrepareOptions o = small_prepare(t.str("in"), t.str("ds"));
  prepare_quietly(o);
  EXPECT_FALSE(fs::exists(t.str("ds.tmp-999999999")));
  EXPECT_FALSE(fs::exists(t.str("ds.lock"))) << "the output lock is removed when prepare ends";
}

// Issue item 2: an output that overlaps an input is refused (with or without --overwrite), and
// --overwrite replaces only a dataset directory; nothing is deleted on a refusal.
TEST(Prepare, OutputOverlappingAnInputOrNotADatasetIsRefused) {
  TempDir t;
  write_corpus(t.str("par/data"), 3, 400);
  write_file(t.str("par/unrelated.txt"), "keep me");
  const size_t docs = std::distance(fs::directory_iterator(t.str("par/data")), fs::directory_iterator());
  auto intact = [&] {
    EXPECT_TRUE(fs::exists(t.str("par/unrelated.txt")));
    EXPECT_EQ(size_t(std::distance(fs::directory_iterator(t.str("par/data")), fs::directory_iterator())), docs);
  };
  for (bool overwrite : {false, true}) {
    PrepareOptions contains = small_prepare(t.str("par/data"), t.str("par"));
    contains.overwrite = overwrite;
    const std::string e = error_of([&] { prepare_quietly(contains); });
    EXPECT_NE(e.find("--out " + t.str("par") + ": contains the input --input " + t.str("par/data")), std::string::npos) << e;
    EXPECT_NE(e.find("Hint:"), std::string::npos) << e;
    intact();
    PrepareOptions inside = small_prepare(t.str("par/data"), t.str("par/data/ds"));
    inside.overwrite = overwrite;
    EXPECT_NE(error_of([&] { prepare_quietly(inside); }).find("lies inside the input --input"), std::string::npos);
    EXPECT_FALSE(fs::exists(t.str("par/data/ds")));
    PrepareOptions same = small_prepare(t.str("par/data"), t.str("par/data/"));
    same.overwrite = overwrite;
    EXPECT_NE(error_of([&] { prepare_quietly(same); }).find("is the same path as the input"), std::string::npos);
    intact();
  }
  // Through a symbolic link, and with the tokenizer as the input.
  fs::create_directory_symlink(t.str("par"), t.str("link"));
  EXPECT_NE(error_of([&] { prepare_quietly(small_prepare(t.str("par/data"), t.str("link/data/ds"))); }).find("lies inside"),
            std::string::npos);
  // A sibling that shares a name prefix does not overlap.
  prepare_quietly(small_prepare(t.str("par/data"), t.str("par/data2")));
  PrepareOptions tok = small_prepare(t.str("par/data"), t.str("par/data2/tokenizer.model"));
  tok.tokenizer = t.str("par/data2/tokenizer.model");
  EXPECT_NE(error_of([&] { prepare_quietly(tok); }).find("the input --tokenizer"), std::string::npos);
  // --overwrite of something that is not a dataset: refused, described, left untouched.
  fs::create_directories(t.str("notes/sub"));
  write_file(t.str("notes/todo.txt"), "x");
  PrepareOptions notes = small_prepare(t.str("par/data"), t.str("notes"));
  notes.overwrite = true;
  std::string e = error_of([&] { prepare_quietly(notes); });
  EXPECT_NE(e.find("--overwrite refused: it is not a dataset directory but a directory holding sub/ and todo.txt"),
            std::string::npos) << e;
  EXPECT_TRUE(fs::exists(t.str("notes/todo.txt")));
  write_file(t.str("plain.txt"), "x");
  notes.out_dir = t.str("plain.txt");
  e = error_of([&] { prepare_quietly(notes); });
  EXPECT_NE(e.find("not a dataset directory but a file of 1 bytes"), std::string::npos) << e;
  EXPECT_TRUE(fs::exists(t.str("plain.txt")));
  // A dataset with a foreign file in it is not a dataset any more.
  write_file(t.str("par/data2/train/mine.txt"), "x");
  notes.out_dir = t.str("par/data2");
  EXPECT_NE(error_of([&] { prepare_quietly(notes); }).find("not a dataset directory"), std::string::npos);
  EXPECT_TRUE(fs::exists(t.str("par/data2/train/mine.txt")));
  fs::remove(t.str("par/data2/train/mine.txt"));
  prepare_quietly(notes);  // a real dataset is replaced
  EXPECT_TRUE(looks_like_dataset(t.str("par/data2")));
}
}  // namespace
}  // namespace mor::data
