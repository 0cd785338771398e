// Process runtime for multi-rank runs: MPI start-up and shut-down, who-am-I (rank, local rank,
// node count, host), one GPU per rank, OpenMP threads per rank, and aborting the whole job.
//
// MPI is initialised only when a launcher started this process (OpenMPI's mpirun/mpiexec:
// OMPI_COMM_WORLD_SIZE; Slurm's srun: SLURM_STEP_ID + SLURM_PROCID; PMIx: PMIX_RANK; PMI/Hydra:
// PMI_RANK) or when asked (RuntimeOptions::force_mpi or MOR_FORCE_MPI=1). Otherwise the process
// is a world of size 1 without MPI: a singleton MPI_Init of OpenMPI 4.1 starts its own orted and
// costs ~0.4 s (+ ~0.05 s MPI_Finalize) on the development VM. Commands like `mor prepare`
// never call runtime_init at all.
//
// MPI runs with MPI_THREAD_FUNNELED: only the thread that called runtime_init makes MPI calls.
// The one exception is the collective watchdog (watchdog.h), which calls MPI_Abort from its own
// thread when the job is already lost; abort_job() falls back to _exit if MPI_Abort hangs.
//
// Typical use (what `mor train` does):
//   mor::dist::RuntimeScope rt(&argc, &argv);                 // MPI_Init when launched
//   mor::set_num_threads(mor::dist::threads_per_rank(cfg.train.threads));
//   mor::dist::ProcessGrid grid(mor::dist::world(), cfg.dist.tp);   // process_grid.h
//   grid.dp().all_reduce(grads, mor::dist::ReduceOp::Avg);
#pragma once
#include <string>

#include "communicator.h"

namespace mor::dist {

// What the launcher's environment says about this process (no MPI call).
struct LaunchInfo {
  std::string launcher;   // "openmpi", "slurm", "pmix", "pmi", or "" (not launched)
  int rank = -1;          // -1 where the launcher does not say
  int size = -1;
  int local_rank = -1;
  int local_size = -1;
};
// Reads the environment (OMPI_COMM_WORLD_*, SLURM_*, PMIX_RANK, PMI_*).
LaunchInfo launch_detect();

struct RuntimeOptions {
  bool force_mpi = false;             // MPI_Init even without a launcher (also MOR_FORCE_MPI=1)
  double collective_timeout_s = -1;   // < 0: MOR_COLLECTIVE_TIMEOUT or 300 s (watchdog.h)
};

// Facts about this rank, fixed at runtime_init.
struct RankInfo {
  bool mpi = false;        // MPI initialised by runtime_init
  std::string launcher;    // as LaunchInfo::launcher
  int rank = 0;            // in the world
  int size = 1;
  int local_rank = 0;      // among the ranks of this node (MPI_COMM_TYPE_SHARED)
  int local_size = 1;
  int node_count = 1;      // distinct nodes in the job
  std::string host;        // gethostname()
  int cuda_device = -1;    // local_rank % device count; -1 without a CUDA device
  double mpi_init_s = 0;   // wall time MPI_Init_thread took
};

// Initialises the runtime once per process (later calls are no-ops). Under MPI: MPI_Init_thread,
// MPI_ERRORS_RETURN on the world, local ranks via MPI_Comm_split_type (cross-checked against the
// launcher's variables: a mismatch prints a warning), node count, and the CUDA device
// (cudaSetDevice is left to the CUDA code that uses RankInfo::cuda_device).
void runtime_init(int* argc, char*** argv, const RuntimeOptions& opts = {});
// Stops the watchdog, frees the world communicator and calls MPI_Finalize (if MPI was started).
void runtime_finalize();
bool runtime_initialized();
const RankInfo& rank_info();  // defaults (rank 0 of 1) before runtime_init

// The world communicator: MPI over MPI_COMM_WORLD, or a local one of size 1 without MPI.
// Valid between runtime_init and runtime_finalize.
Communicator& world();

// RAII form for main(): runtime_init in the constructor, runtime_finalize in the destructor.
class RuntimeScope {
 public:
  RuntimeScope(int* argc, char*** argv, const RuntimeOptions& opts = {}) { runtime_init(argc, argv, opts); }
  ~RuntimeScope() { runtime_finalize(); }
  RuntimeScope(const RuntimeScope&) = delete;
  RuntimeScope& operator=(const RuntimeScope&) = delete;
};

// OpenMP threads for this rank (pass the result to mor::set_num_threads):
//   configured > 0          -> configured (e.g. train.threads)
//   OMP_NUM_THREADS is set  -> the OpenMP runtime's value (the user's choice)
//   rank bound to CPUs      -> the CPUs in this process's affinity mask (mpirun binds each rank
//                              to one core by default when np <= 2; use --bind-to none or
//                              --map-by slot:pe=N to give ranks more)
//   otherwise               -> physical cores in the mask / local ranks sharing that mask (>= 1)
// "Bound" means no other rank on this node has the same affinity mask and the mask is smaller
// than the online CPUs. `reason` (optional) says which rule won, for the start-up log.
int threads_per_rank(int configured = 0, std::string* reason = nullptr);

// The rule of threads_per_rank on explicit inputs (pure; exposed for the unit test).
struct ThreadInputs {
  int configured = 0;
  int omp_env_threads = 0;   // > 0 when OMP_NUM_THREADS is set
  int mask_cpus = 1;         // logical CPUs in this process's affinity mask
  int mask_cores = 1;        // physical cores among them
  int online_cpus = 1;
  int mask_sharers = 1;      // ranks on this node with exactly this mask (this one included)
};
int choose_threads(const ThreadInputs& in, std::string* reason = nullptr);

// Ends the whole job: prints "rank R (host H): message" to stderr once per process, then
// MPI_Abort(MPI_COMM_WORLD, code) under MPI (mpirun then stops every rank and exits with code),
// otherwise _exit(code). Safe to call from any thread.
[[noreturn]] void abort_job(int code, const std::string& message);

// "rank R (host H)": the prefix of every rank-tagged message.
std::string rank_tag();

}  // namespace mor::dist
