// Process runtime: MPI start-up/shut-down, rank facts, abort_job; see runtime.h.
#include "runtime.h"

#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "comm_local.h"
#include "comm_mpi.h"
#include "runtime_internal.h"
#include "src/core/device.h"
#include "src/core/error.h"
#include "watchdog.h"

namespace mor::dist {
namespace {

struct Runtime {
  bool initialized = false;
  RankInfo info;
  std::unique_ptr<Communicator> world;
  int mask_sharers = 1;
};

Runtime& rt() {
  static Runtime r;
  return r;
}

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

bool env_true(const char* name) {
  const char* s = std::getenv(name);
  return s && (std::string(s) == "1" || std::string(s) == "true" || std::string(s) == "yes");
}

void warn(const std::string& msg) { std::fprintf(stderr, "%s: warning: %s\n", rank_tag().c_str(), msg.c_str()); }

// Rank facts that need MPI: local ranks (shared-memory split), nodes, affinity-mask sharers.
void init_mpi_facts(Runtime& r, const LaunchInfo& li) {
  RankInfo& info = r.info;
  info.rank = r.world->rank();
  info.size = r.world->size();
  if (li.size > 1 && info.size != li.size)
    fail_input("this process was started by ", li.launcher, " as rank ", li.rank, " of ", li.size,
               " but MPI_Init gave a world of ", info.size,
               " rank(s). Hint: launch with the mpirun of the MPI this binary was built with (OpenMPI 4.1), or under "
               "Slurm with srun --mpi=pmix.");
  MPI_Comm node = MPI_COMM_NULL;
  mpi_check(MPI_Comm_split_type(static_cast<MpiCommunicator&>(*r.world).handle(), MPI_COMM_TYPE_SHARED, info.rank,
                                MPI_INFO_NULL, &node),
            "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)", "world");
  {
    MpiCommunicator local(node, "node");
    MPI_Comm_free(&node);
    info.local_rank = local.rank();
    info.local_size = local.size();
    info.node_count = int(r.world->all_reduce_value(int64_t(info.local_rank == 0)));
    const int64_t mine = affinity_mask().hash;
    std::vector<int64_t> all(size_t(local.size()));
    local.all_gather(&mine, all.data(), 1, DType::I64);
    r.mask_sharers = 0;
    for (int64_t h : all) r.mask_sharers += h == mine;
  }
  if (li.local_rank >= 0 && li.local_rank != info.local_rank)
    warn(detail::concat(li.launcher, " says local rank ", li.local_rank, " but MPI's shared-memory split says ",
                        info.local_rank, " of ", info.local_size,
                        ": GPU and thread choices follow MPI. Hint: check the launcher's node list and binding."));
}

void init_cuda_device(RankInfo& info) {
  const int n = cuda_device_count();
  if (n <= 0) return;
  info.cuda_device = info.local_rank % n;
  if (info.local_size > n && info.local_rank == 0)
    warn(detail::concat(info.local_size, " ranks on this node share ", n,
                        " CUDA device(s). Hint: start one rank per GPU (mpirun -npernode ", n, ")."));
}

}  // namespace

void runtime_init(int* argc, char*** argv, const RuntimeOptions& opts) {
  Runtime& r = rt();
  if (r.initialized) return;
  if (opts.collective_timeout_s >= 0)
    watchdog_set_timeout(opts.collective_timeout_s);
  else
    (void)watchdog_timeout();  // reads and checks MOR_COLLECTIVE_TIMEOUT now, not at the first collective
  const LaunchInfo li = launch_detect();
  r.info = RankInfo{};
  r.info.host = host_name();
  r.info.launcher = li.launcher;
  const bool use_mpi = opts.force_mpi || env_true("MOR_FORCE_MPI") || !li.launcher.empty();
  if (use_mpi) {
    int already = 0;
    MPI_Initialized(&already);
    if (already) fail_internal("runtime_init: MPI is already initialised. Hint: let runtime_init start MPI.");
    const auto t0 = std::chrono::steady_clock::now();
    int provided = 0;
    mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread", "");
    r.info.mpi_init_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.info.mpi = true;
    r.initialized = true;  // from here on runtime_finalize must run MPI_Finalize
    if (provided < MPI_THREAD_FUNNELED)
      warn("MPI provides no MPI_THREAD_FUNNELED support; OpenMP regions must not overlap MPI calls.");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    r.world = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, "world");
    init_mpi_facts(r, li);
  } else {
    r.world = std::make_unique<LocalCommunicator>("world");
    r.initialized = true;
  }
  init_cuda_device(r.info);
}

void runtime_finalize() {
  Runtime& r = rt();
  if (!r.initialized) return;
  if (r.info.mpi) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
      r.world.reset();
      WatchdogScope w("finalize", "world", r.info.size, 0);  // MPI_Finalize waits for every rank
      MPI_Finalize();
    }
  }
  watchdog_stop();
  r.world.reset();
  r.initialized = false;
}

bool runtime_initialized() { return rt().initialized; }

const RankInfo& rank_info() { return rt().info; }

Communicator& world() {
  Runtime& r = rt();
  if (!r.world) fail_internal("dist::world() before runtime_init. Hint: create a mor::dist::RuntimeScope in main().");
  return *r.world;
}

int affinity_mask_sharers() { return rt().mask_sharers; }

std::string rank_tag() {
  const RankInfo& info = rt().info;
  return detail::concat("rank ", info.rank, " (host ", info.host.empty() ? host_name() : info.host, ")");
}

void abort_job(int code, const std::string& message) {
  static std::atomic<bool> printed{false};
  if (!printed.exchange(true)) {
    std::fprintf(stderr, "%s: %s\n", rank_tag().c_str(), message.c_str());
    std::fflush(nullptr);
  }
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (inited && !finalized) {
    // If MPI_Abort cannot reach the launcher (network down), exit anyway after a grace period:
    // the launcher then sees a rank die and stops the others.
    std::thread([code] {
      std::this_thread::sleep_for(std::chrono::seconds(10));
      std::_Exit(code);
    }).detach();
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  std::_Exit(code);
}

}  // namespace mor::dist
