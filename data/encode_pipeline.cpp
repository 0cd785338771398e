// Parallel encoding pipeline; see encode_pipeline.h.
#include "encode_pipeline.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "json_io.h"
#include "src/core/error.h"
#include "token_encoder.h"

namespace mor::data {
namespace {

constexpr size_t kBatchBytes = 1 << 20;
constexpr size_t kBatchChunks = 4096;  // many short .jsonl documents still make one batch

using Batch = std::vector<TextChunk>;
using EncodedBatch = std::vector<EncodedChunk>;

// Shared state of the three stages.
struct Pipeline {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<uint64_t, Batch>> todo;  // read, not yet encoded
  std::map<uint64_t, EncodedBatch> done;        // encoded, waiting for their turn
  uint64_t next_read = 0, next_consume = 0;
  bool input_done = false;
  std::exception_ptr error;
  EncodeStats stats;

  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lk(mu);
    if (!error) error = e;
    cv.notify_all();
  }
};

EncodedChunk encode_chunk(const TextChunk& c, const SourceFile& src, TokenEncoder& enc, int32_t eos) {
  std::string extracted, why;
  std::string_view text = c.text;
  if (const int64_t bad = find_invalid_utf8(c.text.data(), c.text.size()); bad >= 0)
    fail_not_utf8(src.path, c.offset + uint64_t(bad), c.line);
  if (c.json_line) {
    if (!jsonl_text(c.text, extracted, why))
      fail_input(src.path, ":", c.line, ": ", why, ". Hint: each line of a .jsonl file must look like {\"text\": \"...\"}.");
    if (find_invalid_utf8(extracted.data(), extracted.size()) >= 0) fail_not_utf8(src.path, c.offset, c.line);
    text = extracted;
  }
  EncodedChunk e;
  e.ids.reserve(text.size() / 3 + 1);
  enc.encode(text, e.ids);
  if (c.end_of_document) e.ids.push_back(eos);
  e.document = c.document;
  e.file_bytes = c.file_bytes;
  e.end_of_document = c.end_of_document;
  return e;
}

void read_batches(Pipeline& p, DocumentReader& reader, uint64_t max_in_flight) {
  try {
    bool more = true;
    while (more) {
      Batch batch;
      size_t bytes = 0;
      TextChunk c;
      while (bytes < kBatchBytes && batch.size() < kBatchChunks && (more = reader.next(c))) {
        bytes += c.text.size();
        batch.push_back(std::move(c));
      }
      if (batch.empty()) break;
      std::unique_lock<std::mutex> lk(p.mu);
      p.cv.wait(lk, [&] { return p.error || p.next_read < p.next_consume + max_in_flight; });
      if (p.error) return;
      p.todo.emplace_back(p.next_read++, std::move(batch));
      p.cv.notify_all();
    }
  } catch (...) {
    p.fail(std::current_exception());
  }
  std::lock_guard<std::mutex> lk(p.mu);
  p.input_done = true;
  p.cv.notify_all();
}

void encode_batches(Pipeline& p, const std::vector<SourceFile>& sources, const Tokenizer& tok, SharedSegmentCache& shared) {
  TokenEncoder enc(tok, &shared);
  try {
    while (true) {
      std::pair<uint64_t, Batch> item;
      {
        std::unique_lock<std::mutex> lk(p.mu);
        p.cv.wait(lk, [&] { return p.error || !p.todo.empty() || p.input_done; });
        if (p.error || p.todo.empty()) break;
        item = std::move(p.todo.front());
        p.todo.pop_front();
      }
      EncodedBatch out;
      out.reserve(item.second.size());
      for (const TextChunk& c : item.second) out.push_back(encode_chunk(c, sources[c.source], enc, tok.eos_id()));
      std::lock_guard<std::mutex> lk(p.mu);
      p.done.emplace(item.first, std::move(out));
      p.cv.notify_all();
    }
  } catch (...) {
    p.fail(std::current_exception());
  }
  std::lock_guard<std::mutex> lk(p.mu);
  p.stats.cache_hits += enc.hits();
  p.stats.cache_misses += enc.misses();
}

}  // namespace

EncodeStats run_encode_pipeline(DocumentReader& reader, const std::vector<SourceFile>& sources, const Tokenizer& tok,
                                int threads, const std::function<void(const EncodedChunk&)>& consume) {
  Pipeline p;
  SharedSegmentCache shared;
  threads = std::max(1, threads);
  std::thread reader_thread(read_batches, std::ref(p), std::ref(reader), uint64_t(2 * threads + 2));
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) workers.emplace_back(encode_batches, std::ref(p), std::cref(sources), std::cref(tok), std::ref(shared));
  try {
    while (true) {
      EncodedBatch batch;
      {
        std::unique_lock<std::mutex> lk(p.mu);
        p.cv.wait(lk, [&] {
          return p.error || p.done.count(p.next_consume) || (p.input_done && p.next_consume == p.next_read);
        });
        if (p.error || !p.done.count(p.next_consume)) break;
        auto node = p.done.extract(p.next_consume);
        batch = std::move(node.mapped());
        ++p.next_consume;
        p.cv.notify_all();
      }
      for (const EncodedChunk& e : batch) consume(e);
    }
  } catch (...) {
    p.fail(std::current_exception());
  }
  reader_thread.join();
  for (auto& w : workers) w.join();
  if (p.error) std::rethrow_exception(p.error);
  return p.stats;
}

}  // namespace mor::data
