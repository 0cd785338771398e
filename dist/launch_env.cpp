// Launcher detection from environment variables; see runtime.h (launch_detect).
//   OpenMPI mpirun/mpiexec: OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}
//   Slurm srun:             SLURM_PROCID, SLURM_STEP_NUM_TASKS (or SLURM_NTASKS), SLURM_LOCALID;
//                           only inside a job step (SLURM_STEP_ID set): an sbatch script itself
//                           also has SLURM_PROCID=0 and SLURM_NTASKS but is a single process
//   PMIx launchers:         PMIX_RANK (size comes from MPI)
//   MPICH/Hydra (PMI):      PMI_RANK, PMI_SIZE, MPI_LOCALRANKID
#include <cstdlib>
#include <string>

#include "runtime.h"

namespace mor::dist {
namespace {

int env_int(const char* name) {
  const char* s = std::getenv(name);
  if (!s || !*s) return -1;
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  return (*end == '\0' && v >= 0) ? int(v) : -1;
}

bool env_set(const char* name) {
  const char* s = std::getenv(name);
  return s && *s;
}

}  // namespace

LaunchInfo launch_detect() {
  LaunchInfo li;
  if (env_set("OMPI_COMM_WORLD_SIZE")) {
    li.launcher = "openmpi";
    li.rank = env_int("OMPI_COMM_WORLD_RANK");
    li.size = env_int("OMPI_COMM_WORLD_SIZE");
    li.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
    li.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");
  } else if (env_set("SLURM_STEP_ID") && env_set("SLURM_PROCID")) {
    li.launcher = "slurm";
    li.rank = env_int("SLURM_PROCID");
    li.size = env_set("SLURM_STEP_NUM_TASKS") ? env_int("SLURM_STEP_NUM_TASKS") : env_int("SLURM_NTASKS");
    li.local_rank = env_int("SLURM_LOCALID");
  } else if (env_set("PMIX_RANK")) {
    li.launcher = "pmix";
    li.rank = env_int("PMIX_RANK");
  } else if (env_set("PMI_RANK")) {
    li.launcher = "pmi";
    li.rank = env_int("PMI_RANK");
    li.size = env_int("PMI_SIZE");
    li.local_rank = env_int("MPI_LOCALRANKID");
  }
  return li;
}

}  // namespace mor::dist
