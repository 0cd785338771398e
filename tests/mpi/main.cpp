// Entry point of mpi_tests (PLATFORM.md section 3): the distributed runtime starts MPI (also as a
// singleton, so `./mpi_tests` alone runs every test on one rank), GoogleTest runs on every rank,
// non-root ranks print only their failures tagged "[rank N]", and the exit code is the maximum
// over ranks (a failure on any rank fails the job).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "dist/runtime.h"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_, r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  mor::dist::RuntimeOptions opts;
  opts.force_mpi = true;
  mor::dist::runtime_init(&argc, &argv, opts);
  ::testing::InitGoogleTest(&argc, argv);  // strips --gtest_* from argv
  const int rank = mor::dist::rank_info().rank;
  if (rank != 0 && GTEST_FLAG_GET(list_tests)) std::freopen("/dev/null", "w", stdout);  // one listing
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  const int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  mor::dist::runtime_finalize();
  return global;
}
