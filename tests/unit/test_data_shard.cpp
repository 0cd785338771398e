// Token shard format: round trips, streaming appends, and every kind of damage is a BadInput
// error that names the file and what is wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "data/shard.h"
#include "data_fixtures.h"

namespace mor::data {
namespace {
namespace fs = std::filesystem;
using namespace mor::testing;

TEST(Shard, RoundTripsU16AndU32) {
  TempDir t;
  const std::vector<int32_t> small = {0, 5, 65535, 7}, big = {0, 70000, 3};
  write_shard(t.str("a.bin"), small, 65536);
  write_shard(t.str("b.bin"), big, 100000);
  ShardReader a(t.str("a.bin")), b(t.str("b.bin"));
  EXPECT_EQ(a.header().token_bytes, 2u);
  EXPECT_EQ(b.header().token_bytes, 4u);
  EXPECT_EQ(fs::file_size(t.str("a.bin")), 64u + 4 * 2);
  std::vector<int32_t> ra(4), rb(3);
  a.read(0, 4, ra.data());
  b.read(0, 3, rb.data());
  EXPECT_EQ(ra, small);
  EXPECT_EQ(rb, big);
  EXPECT_EQ(a.header().tokenizer_hash, 42u);
  EXPECT_EQ(a.header().vocab_size, 65536u);
  EXPECT_FALSE(fs::exists(t.str("a.bin.tmp")));
  EXPECT_EQ(read_file(t.str("a.bin")).substr(0, 8), "MORSHARD");
}

TEST(Shard, StreamingAppendsOfOddSizesMatchOneAppend) {
  TempDir t;
  std::vector<int32_t> tokens(1001);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 7919) % 5000);
  {
    ShardWriter w(t.str("streamed.bin"), 5000, 1);
    for (size_t i = 0; i < tokens.size();) {  // appends of 1, 2, 3, ... tokens: the checksum carries partial words
      const size_t n = std::min(tokens.size() - i, i % 13 + 1);
      w.append(tokens.data() + i, n);
      i += n;
    }
    EXPECT_FALSE(fs::exists(t.str("streamed.bin")));  // only the temp file until finish()
    w.finish();
  }
  write_shard(t.str("once.bin"), tokens, 5000, 1);
  EXPECT_EQ(read_file(t.str("streamed.bin")), read_file(t.str("once.bin")));
  ShardReader r(t.str("streamed.bin"));
  std::vector<int32_t> back(500);
  r.read(400, 500, back.data());
  EXPECT_TRUE(std::equal(back.begin(), back.end(), tokens.begin() + 400));
}

TEST(Shard, AnUnfinishedWriterLeavesNothing) {
  TempDir t;
  {
    ShardWriter w(t.str("x.bin"), 100, 1);
    const int32_t v[3] = {1, 2, 3};
    w.append(v, 3);
  }
  EXPECT_FALSE(fs::exists(t.str("x.bin")));
  EXPECT_FALSE(fs::exists(t.str("x.bin.tmp")));
}

TEST(Shard, DamageIsDetectedAndNamed) {
  TempDir t;
  write_shard(t.str("s.bin"), {1, 2, 3, 4, 5, 6}, 100);
  const std::string good = read_file(t.str("s.bin"));
  auto damaged = [&](const std::string& name, const std::function<void(std::string&)>& f) {
    std::string bytes = good;
    f(bytes);
    write_file(t.str(name), bytes);
    return t.str(name);
  };
  auto error = [](const std::string& path) { return error_of([&] { ShardReader r(path); }); };
  auto put32 = [](std::string& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); };
  auto put64 = [](std::string& b, size_t at, uint64_t v) { std::memcpy(&b[at], &v, 8); };
  const std::string truncated = damaged("trunc.bin", [](std::string& b) { b.resize(b.size() - 2); });
  const std::string trailing = damaged("trail.bin", [](std::string& b) { b += "xy"; });
  const std::string magic = damaged("magic.bin", [](std::string& b) { b[0] = 'X'; });
  const std::string version = damaged("version.bin", [&](std::string& b) { put32(b, 8, 9); });
  const std::string width = damaged("width.bin", [&](std::string& b) { put32(b, 12, 3); });
  const std::string flipped = damaged("flip.bin", [](std::string& b) { b[64] ^= 1; });
  const std::string vocab = damaged("vocab.bin", [&](std::string& b) { put64(b, 16, 4); });  // tokens up to 6 >= 4
  const std::string count = damaged("count.bin", [&](std::string& b) { put64(b, 24, uint64_t(1) << 63); });  // overflows N * 2
  const std::string tiny = damaged("tiny.bin", [](std::string& b) { b.resize(10); });
  EXPECT_NE(error(truncated).find("truncated"), std::string::npos);
  EXPECT_NE(error(truncated).find(truncated), std::string::npos);  // names the file
  EXPECT_NE(error(truncated).find("Hint:"), std::string::npos);
  EXPECT_NE(error(trailing).find("trailing bytes"), std::string::npos);
  EXPECT_NE(error(magic).find("bad magic"), std::string::npos);
  EXPECT_NE(error(version).find("version 9 is not supported"), std::string::npos);
  EXPECT_NE(error(width).find("token width 3"), std::string::npos);
  EXPECT_NE(error(flipped).find("checksum"), std::string::npos);
  EXPECT_NE(error(vocab).find("token id 6 >= vocabulary size 4"), std::string::npos) << error(vocab);
  EXPECT_NE(error(count).find("header promises"), std::string::npos) << error(count);
  EXPECT_NE(error(tiny).find("truncated"), std::string::npos);
  EXPECT_NE(error(t.str("missing.bin")).find("missing.bin"), std::string::npos);
}

}  // namespace
}  // namespace mor::data
