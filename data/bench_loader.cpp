// Loader benchmark; see bench_loader.h.
#include "bench_loader.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "json_io.h"
#include "loader.h"

namespace mor::data {

LoaderBenchResult bench_loader(const LoaderBenchOptions& o) {
  namespace fs = std::filesystem;
  LoaderOptions lo;
  lo.split_dir = fs::exists(fs::path(o.data) / "manifest.json") ? (fs::path(o.data) / "train").string() : o.data;
  lo.batch = o.batch;
  lo.seq_len = o.seq_len;
  lo.seed = o.seed;
  lo.prefetch = o.prefetch;
  BatchLoader loader(lo);
  volatile int32_t sink = 0;  // touch every batch so nothing is optimised away
  for (int i = 0; i < 8; ++i) sink = sink + loader.next().data<int32_t>()[0];
  LoaderBenchResult r;
  r.windows_per_epoch = loader.windows_per_epoch();
  const auto t0 = std::chrono::steady_clock::now();
  do {
    for (int i = 0; i < 64; ++i) sink = sink + loader.next().data<int32_t>()[0];
    r.batches += 64;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (r.seconds < o.seconds);
  r.batches_per_s = double(r.batches) / r.seconds;
  r.windows_per_s = r.batches_per_s * double(o.batch);
  r.tokens_per_s = r.windows_per_s * double(o.seq_len);
  return r;
}

int run_bench_loader(const LoaderBenchOptions& o) {
  const LoaderBenchResult r = bench_loader(o);
  if (o.json) {
    std::printf("%s\n", json_object_line({{"data", o.data},
                                          {"batch", o.batch},
                                          {"seq_len", o.seq_len},
                                          {"prefetch", int64_t(o.prefetch)},
                                          {"batches", r.batches},
                                          {"seconds", r.seconds},
                                          {"batches_per_s", r.batches_per_s},
                                          {"windows_per_s", r.windows_per_s},
                                          {"tokens_per_s", r.tokens_per_s},
                                          {"windows_per_epoch", r.windows_per_epoch}})
                            .c_str());
  } else {
    std::printf("loader %s B=%lld T=%lld prefetch=%d: %.0f batches/s, %.0f windows/s, %.2fM tokens/s (%llu batches in %.2f s)\n",
                o.data.c_str(), (long long)o.batch, (long long)o.seq_len, o.prefetch, r.batches_per_s, r.windows_per_s,
                r.tokens_per_s / 1e6, (unsigned long long)r.batches, r.seconds);
  }
  return 0;
}

}  // namespace mor::data
