// comm_probe: a small MPI program for the failure tests (the watchdog's firing ends the job, so
// it cannot run inside mpi_tests).
//
//   comm_probe skip TIMEOUT_S        rank 1 skips an all_reduce that the other ranks enter; the
//                                    watchdog must end the job within about TIMEOUT_S
//   comm_probe loop SECONDS BYTES    all-reduces of BYTES (f32) for SECONDS, rank 0 printing
//                                    "probe: iteration N ok" about once a second (the link-cut
//                                    test cuts a host off in the middle); timeout from
//                                    MOR_COLLECTIVE_TIMEOUT
//
// Exit codes: 0 done; what abort_job gives otherwise (1 for a watchdog abort).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "dist/runtime.h"
#include "src/core/error.h"

namespace {

using Clock = std::chrono::steady_clock;

int usage() {
  std::fprintf(stderr, "usage: comm_probe skip TIMEOUT_S | comm_probe loop SECONDS BYTES\n");
  return 2;
}

int run_skip(mor::dist::Communicator& w) {
  std::vector<float> buf(1, 1.0f);
  if (w.rank() == 1) {
    std::fprintf(stderr, "probe: rank 1 skips the all_reduce\n");
    std::this_thread::sleep_for(std::chrono::seconds(120));  // the watchdog of the others must fire first
    return 3;
  }
  w.all_reduce(buf.data(), 1, mor::DType::F32);
  return 4;  // unreachable while rank 1 sleeps
}

int run_loop(mor::dist::Communicator& w, double seconds, long bytes) {
  std::vector<float> buf(size_t(std::max(1L, bytes / 4)), 0.0f);
  const auto t0 = Clock::now();
  auto last = t0;
  for (long it = 1;; ++it) {
    w.all_reduce(buf.data(), int64_t(buf.size()), mor::DType::F32);
    const auto now = Clock::now();
    if (w.rank() == 0 && now - last >= std::chrono::seconds(1)) {
      std::printf("probe: iteration %ld ok\n", it);
      std::fflush(stdout);
      last = now;
    }
    // Every rank stops at the same iteration: rank 0's clock decides.
    int64_t stop = w.rank() == 0 && std::chrono::duration<double>(now - t0).count() >= seconds;
    if (w.all_reduce_value(stop, mor::dist::ReduceOp::Max)) return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string mode = argv[1];
  mor::dist::RuntimeOptions opts;
  opts.force_mpi = true;
  if (mode == "skip") opts.collective_timeout_s = std::atof(argv[2]);
  try {
    mor::dist::RuntimeScope rt(&argc, &argv, opts);
    mor::dist::Communicator& w = mor::dist::world();
    if (mode == "skip" && w.size() >= 2) return run_skip(w);
    if (mode == "loop" && argc >= 4) return run_loop(w, std::atof(argv[2]), std::atol(argv[3]));
    return usage();
  } catch (const mor::Error& e) {
    mor::dist::abort_job(e.kind() == mor::ErrorKind::BadInput ? 2 : 1, std::string("error: ") + e.what());
  }
}
