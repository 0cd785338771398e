// `mor prepare`: text -> tokenizer + token shards + manifest, streamed with bounded memory.
//
//   reader thread   reads documents in ~1 MB chunks (corpus order), at most `inflight` ahead
//   N workers       validate UTF-8 and encode chunks in parallel (SentencePiece is thread-safe)
//   main thread     writes encoded chunks in corpus order into train/ or val/ shards
//
// Everything is built in OUT.tmp-<pid> and renamed into place at the end, so a failed or
// interrupted run leaves no half-written dataset. Document 0 always goes to train and document 1
// to validation (so both splits exist when there are two documents); the others go to validation
// with probability val_fraction, decided by a seeded hash of the document number.
#include "prepare.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "corpus.h"
#include "manifest.h"
#include "progress.h"
#include "shard.h"
#include "src/core/error.h"
#include "src/core/rng.h"
#include "tokenizer.h"

namespace mor::data {
namespace fs = std::filesystem;
namespace {

constexpr size_t kChunkBytes = 1 << 20;

// Removes the temporary directory unless released.
struct TempDir {
  fs::path path;
  bool keep = false;
  ~TempDir() {
    std::error_code ec;
    if (!keep && !path.empty()) fs::remove_all(path, ec);
  }
};

// Writes one split's shards, rotating every `shard_tokens` tokens.
class SplitWriter {
 public:
  SplitWriter(fs::path dir, uint64_t shard_tokens, uint64_t vocab, uint64_t tok_hash)
      : dir_(std::move(dir)), shard_tokens_(shard_tokens), vocab_(vocab), hash_(tok_hash) {}
  void add_document_tokens(const std::vector<int32_t>& ids) {
    size_t i = 0;
    while (i < ids.size()) {
      if (!cur_) open_next();
      const size_t room = size_t(shard_tokens_ - cur_->tokens());
      const size_t n = std::min(room, ids.size() - i);
      cur_->append(ids.data() + i, n);
      i += n;
      info_.tokens += n;
      if (cur_->tokens() >= shard_tokens_) close();
    }
  }
  void end_document() { ++info_.documents; }
  SplitInfo finish() {
    close();
    return info_;
  }

 private:
  void open_next() {
    char name[32];
    std::snprintf(name, sizeof name, "shard_%06zu.bin", info_.shards.size());
    cur_ = std::make_unique<ShardWriter>((dir_ / name).string(), vocab_, hash_);
    info_.shards.push_back({name, 0});
  }
  void close() {
    if (!cur_) return;
    info_.shards.back().tokens = cur_->tokens();
    cur_->finish();
    cur_.reset();
  }
  fs::path dir_;
  uint64_t shard_tokens_, vocab_, hash_;
  std::unique_ptr<ShardWriter> cur_;
  SplitInfo info_;
};

// Deterministic sample of corpus lines for tokenizer training (UTF-8 checked).
class SampleLines {
 public:
  SampleLines(const std::vector<SourceFile>& sources, uint64_t max_bytes, uint64_t seed) : sources_(sources) {
    uint64_t total = 0;
    for (const auto& s : sources) total += s.bytes;
    const double keep = total > max_bytes ? double(max_bytes) / double(total) : 1.0;
    for (size_t i = 0; i < sources.size(); ++i) {
      Rng r(seed, sources[i].path);
      if (keep >= 1.0 || r.uniform() < keep) picked_.push_back(i);
    }
    if (picked_.empty()) picked_.push_back(0);
  }
  bool next(std::string& line) {
    while (true) {
      if (!pending_.empty()) {
        line = std::move(pending_.front());
        pending_.pop_front();
        return true;
      }
      if (!refill()) return false;
    }
  }

 private:
  bool refill() {
    if (file_ >= picked_.size()) return false;
    const SourceFile& src = sources_[picked_[file_++]];
    uint64_t doc = 0;
    read_chunks(src, doc, kChunkBytes, [&](TextChunk&& c) {
      int64_t bad = find_invalid_utf8(c.text.data(), c.text.size());
      if (bad >= 0) fail_input(src.path, ": not UTF-8 text (invalid byte at offset ", c.source_offset + uint64_t(bad),
                               "). Hint: convert it to UTF-8 or exclude it (--ext).");
      size_t start = 0;
      while (start < c.text.size()) {
        size_t end = c.text.find('\n', start);
        if (end == std::string::npos) end = c.text.size();
        // Long lines are cut into <= 8 KB pieces at UTF-8 boundaries (the trainer skips longer ones).
        for (size_t p = start; p < end;) {
          size_t q = std::min(end, p + 8000);
          while (q < end && (static_cast<unsigned char>(c.text[q]) & 0xc0) == 0x80) --q;
          pending_.emplace_back(c.text.substr(p, q - p));
          p = q;
        }
        start = end + 1;
      }
    });
    return true;
  }
  const std::vector<SourceFile>& sources_;
  std::vector<size_t> picked_;
  size_t file_ = 0;
  std::deque<std::string> pending_;
};

struct Encoded {
  std::vector<int32_t> ids;
  uint64_t document = 0;
  bool end_of_document = false;
  uint64_t bytes = 0;
};

}  // namespace

int run_prepare(const PrepareOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<SourceFile> sources = list_sources(o.inputs, o.extensions);
  uint64_t total_bytes = 0;
  for (const auto& s : sources) total_bytes += s.bytes;
  if (total_bytes == 0) fail_input(sources.front().path, ": the corpus is empty (0 bytes). Hint: point --input at text files.");
  if (o.val_fraction < 0 || o.val_fraction >= 1) fail_input("--val-fraction ", o.val_fraction, " must be in [0, 1).");
  if (o.shard_tokens < 1024) fail_input("--shard-tokens ", o.shard_tokens, " is too small (minimum 1024).");
  const fs::path out(o.out_dir);
  if (out.empty()) fail_input("--out is empty. Hint: --out datasets/NAME");
  if (fs::exists(out) && !o.overwrite)
    fail_input(o.out_dir, ": already exists. Hint: pass --overwrite to replace it, or choose another --out.");
  if (!out.parent_path().empty()) fs::create_directories(out.parent_path());
  TempDir tmp{fs::path(o.out_dir + ".tmp-" + std::to_string(getpid()))};
  fs::remove_all(tmp.path);
  fs::create_directories(tmp.path / "train");
  fs::create_directories(tmp.path / "val");
  const int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));

  // 1. Tokenizer.
  const std::string tok_path = (tmp.path / "tokenizer.model").string();
  Tokenizer tok = [&] {
    if (!o.tokenizer.empty()) {
      Tokenizer t = Tokenizer::load(o.tokenizer);
      fs::copy_file(o.tokenizer, tok_path);
      return t;
    }
    if (!o.quiet) std::fprintf(stderr, "training a %lld-token BPE tokenizer on %s of text...\n", (long long)o.vocab_size,
                               std::to_string(total_bytes >> 20).append(" MB").c_str());
    SampleLines sample(sources, TokenizerTrainOptions{}.max_sample_bytes, o.seed);
    TokenizerTrainOptions to;
    to.vocab_size = o.vocab_size;
    to.threads = threads;
    return Tokenizer::train([&](std::string& line) { return sample.next(line); }, to, tok_path);
  }();
  const int64_t vocab = tok.vocab_size();
  const int32_t eos = tok.eos_id();

  // 2. Encode in parallel, write in order.
  SplitWriter train_w(tmp.path / "train", uint64_t(o.shard_tokens), uint64_t(vocab), tok.hash());
  SplitWriter val_w(tmp.path / "val", uint64_t(o.shard_tokens), uint64_t(vocab), tok.hash());
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<uint64_t, TextChunk>> work;
  std::map<uint64_t, Encoded> done;
  uint64_t next_seq = 0, next_write = 0;
  bool input_done = false;
  std::exception_ptr error;
  const uint64_t inflight = uint64_t(4 * threads);

  std::thread reader([&] {
    try {
      uint64_t doc = 0;
      for (const auto& src : sources) {
        read_chunks(src, doc, kChunkBytes, [&](TextChunk&& c) {
          std::unique_lock<std::mutex> lk(mu);
          cv.wait(lk, [&] { return error || next_seq < next_write + inflight; });
          if (error) throw std::runtime_error("stopped");
          work.emplace_back(next_seq++, std::move(c));
          cv.notify_all();
        });
      }
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu);
      if (!error) error = std::current_exception();
    }
    std::lock_guard<std::mutex> lk(mu);
    input_done = true;
    cv.notify_all();
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&] {
      while (true) {
        std::pair<uint64_t, TextChunk> item;
        {
          std::unique_lock<std::mutex> lk(mu);
          cv.wait(lk, [&] { return error || !work.empty() || input_done; });
          if (error || work.empty()) return;
          item = std::move(work.front());
          work.pop_front();
        }
        try {
          const TextChunk& c = item.second;
          const int64_t bad = find_invalid_utf8(c.text.data(), c.text.size());
          if (bad >= 0) {
            if (c.line > 0)
              fail_input(c.source->path, ":", c.line, ": the \"text\" field is not valid UTF-8. Hint: fix or drop that line.");
            fail_input(c.source->path, ": not UTF-8 text (invalid or NUL byte at offset ", c.source_offset + uint64_t(bad),
                       "). Hint: convert it to UTF-8, or exclude binary files with --ext.");
          }
          Encoded e;
          e.ids = tok.encode(c.text);
          if (c.end_of_document) e.ids.push_back(eos);
          e.document = c.document;
          e.end_of_document = c.end_of_document;
          e.bytes = c.text.size();
          std::lock_guard<std::mutex> lk(mu);
          done.emplace(item.first, std::move(e));
          cv.notify_all();
        } catch (...) {
          std::lock_guard<std::mutex> lk(mu);
          if (!error) error = std::current_exception();
          cv.notify_all();
          return;
        }
      }
    });
  }

  Progress progress("prepare", total_bytes, "B", !o.quiet);
  uint64_t bytes_done = 0, documents = 0, val_docs = 0;
  try {
    while (true) {
      Encoded e;
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return error || done.count(next_write) || (input_done && next_write == next_seq); });
        if (error) break;
        if (!done.count(next_write)) break;  // all written
        e = std::move(done[next_write]);
        done.erase(next_write);
        ++next_write;
        cv.notify_all();
      }
      const bool to_val = e.document == 1 ? o.val_fraction > 0
                                          : e.document > 1 && Rng(o.seed, "val-split:" + std::to_string(e.document)).uniform() < o.val_fraction;
      SplitWriter& w = to_val ? val_w : train_w;
      w.add_document_tokens(e.ids);
      if (e.end_of_document) {
        w.end_document();
        ++documents;
        val_docs += to_val;
      }
      bytes_done += e.bytes;
      progress.update(bytes_done);
    }
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu);
    if (!error) error = std::current_exception();
    cv.notify_all();
  }
  reader.join();
  for (auto& t : workers) t.join();
  if (error) std::rethrow_exception(error);
  progress.finish();

  Manifest m;
  m.vocab_size = vocab;
  m.eos_id = eos;
  m.tokenizer_hash = tok.hash();
  m.train = train_w.finish();
  m.val = val_w.finish();
  if (m.train.tokens <= documents)
    fail_input(sources.front().path, ": the corpus holds no text (only empty documents). Hint: point --input at text files.");
  if (o.val_fraction > 0 && m.val.documents == 0)
    fail_input(o.inputs.front(), ": only one document, so no validation split can be held out. Hint: give several files "
                                 "(or a .jsonl with one document per line), or pass --val-fraction 0.");
  for (const auto& s : sources) m.sources.emplace_back(s.path, s.bytes);
  m.options = {{"vocab_size", std::to_string(o.vocab_size)}, {"val_fraction", std::to_string(o.val_fraction)},
               {"shard_tokens", std::to_string(o.shard_tokens)}, {"seed", std::to_string(o.seed)},
               {"tokenizer", o.tokenizer.empty() ? "trained" : o.tokenizer}};
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.seconds = seconds;
  write_manifest((tmp.path / "manifest.json").string(), m);

  // 3. Publish: the old dataset (with --overwrite) is removed only after the new one is in place.
  fs::path old;
  if (fs::exists(out)) {
    old = fs::path(o.out_dir + ".old-" + std::to_string(getpid()));
    fs::rename(out, old);
  }
  fs::rename(tmp.path, out);
  tmp.keep = true;
  if (!old.empty()) fs::remove_all(old);

  const double mbps = double(total_bytes) / 1e6 / seconds;
  if (o.json) {
    std::printf("{\"out\": \"%s\", \"vocab_size\": %lld, \"eos_id\": %d, \"train_tokens\": %llu, \"val_tokens\": %llu, "
                "\"documents\": %llu, \"val_documents\": %llu, \"bytes\": %llu, \"seconds\": %.3f, \"mb_per_s\": %.3f, "
                "\"threads\": %d}\n",
                o.out_dir.c_str(), (long long)vocab, eos, (unsigned long long)m.train.tokens, (unsigned long long)m.val.tokens,
                (unsigned long long)documents, (unsigned long long)val_docs, (unsigned long long)total_bytes, seconds, mbps,
                threads);
  } else {
    std::printf("prepared %s: %llu documents (%llu held out), %llu train + %llu val tokens, vocab %lld, %.1f MB in %.1fs (%.2f MB/s)\n",
                o.out_dir.c_str(), (unsigned long long)documents, (unsigned long long)val_docs,
                (unsigned long long)m.train.tokens, (unsigned long long)m.val.tokens, (long long)vocab,
                double(total_bytes) / 1e6, seconds, mbps);
  }
  return 0;
}

}  // namespace mor::data
