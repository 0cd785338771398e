// Token shard files (format version 1, little-endian):
//
//   offset size  field
//        0    8  magic "MORSHARD"
//        8    4  format version (1)
//       12    4  bytes per token: 2 (u16, vocab <= 65536) or 4 (u32)
//       16    8  vocabulary size
//       24    8  token count N
//       32    8  tokenizer hash (64-bit hash of the tokenizer model file)
//       40    8  checksum of the token bytes (64-bit FNV-1a over 8-byte words)
//       48   16  reserved (zero)
//       64  N*w  tokens
//
// Readers reject anything they do not understand with an error that names the file. Everything is
// checked when a shard is opened (one pass over the file: checksum and every token < vocab), so a
// loader never meets a bad token mid-run; opening costs ~1 s per GB.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace mor::data {

constexpr uint32_t kShardVersion = 1;
constexpr size_t kShardHeaderBytes = 64;

struct ShardHeader {
  uint32_t version = kShardVersion;
  uint32_t token_bytes = 2;
  uint64_t vocab_size = 0;
  uint64_t tokens = 0;
  uint64_t tokenizer_hash = 0;
  uint64_t checksum = 0;
};

// 64-bit FNV-1a variant over little-endian 8-byte words (tail bytes zero-padded); chainable.
uint64_t checksum_bytes(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull);

// Streams tokens into `path` (written as `path.tmp`, renamed by finish()).
class ShardWriter {
 public:
  ShardWriter(const std::string& path, uint64_t vocab_size, uint64_t tokenizer_hash);
  ~ShardWriter();  // an unfinished shard's temp file is removed
  void append(const int32_t* tokens, size_t n);
  void finish();
  uint64_t tokens() const { return header_.tokens; }
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  ShardHeader header_;
  uint64_t pending_ = 0;      // bytes not yet folded into the checksum (kept aligned to 8)
  unsigned char tail_[8]{};   // partial checksum word
  std::vector<unsigned char> buffer_;  // encoded tokens of one append()
  bool finished_ = false;
};

// A read-only memory-mapped shard, validated on open (header, size, checksum, token range).
class ShardReader {
 public:
  explicit ShardReader(const std::string& path);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  const ShardHeader& header() const { return header_; }
  uint64_t tokens() const { return header_.tokens; }
  const std::string& path() const { return path_; }
  // Copies tokens [begin, begin + n) as int32.
  void read(uint64_t begin, uint64_t n, int32_t* out) const;

 private:
  std::string path_;
  ShardHeader header_;
  const unsigned char* map_ = nullptr;
  size_t map_bytes_ = 0;
};

}  // namespace mor::data
