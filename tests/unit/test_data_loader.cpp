// Streaming loader: every window exactly once per epoch in a fresh seeded order, disjoint ranks
// covering the epoch, exact resume (also on another number of ranks), prefetch transparency,
// EvalStream, and clear errors for vocabulary mismatch, missing splits and tampered datasets.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "data/loader.h"
#include "data/permutation.h"
#include "data_fixtures.h"

namespace mor::data {
namespace {
namespace fs = std::filesystem;
using namespace mor::testing;

LoaderOptions options(const std::string& dir, int64_t B, int64_t T, uint64_t seed, int rank = 0, int ranks = 1,
                      int prefetch = 2) {
  LoaderOptions o;
  o.split_dir = dir;
  o.batch = B;
  o.seq_len = T;
  o.seed = seed;
  o.dp_rank = rank;
  o.dp_size = ranks;
  o.prefetch = prefetch;
  return o;
}

// Window index of each batch row (first token / T for the counting dataset); checks the row
// holds T+1 consecutive tokens.
std::vector<int64_t> windows_of(const Tensor& batch, int64_t T) {
  EXPECT_EQ(batch.dim(1), T + 1);
  std::vector<int64_t> w;
  for (int64_t i = 0; i < batch.dim(0); ++i) {
    const int32_t* row = batch.data<int32_t>() + i * (T + 1);
    EXPECT_EQ(row[0] % T, 0);
    w.push_back(row[0] / T);
    for (int64_t j = 1; j <= T; ++j) EXPECT_EQ(row[j], row[0] + j);
  }
  return w;
}

std::vector<int64_t> take(BatchLoader& l, int batches, int64_t T) {
  std::vector<int64_t> all;
  for (int b = 0; b < batches; ++b)
    for (int64_t w : windows_of(l.next(), T)) all.push_back(w);
  return all;
}

TEST(Loader, EveryWindowOncePerEpochInAFreshOrder) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 25 + 1);  // T=8: 25 windows
  BatchLoader l(options(dir, 5, 8, 11));
  ASSERT_EQ(l.windows_per_epoch(), 25u);
  EXPECT_EQ(l.vocab_size(), 1000);
  EXPECT_EQ(l.total_tokens(), 201u);
  const std::vector<int64_t> e0 = take(l, 5, 8), e1 = take(l, 5, 8);
  EXPECT_EQ(std::set<int64_t>(e0.begin(), e0.end()).size(), 25u);
  EXPECT_EQ(std::set<int64_t>(e1.begin(), e1.end()).size(), 25u);
  EXPECT_NE(e0, e1);
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(e0, sorted) << "shuffled";
  EXPECT_EQ(l.position(), (LoaderPosition{2, 0}));
  BatchLoader again(options(dir, 5, 8, 11));
  EXPECT_EQ(take(again, 5, 8), e0) << "same seed, same order";
  BatchLoader other(options(dir, 5, 8, 12));
  EXPECT_NE(take(other, 5, 8), e0) << "another seed, another order";
  LoaderOptions plain = options(dir, 5, 8, 11);
  plain.shuffle = false;
  BatchLoader ordered(plain);
  EXPECT_EQ(take(ordered, 5, 8), sorted);
}

TEST(Loader, BatchesMaySpanEpochsAndStillCoverEach) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 7 + 1);  // 7 windows, batches of 3
  BatchLoader l(options(dir, 3, 8, 5));
  const std::vector<int64_t> all = take(l, 7, 8);  // 21 windows = 3 epochs
  for (int e = 0; e < 3; ++e) {
    std::set<int64_t> epoch(all.begin() + 7 * e, all.begin() + 7 * (e + 1));
    EXPECT_EQ(epoch.size(), 7u) << "epoch " << e;
  }
  EXPECT_EQ(l.position(), (LoaderPosition{3, 0}));
}

TEST(Loader, RanksAreDisjointAndCoverTheEpoch) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 24 + 1);  // 24 windows
  BatchLoader one(options(dir, 12, 8, 3));
  const std::vector<int64_t> global = take(one, 2, 8);
  for (int dp : {1, 2, 3}) {
    std::vector<std::vector<int64_t>> per_rank(static_cast<size_t>(dp));
    std::set<int64_t> all;
    for (int r = 0; r < dp; ++r) {
      BatchLoader l(options(dir, 2, 8, 3, r, dp, r % 2 ? 0 : 2));
      per_rank[size_t(r)] = take(l, 24 / (2 * dp), 8);
      all.insert(per_rank[size_t(r)].begin(), per_rank[size_t(r)].end());
    }
    EXPECT_EQ(all.size(), 24u) << "dp " << dp;  // disjoint (24 draws, 24 distinct) and complete
    // Interleaving rank batches reproduces the single-rank global order.
    std::vector<int64_t> merged;
    for (size_t step = 0; step < size_t(24 / (2 * dp)); ++step)
      for (const auto& rank : per_rank) merged.insert(merged.end(), rank.begin() + 2 * int64_t(step), rank.begin() + 2 * int64_t(step) + 2);
    EXPECT_EQ(merged, global) << "dp " << dp;
  }
}

TEST(Loader, SeekResumesWithTheNextBatchEvenWithAnotherRankCount) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 30 + 1);
  BatchLoader ref(options(dir, 4, 8, 5));
  std::vector<std::vector<int64_t>> batches;
  for (int b = 0; b < 12; ++b) batches.push_back(windows_of(ref.next(), 8));
  BatchLoader l(options(dir, 4, 8, 5));
  for (int b = 0; b < 5; ++b) l.next();
  const LoaderPosition pos = l.position();
  EXPECT_EQ(pos, (LoaderPosition{0, 20}));
  for (int prefetch : {0, 2}) {
    BatchLoader resumed(options(dir, 4, 8, 5, 0, 1, prefetch));
    resumed.next();  // seek also works after batches were taken (and prefetched)
    resumed.seek(pos);
    EXPECT_EQ(resumed.position(), pos);
    for (int b = 5; b < 12; ++b) EXPECT_EQ(windows_of(resumed.next(), 8), batches[size_t(b)]) << b;
  }
  // Two ranks of batch 2 continue the same global order as one rank of batch 4.
  for (int step = 0; step < 3; ++step) {
    std::vector<int64_t> merged;
    for (int r = 0; r < 2; ++r) {
      BatchLoader lr(options(dir, 2, 8, 5, r, 2));
      lr.seek(pos);
      for (int s = 0; s < step; ++s) lr.next();
      for (int64_t w : windows_of(lr.next(), 8)) merged.push_back(w);
    }
    EXPECT_EQ(merged, batches[size_t(5 + step)]) << step;
  }
}

TEST(Loader, ClearErrorsForVocabularyMissingSplitsAndTampering) {
  TempDir t;
  const std::string dir = counting_dataset(t, 200);
  LoaderOptions o = options(dir, 1, 8, 0);
  o.expect_vocab = 512;
  std::string e = error_of([&] { BatchLoader l(o); });
  EXPECT_NE(e.find(dir + ": the dataset's vocabulary has 1000 tokens but model.vocab_size is 512"), std::string::npos) << e;
  EXPECT_NE(e.find("Hint: set model.vocab_size: 1000"), std::string::npos) << e;
  e = error_of([&] { BatchLoader l(options(t.str("nowhere"), 1, 8, 0)); });
  EXPECT_NE(e.find("nowhere: no such dataset split directory"), std::string::npos) << e;
  e = error_of([&] { BatchLoader l(options(dir, 1, 500, 0)); });
  EXPECT_NE(e.find("fewer than one window"), std::string::npos) << e;
  fs::create_directories(t.str("ds/val"));
  e = error_of([&] { EvalStream s(t.str("ds/val"), 1, 8); });
  EXPECT_NE(e.find("val: not a dataset split (no manifest.json beside it, no .bin shards in it)"), std::string::npos) << e;
  // Shards from another tokenizer mixed into a split.
  write_shard(t.str("ds/train/shard_000002.bin"), {1, 2, 3}, 1000, 7);
  e = error_of([&] { BatchLoader l(options(dir, 1, 8, 0)); });
  EXPECT_NE(e.find("shard_000002.bin: vocabulary size or tokenizer differs"), std::string::npos) << e;
  // A corrupt shard is named.
  write_file(t.str("ds/train/shard_000002.bin"), "garbage");
  e = error_of([&] { BatchLoader l(options(dir, 1, 8, 0)); });
  EXPECT_NE(e.find("shard_000002.bin: truncated shard"), std::string::npos) << e;
  // A prepared dataset (it has a tokenizer) whose manifest was lost: shards cannot be checked.
  fs::remove(t.str("ds/train/shard_000002.bin"));
  write_file(t.str("ds/tokenizer.model"), "x");
  e = error_of([&] { BatchLoader l(options(dir, 1, 8, 0)); });
  EXPECT_NE(e.find("manifest.json: missing"), std::string::npos) << e;
}

TEST(Loader, EvalStreamCoversAllWindowsInOrder) {
  TempDir t;
  const std::string dir = counting_dataset(t, 8 * 10 + 1);
  EvalStream s(dir, 3, 8);
  EXPECT_EQ(s.windows(), 10u);
  std::vector<int64_t> all;
  for (Tensor b = s.next(); b.defined(); b = s.next())
    for (int64_t w : windows_of(b, 8)) all.push_back(w);
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EvalStream capped(dir, 3, 8, 4);
  int64_t n = 0;
  for (Tensor b = capped.next(); b.defined(); b = capped.next()) n += b.dim(0);
  EXPECT_EQ(n, 4);
}

TEST(Loader, PermutationIsABijectionThatDependsOnSeedAndEpoch) {
  for (uint64_t n : {1ull, 2ull, 7ull, 100ull, 1025ull, 4096ull}) {
    WindowPermutation p(n, 9, 3);
    std::set<uint64_t> seen;
    for (uint64_t i = 0; i < n; ++i) seen.insert(p(i));
    EXPECT_EQ(seen.size(), n);
    EXPECT_LT(*seen.rbegin(), n);
  }
  WindowPermutation a(1000, 1, 0), b(1000, 1, 1), c(1000, 2, 0);
  int same_ab = 0, same_ac = 0;
  for (uint64_t i = 0; i < 1000; ++i) same_ab += a(i) == b(i), same_ac += a(i) == c(i);
  EXPECT_LT(same_ab, 20);
  EXPECT_LT(same_ac, 20);
}

}  // namespace
}  // namespace mor::data
