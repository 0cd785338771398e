// Streaming batch loader and evaluation stream; see loader.h.
// A batch is a pure function of (position, rank, B, T, dp_size), so the prefetch thread can
// compute ahead and seek() can restart it anywhere.
#include "loader.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "permutation.h"
#include "token_stream.h"

namespace mor::data {

struct BatchLoader::Impl {
  LoaderOptions o;
  TokenStream stream;
  uint64_t W = 0;  // windows per epoch
  LoaderPosition pos;  // position of the next batch next() returns

  // Prefetch state.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<LoaderPosition, Tensor>> queue;
  LoaderPosition produce_pos;
  bool stop = false;
  std::exception_ptr error;
  std::thread worker;

  explicit Impl(const LoaderOptions& opts) : o(opts), stream(opts.split_dir, opts.expect_vocab) {
    if (o.batch < 1 || o.seq_len < 1 || o.dp_size < 1 || o.dp_rank < 0 || o.dp_rank >= o.dp_size)
      fail_internal("BatchLoader: bad options (batch ", o.batch, ", seq_len ", o.seq_len, ", rank ", o.dp_rank, "/", o.dp_size, ")");
    W = stream.windows(o.seq_len);
  }

  static LoaderPosition advance(LoaderPosition p, uint64_t n, uint64_t W) {
    p.consumed += n;
    p.epoch += p.consumed / W;
    p.consumed %= W;
    return p;
  }

  Tensor make_batch(const LoaderPosition& p) const {
    const int64_t B = o.batch, T = o.seq_len;
    Tensor t = Tensor::empty({B, T + 1}, DType::I32);
    std::optional<WindowPermutation> perm;  // of epoch perm_epoch (a batch may span two epochs)
    uint64_t perm_epoch = 0;
    for (int64_t i = 0; i < B; ++i) {
      const LoaderPosition w = advance(p, uint64_t(o.dp_rank * B + i), W);
      if (o.shuffle && (!perm || perm_epoch != w.epoch)) perm.emplace(W, o.seed, perm_epoch = w.epoch);
      const uint64_t window = o.shuffle ? (*perm)(w.consumed) : w.consumed;
      stream.read(window * uint64_t(T), uint64_t(T + 1), t.data<int32_t>() + i * (T + 1));
    }
    return t;
  }
  uint64_t step_windows() const { return uint64_t(o.batch) * uint64_t(o.dp_size); }

  void start() {
    if (o.prefetch <= 0) return;
    stop = false;
    produce_pos = pos;
    worker = std::thread([this] {
      try {
        while (true) {
          LoaderPosition p;
          {
            std::unique_lock<std::mutex> lk(mu);
            cv.wait(lk, [&] { return stop || int(queue.size()) < o.prefetch; });
            if (stop) return;
            p = produce_pos;
          }
          Tensor b = make_batch(p);
          std::lock_guard<std::mutex> lk(mu);
          if (stop) return;
          queue.emplace_back(p, std::move(b));
          produce_pos = advance(p, step_windows(), W);
          cv.notify_all();
        }
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu);
        error = std::current_exception();
        cv.notify_all();
      }
    });
  }
  void halt() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
      cv.notify_all();
    }
    if (worker.joinable()) worker.join();
    queue.clear();
  }
};

BatchLoader::BatchLoader(const LoaderOptions& opts) : impl_(std::make_unique<Impl>(opts)) { impl_->start(); }
BatchLoader::~BatchLoader() { impl_->halt(); }

Tensor BatchLoader::next() {
  Impl& m = *impl_;
  Tensor out;
  if (m.o.prefetch <= 0) {
    out = m.make_batch(m.pos);
  } else {
    std::unique_lock<std::mutex> lk(m.mu);
    m.cv.wait(lk, [&] { return m.error || !m.queue.empty(); });
    if (m.error) std::rethrow_exception(m.error);
    MOR_CHECK(m.queue.front().first == m.pos, "loader prefetch out of order");
    out = std::move(m.queue.front().second);
    m.queue.pop_front();
    m.cv.notify_all();
  }
  m.pos = Impl::advance(m.pos, m.step_windows(), m.W);
  return out;
}

LoaderPosition BatchLoader::position() const { return impl_->pos; }

void BatchLoader::seek(const LoaderPosition& pos) {
  impl_->halt();
  impl_->pos = Impl::advance({pos.epoch, 0}, pos.consumed, impl_->W);
  impl_->start();
}

int64_t BatchLoader::vocab_size() const { return impl_->stream.vocab_size(); }
uint64_t BatchLoader::tokenizer_hash() const { return impl_->stream.tokenizer_hash(); }
uint64_t BatchLoader::windows_per_epoch() const { return impl_->W; }
uint64_t BatchLoader::total_tokens() const { return impl_->stream.tokens(); }

struct EvalStream::Impl {
  TokenStream stream;
  int64_t B, T;
  uint64_t W, next = 0, end = 0;  // windows [next, end) are this stream's
  Impl(const std::string& dir, int64_t b, int64_t t, uint64_t max_windows, int64_t vocab, uint64_t tokenizer_hash)
      : stream(dir, vocab, tokenizer_hash), B(b), T(t), W(stream.windows(t)) {
    if (max_windows > 0) W = std::min(W, max_windows);
    end = W;
  }
};

EvalStream::EvalStream(const std::string& split_dir, int64_t batch, int64_t seq_len, uint64_t max_windows,
                       int64_t expect_vocab, uint64_t expect_tokenizer_hash)
    : impl_(std::make_unique<Impl>(split_dir, batch, seq_len, max_windows, expect_vocab, expect_tokenizer_hash)) {}
EvalStream::~EvalStream() = default;

Tensor EvalStream::next() {
  Impl& m = *impl_;
  if (m.next >= m.end) return Tensor();
  const int64_t b = int64_t(std::min<uint64_t>(uint64_t(m.B), m.end - m.next));
  Tensor t = Tensor::empty({b, m.T + 1}, DType::I32);
  for (int64_t i = 0; i < b; ++i)
    m.stream.read((m.next + uint64_t(i)) * uint64_t(m.T), uint64_t(m.T + 1), t.data<int32_t>() + i * (m.T + 1));
  m.next += uint64_t(b);
  return t;
}

uint64_t EvalStream::windows() const { return impl_->W; }

void EvalStream::restrict_to_part(int part, int parts) {
  Impl& m = *impl_;
  m.next = m.W * uint64_t(part) / uint64_t(parts);
  m.end = m.W * uint64_t(part + 1) / uint64_t(parts);
}

}  // namespace mor::data
