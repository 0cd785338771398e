// The distributed runtime as mpirun starts it: launcher detection, ranks, local ranks and nodes
// (MOR_TEST_EXPECT_NODES, when set by the multi-host test, is the node count the job must see),
// thread choice and the rank tag.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <algorithm>

#include "dist/runtime.h"
#include "dist/watchdog.h"

namespace mor::dist {
namespace {

TEST(Runtime, RankFactsAgreeWithTheLauncherAndMpi) {
  const RankInfo& info = rank_info();
  const LaunchInfo li = launch_detect();
  EXPECT_TRUE(info.mpi);
  EXPECT_EQ(info.rank, world().rank());
  EXPECT_EQ(info.size, world().size());
  if (li.launcher == "openmpi") {
    EXPECT_EQ(li.rank, info.rank);
    EXPECT_EQ(li.size, info.size);
    EXPECT_EQ(li.local_rank, info.local_rank);
    EXPECT_EQ(li.local_size, info.local_size);
  }
  EXPECT_GE(info.local_rank, 0);
  EXPECT_LT(info.local_rank, info.local_size);
  EXPECT_GE(info.node_count, 1);
  EXPECT_LE(info.node_count, info.size);
  EXPECT_EQ(world().all_reduce_value(int64_t(info.local_rank == 0)), info.node_count);
  if (const char* want = std::getenv("MOR_TEST_EXPECT_NODES")) {
    EXPECT_EQ(info.node_count, std::atoi(want));
  }
}

TEST(Runtime, PlacementListsEveryRanksHost) {
  // Gathers fixed-width host names; rank 0 prints the placement (the multi-host test reads it).
  Communicator& w = world();
  char mine[64] = {};
  std::strncpy(mine, rank_info().host.c_str(), sizeof mine - 1);
  std::vector<char> all(sizeof mine * size_t(w.size()));
  w.all_gather(mine, all.data(), int64_t(sizeof mine / 4), DType::I32);
  std::set<std::string> hosts;
  std::string line = "placement:";
  for (int r = 0; r < w.size(); ++r) {
    const std::string h(&all[sizeof mine * size_t(r)]);
    hosts.insert(h);
    line += " " + std::to_string(r) + "@" + h;
  }
  EXPECT_EQ(std::string(&all[sizeof mine * size_t(w.rank())]), rank_info().host);
  if (const char* want = std::getenv("MOR_TEST_EXPECT_NODES")) {
    EXPECT_EQ(int(hosts.size()), std::atoi(want)) << line;
  }
  if (w.rank() == 0) std::printf("%s\n", line.c_str());
}

TEST(Runtime, ThreadsPerRankRespectsConfigAndStaysInRange) {
  EXPECT_EQ(threads_per_rank(3), 3);
  std::string reason;
  const int n = threads_per_rank(0, &reason);
  EXPECT_GE(n, 1);
  EXPECT_FALSE(reason.empty());
  if (!std::getenv("OMP_NUM_THREADS")) {
    EXPECT_LE(n, int(std::max(1u, std::thread::hardware_concurrency())));
  }
}

TEST(Runtime, RankTagNamesRankAndHost) {
  EXPECT_EQ(rank_tag(), "rank " + std::to_string(rank_info().rank) + " (host " + rank_info().host + ")");
}

TEST(Runtime, WatchdogLeavesFinishedCollectivesAlone) {
  // A short timeout must not fire for collectives that finish (the firing case runs in
  // test_watchdog.sh, because it ends the job).
  const double old = watchdog_timeout();
  watchdog_set_timeout(2.0);
  for (int i = 0; i < 200; ++i) world().barrier();
  EXPECT_EQ(world().all_reduce_value(int64_t(1)), world().size());
  watchdog_set_timeout(old);
}

}  // namespace
}  // namespace mor::dist
