// `mor prepare`: text -> tokenizer + token shards + manifest, streamed with bounded memory.
//
//   1. list the input files (corpus.h) and check the options;
//   2. train a tokenizer on a bounded sample (tokenizer_sample.h) or load --tokenizer;
//   3. encode every document in parallel (encode_pipeline.h) and write its tokens, EOS-terminated,
//      to train/ or val/ shards (split_writer.h);
//   4. write manifest.json and publish the directory atomically (staging.h).
#include "prepare.h"

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <filesystem>

#include "corpus.h"
#include "encode_pipeline.h"
#include "json_io.h"
#include "progress.h"
#include "split_writer.h"
#include "src/core/cpu_count.h"
#include "src/core/error.h"
#include "src/core/output_guard.h"
#include "staging.h"
#include "tokenizer.h"
#include "tokenizer_sample.h"

namespace mor::data {
namespace fs = std::filesystem;
namespace {

constexpr size_t kChunkBytes = 1 << 20;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void check_options(const PrepareOptions& o) {
  if (o.val_fraction < 0 || o.val_fraction >= 1)
    fail_input("--val-fraction ", o.val_fraction, " must be in [0, 1). Hint: 0.01 holds out about 1% of the documents.");
  if (o.shard_tokens < 1024) fail_input("--shard-tokens ", o.shard_tokens, " is too small. Hint: use at least 1024 (default 16777216).");
  if (o.threads < 0) fail_input("--threads ", o.threads, " must be >= 0. Hint: 0 uses every CPU.");
  if (!o.tokenizer.empty() && o.vocab_size_given) {
    const int64_t pieces = Tokenizer::load(o.tokenizer).vocab_size();
    if (pieces != o.vocab_size)
      fail_input("--vocab-size ", o.vocab_size, " with --tokenizer ", o.tokenizer, " of ", pieces, " pieces: a reused "
                 "tokenizer brings its own vocabulary, so the size would be ignored. Hint: drop --vocab-size to reuse the "
                 "tokenizer, or drop --tokenizer to train a new one of that size.");
  }
  if (o.tokenizer.empty() && o.vocab_size < kMinVocab)
    fail_input("--vocab-size ", o.vocab_size, " is too small: byte fallback needs 256 byte pieces plus 3 special pieces. "
               "Hint: use at least ", kMinVocab, " (a few hundred more for real text).");
  if (o.tokenizer.empty() && o.vocab_size > (int64_t(1) << 31))
    fail_input("--vocab-size ", o.vocab_size, " is too large. Hint: use at most 2147483648 (typical: 8192 to 65536).");
}

// The encoder (and tokenizer-training) threads: --threads, capped at the CPUs this process may use
// (more only adds contention; SentencePiece also refuses large counts with a misleading message).
int thread_count(const PrepareOptions& o) {
  const int cpus = available_cpus();
  if (o.threads <= cpus) return o.threads > 0 ? o.threads : cpus;
  std::fprintf(stderr, "prepare: warning: --threads %d is more than the %d CPU%s this process may use; using %d.\n", o.threads,
               cpus, cpus == 1 ? "" : "s", cpus);
  return cpus;
}

// The output may not overlap any input: --overwrite would delete it, and without it the dataset
// would be read back into itself on the next run.
void check_output_apart_from_inputs(const PrepareOptions& o) {
  std::vector<std::pair<std::string, std::string>> inputs;
  for (const auto& in : o.inputs) inputs.emplace_back("--input", in);
  inputs.emplace_back("--tokenizer", o.tokenizer);
  check_output_apart(o.out_dir, "--out", inputs);
}

// What a corpus of one document needs to hold out validation text: split it near the end.
uint64_t single_document_split(const std::vector<SourceFile>& sources, double val_fraction) {
  if (sources.size() != 1 || sources[0].jsonl || val_fraction <= 0) return 0;
  return std::max<uint64_t>(1, uint64_t(double(sources[0].bytes) * (1 - val_fraction)));
}

std::string corpus_name(const PrepareOptions& o) {
  return o.inputs.size() == 1 ? o.inputs[0] : o.inputs[0] + " (and " + std::to_string(o.inputs.size() - 1) + " more)";
}

Tokenizer make_tokenizer(const PrepareOptions& o, const std::vector<SourceFile>& sources, uint64_t total_bytes,
                         int threads, const fs::path& dest) {
  if (!o.tokenizer.empty()) {
    Tokenizer t = Tokenizer::load(o.tokenizer);
    fs::copy_file(o.tokenizer, dest);
    return t;
  }
  const auto t0 = std::chrono::steady_clock::now();
  TokenizerSample sample(sources, o.tokenizer_sample_bytes, o.seed);
  if (!o.quiet)
    std::fprintf(stderr, "prepare: training a %lld-piece BPE tokenizer on a sample of at most %.1f MB (corpus %.1f MB)...\n",
                 (long long)o.vocab_size, double(std::min(total_bytes, o.tokenizer_sample_bytes)) / 1e6, double(total_bytes) / 1e6);
  TokenizerTrainOptions to;
  to.vocab_size = o.vocab_size;
  to.threads = threads;
  Tokenizer t = Tokenizer::train([&](std::string& s) { return sample.next(s); }, to, dest.string(), corpus_name(o));
  if (!o.quiet) std::fprintf(stderr, "prepare: tokenizer trained on %.1f MB in %.1f s\n", double(sample.bytes()) / 1e6, seconds_since(t0));
  return t;
}

void print_summary(const PrepareOptions& o, const Manifest& m, const EncodeStats& stats, double seconds,
                   double encode_seconds, int threads) {
  const double mb = double(m.bytes) / 1e6;
  const uint64_t val_docs = m.val.documents;
  if (o.json) {
    const double lookups = double(stats.cache_hits + stats.cache_misses);
    std::printf("%s\n", json_object_line({{"out", o.out_dir},
                                          {"vocab_size", m.vocab_size},
                                          {"eos_id", int64_t(m.eos_id)},
                                          {"train_tokens", m.train.tokens},
                                          {"val_tokens", m.val.tokens},
                                          {"documents", m.documents},
                                          {"val_documents", val_docs},
                                          {"train_shards", uint64_t(m.train.shards.size())},
                                          {"val_shards", uint64_t(m.val.shards.size())},
                                          {"bytes", m.bytes},
                                          {"seconds", seconds},
                                          {"mb_per_s", mb / seconds},
                                          {"encode_seconds", encode_seconds},
                                          {"encode_mb_per_s", mb / encode_seconds},
                                          {"tokens_per_byte", double(m.train.tokens + m.val.tokens) / double(m.bytes)},
                                          {"cache_hit_rate", lookups > 0 ? double(stats.cache_hits) / lookups : 0.0},
                                          {"threads", int64_t(threads)},
                                          {"tokenizer", o.tokenizer.empty() ? std::string("trained") : o.tokenizer}})
                                .c_str());
  } else {
    std::printf("prepared %s: %llu documents (%llu held out), %llu train + %llu val tokens, vocab %lld, "
                "%.1f MB in %.1f s (%.2f MB/s; encoding %.2f MB/s on %d thread%s)\n",
                o.out_dir.c_str(), (unsigned long long)m.documents, (unsigned long long)val_docs,
                (unsigned long long)m.train.tokens, (unsigned long long)m.val.tokens, (long long)m.vocab_size, mb, seconds,
                mb / seconds, mb / encode_seconds, threads, threads == 1 ? "" : "s");
  }
  std::fflush(stdout);
}

int prepare(const PrepareOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  check_options(o);
  check_output_apart_from_inputs(o);
  const int threads = thread_count(o);
  std::vector<std::string> aliases;
  const std::vector<SourceFile> sources = list_sources(o.inputs, o.extensions, &aliases);
  if (!aliases.empty())
    std::fprintf(stderr, "prepare: note: %zu file%s reached under a second name (a link) %s read once: %s%s\n",
                 aliases.size(), aliases.size() == 1 ? "" : "s", aliases.size() == 1 ? "was" : "were", aliases.front().c_str(),
                 aliases.size() > 1 ? ", and more" : "");
  uint64_t total_bytes = 0;
  for (const auto& s : sources) total_bytes += s.bytes;
  if (total_bytes == 0)
    fail_input(corpus_name(o), ": the corpus is empty (", sources.size(), " files, 0 bytes). Hint: point --input at text files.");
  StagingDir stage(o.out_dir, o.overwrite);
  fs::create_directories(stage.path() / "train");
  fs::create_directories(stage.path() / "val");

  // 1. Tokenizer.
  const Tokenizer tok = make_tokenizer(o, sources, total_bytes, threads, stage.path() / "tokenizer.model");
  const uint64_t vocab = uint64_t(tok.vocab_size());

  // 2. Encode in parallel; write in corpus order.
  const auto t_encode = std::chrono::steady_clock::now();
  SplitWriter train_w(stage.path() / "train", uint64_t(o.shard_tokens), vocab, tok.hash());
  SplitWriter val_w(stage.path() / "val", uint64_t(o.shard_tokens), vocab, tok.hash());
  DocumentReader reader(sources, kChunkBytes, single_document_split(sources, o.val_fraction));
  Progress progress("prepare", total_bytes, !o.quiet);
  uint64_t bytes_done = 0, documents = 0;
  const EncodeStats stats = run_encode_pipeline(reader, sources, tok, threads, [&](const EncodedChunk& e) {
    SplitWriter& w = is_validation_document(e.document, o.val_fraction, o.seed) ? val_w : train_w;
    w.append(e.ids.data(), e.ids.size());
    if (e.end_of_document) {
      w.end_document();
      ++documents;
    }
    bytes_done += e.file_bytes;
    progress.update(bytes_done);
  });
  progress.finish();
  const double encode_seconds = seconds_since(t_encode);

  // 3. Manifest.
  Manifest m;
  m.mor_version = MOR_VERSION;
  m.vocab_size = int64_t(vocab);
  m.eos_id = tok.eos_id();
  m.token_bytes = vocab <= 65536 ? 2 : 4;
  m.tokenizer_hash = tok.hash();
  m.tokenizer_trained = o.tokenizer.empty();
  m.train = train_w.finish();
  m.val = val_w.finish();
  m.documents = documents;
  m.bytes = total_bytes;
  if (m.train.tokens + m.val.tokens <= documents)
    fail_input(corpus_name(o), ": the corpus holds no text (only empty documents). Hint: point --input at text files.");
  if (o.val_fraction > 0 && m.val.documents == 0)
    fail_input(corpus_name(o), ": the corpus is a single document that cannot be split, so no validation text can be "
               "held out. Hint: give several files (or a .jsonl with one document per line), or pass --val-fraction 0.");
  for (const auto& s : sources) m.sources.emplace_back(s.path, s.bytes);
  // With --tokenizer the vocabulary is the tokenizer's, whatever --vocab-size defaulted to.
  m.options = {o.inputs, o.extensions, o.tokenizer, m.vocab_size, o.val_fraction, o.shard_tokens, o.seed};
  m.seconds = seconds_since(t0);
  write_manifest((stage.path() / "manifest.json").string(), m);

  // 4. Publish.
  stage.publish();
  print_summary(o, m, stats, seconds_since(t0), encode_seconds, threads);
  return 0;
}

}  // namespace

int run_prepare(const PrepareOptions& o) {
  try {
    return prepare(o);
  } catch (const fs::filesystem_error& e) {  // disk full, permissions, ...: still one clear message
    fail_input(e.path1().string(), ": ", e.code().message(), ". Hint: check the paths and that the output location is writable.");
  }
}

}  // namespace mor::data
