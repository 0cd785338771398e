// Shard writer and reader; see shard.h.
#include "shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "src/core/error.h"

namespace mor::data {
namespace {

const char kMagic[8] = {'M', 'O', 'R', 'S', 'H', 'A', 'R', 'D'};

void put_u32(unsigned char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put_u64(unsigned char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get_u32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void encode_header(const ShardHeader& h, unsigned char* out) {
  std::memset(out, 0, kShardHeaderBytes);
  std::memcpy(out, kMagic, 8);
  put_u32(out + 8, h.version);
  put_u32(out + 12, h.token_bytes);
  put_u64(out + 16, h.vocab_size);
  put_u64(out + 24, h.tokens);
  put_u64(out + 32, h.tokenizer_hash);
  put_u64(out + 40, h.checksum);
}

}  // namespace

uint64_t checksum_bytes(const void* data, size_t n, uint64_t h) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) h = (h ^ get_u64(p + i)) * 0x100000001b3ull;
  if (i < n) {
    unsigned char w[8]{};
    std::memcpy(w, p + i, n - i);
    h = (h ^ get_u64(w)) * 0x100000001b3ull;
  }
  return h;
}

// ---- writer ----

ShardWriter::ShardWriter(const std::string& path, uint64_t vocab_size, uint64_t tokenizer_hash)
    : path_(path), tmp_(path + ".tmp") {
  header_.vocab_size = vocab_size;
  header_.tokenizer_hash = tokenizer_hash;
  header_.token_bytes = vocab_size <= 65536 ? 2 : 4;
  header_.checksum = 0xcbf29ce484222325ull;
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) fail_input(tmp_, ": cannot create the shard file. Hint: check the output directory is writable.");
  unsigned char hdr[kShardHeaderBytes];
  encode_header(header_, hdr);
  if (std::fwrite(hdr, 1, sizeof hdr, f_) != sizeof hdr) fail_internal(tmp_, ": write failed (disk full?)");
}

ShardWriter::~ShardWriter() {
  if (f_) std::fclose(f_);
  if (!finished_) std::remove(tmp_.c_str());
}

void ShardWriter::append(const int32_t* tokens, size_t n) {
  std::vector<unsigned char>& buf = buffer_;
  buf.resize(n * header_.token_bytes);
  for (size_t i = 0; i < n; ++i) {
    MOR_CHECK(tokens[i] >= 0 && uint64_t(tokens[i]) < header_.vocab_size, "token ", tokens[i], " out of vocab");
    if (header_.token_bytes == 2) {
      uint16_t v = uint16_t(tokens[i]);
      std::memcpy(&buf[i * 2], &v, 2);
    } else {
      uint32_t v = uint32_t(tokens[i]);
      std::memcpy(&buf[i * 4], &v, 4);
    }
  }
  if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), f_) != buf.size())
    fail_internal(tmp_, ": write failed (disk full?)");
  // Fold into the checksum in 8-byte words, carrying a partial word across calls.
  size_t i = 0;
  while (i < buf.size()) {
    tail_[pending_++] = buf[i++];
    if (pending_ == 8) {
      header_.checksum = (header_.checksum ^ get_u64(tail_)) * 0x100000001b3ull;
      pending_ = 0;
    }
  }
  header_.tokens += n;
}

void ShardWriter::finish() {
  if (pending_ > 0) {
    std::memset(tail_ + pending_, 0, 8 - pending_);
    header_.checksum = (header_.checksum ^ get_u64(tail_)) * 0x100000001b3ull;
    pending_ = 0;
  }
  unsigned char hdr[kShardHeaderBytes];
  encode_header(header_, hdr);
  if (std::fseek(f_, 0, SEEK_SET) != 0 || std::fwrite(hdr, 1, sizeof hdr, f_) != sizeof hdr || std::fflush(f_) != 0 ||
      fsync(fileno(f_)) != 0)
    fail_internal(tmp_, ": write failed (disk full?)");
  std::fclose(f_);
  f_ = nullptr;
  std::filesystem::rename(tmp_, path_);
  finished_ = true;
}

// ---- reader ----

ShardReader::ShardReader(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail_input(path, ": cannot open the shard. Hint: re-run `mor prepare` or check data.path.");
  struct stat st {};
  fstat(fd, &st);
  map_bytes_ = size_t(st.st_size);
  if (map_bytes_ < kShardHeaderBytes) {
    ::close(fd);
    fail_input(path, ": truncated shard (", map_bytes_, " bytes, smaller than the 64-byte header). Hint: re-run `mor prepare`.");
  }
  void* m = mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) fail_internal(path, ": mmap failed");
  map_ = static_cast<const unsigned char*>(m);
  auto bad = [&](const std::string& what) {
    munmap(const_cast<unsigned char*>(map_), map_bytes_);
    map_ = nullptr;
    fail_input(path, ": ", what, " Hint: the shard is corrupt or from another tool; re-run `mor prepare`.");
  };
  if (std::memcmp(map_, kMagic, 8) != 0) bad("not a MoR token shard (bad magic).");
  header_.version = get_u32(map_ + 8);
  header_.token_bytes = get_u32(map_ + 12);
  header_.vocab_size = get_u64(map_ + 16);
  header_.tokens = get_u64(map_ + 24);
  header_.tokenizer_hash = get_u64(map_ + 32);
  header_.checksum = get_u64(map_ + 40);
  if (header_.version != kShardVersion)
    bad("shard format version " + std::to_string(header_.version) + " is not supported (this build reads version " +
        std::to_string(kShardVersion) + ").");
  if (header_.token_bytes != 2 && header_.token_bytes != 4)
    bad("token width " + std::to_string(header_.token_bytes) + " bytes is invalid (2 or 4).");
  if (header_.vocab_size == 0 || (header_.token_bytes == 2 && header_.vocab_size > 65536))
    bad("vocabulary size " + std::to_string(header_.vocab_size) + " does not fit the token width.");
  const uint64_t room = (map_bytes_ - kShardHeaderBytes) / header_.token_bytes;
  if (header_.tokens != room || (map_bytes_ - kShardHeaderBytes) % header_.token_bytes != 0)
    bad("file is " + std::to_string(map_bytes_) + " bytes but the header promises " + std::to_string(header_.tokens) +
        " tokens of " + std::to_string(header_.token_bytes) + " bytes after the 64-byte header" +
        (header_.tokens > room ? " (truncated)." : " (trailing bytes)."));
  const unsigned char* tok = map_ + kShardHeaderBytes;
  if (checksum_bytes(tok, header_.tokens * header_.token_bytes) != header_.checksum) bad("checksum mismatch (corrupt token data).");
  uint64_t max_token = 0;
  for (uint64_t i = 0; i < header_.tokens; ++i) {
    uint64_t v;
    if (header_.token_bytes == 2) {
      uint16_t u;
      std::memcpy(&u, tok + 2 * i, 2);
      v = u;
    } else {
      v = get_u32(tok + 4 * i);
    }
    max_token = std::max(max_token, v);
  }
  if (header_.tokens > 0 && max_token >= header_.vocab_size)
    bad("token id " + std::to_string(max_token) + " >= vocabulary size " + std::to_string(header_.vocab_size) + ".");
}

ShardReader::~ShardReader() {
  if (map_) munmap(const_cast<unsigned char*>(map_), map_bytes_);
}

void ShardReader::read(uint64_t begin, uint64_t n, int32_t* out) const {
  MOR_CHECK(begin + n <= header_.tokens, path_, ": read past the end");
  const unsigned char* tok = map_ + kShardHeaderBytes;
  if (header_.token_bytes == 2) {
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, tok + 2 * (begin + i), 2);
      out[i] = int32_t(v);
    }
  } else {
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t v;
      std::memcpy(&v, tok + 4 * (begin + i), 4);
      out[i] = int32_t(v);
    }
  }
}

}  // namespace mor::data
