// Single-process checks of the distribution layer: layout validation messages, the thread rule,
// launcher detection from environment variables, the local (size-1) communicator, size parsing
// for `mor bench comm`, and the watchdog's message.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "dist/bench_comm.h"
#include "dist/comm_local.h"
#include "dist/process_grid.h"
#include "dist/runtime.h"
#include "dist/watchdog.h"
#include "src/core/error.h"

namespace mor::dist {
namespace {

std::string layout_error(int world, int tp, int64_t h, int64_t kv, int64_t ff, int64_t v) {
  try {
    validate_layout(world, tp, h, kv, ff, v);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

TEST(DistLayout, ValidLayoutsPass) {
  EXPECT_EQ(layout_error(8, 2, 16, 4, 1024, 32000), "");
  EXPECT_EQ(layout_error(8, 4, 16, 4, 1024, 32000), "");
  EXPECT_EQ(layout_error(3, 1, 9, 3, 100, 49151), "");
}

TEST(DistLayout, EachFailingQuantityIsNamedWithValidTpValues) {
  const std::string kv = layout_error(8, 4, 16, 2, 1024, 32000);
  EXPECT_NE(kv.find("dist.tp=4 does not divide model.n_kv_heads=2 ("), std::string::npos) << kv;
  EXPECT_EQ(kv.find("n_heads=16"), std::string::npos) << kv;
  EXPECT_NE(kv.find("Hint: valid dist.tp values for this model on 8 rank(s): 1, 2."), std::string::npos) << kv;

  const std::string many = layout_error(6, 4, 6, 6, 1000, 32001);
  EXPECT_NE(many.find("the world size=6, model.n_heads=6, model.n_kv_heads=6 and model.vocab_size=32001"),
            std::string::npos) << many;
  EXPECT_EQ(many.find("d_ff"), std::string::npos) << many;  // 1000 % 4 == 0
  EXPECT_NE(many.find("on 6 rank(s): 1."), std::string::npos) << many;

  EXPECT_NE(layout_error(4, 3, 12, 3, 96, 300).find("does not divide the world size=4"), std::string::npos);
  EXPECT_NE(layout_error(4, 2, 12, 4, 97, 300).find("model.d_ff=97"), std::string::npos);
  EXPECT_NE(layout_error(4, 0, 12, 4, 96, 300).find("must be at least 1"), std::string::npos);
}

TEST(DistLayout, ValidTpValuesDivideEverything) {
  EXPECT_EQ(valid_tp_values(16, 32, 8, 8192, 49152), (std::vector<int>{1, 2, 4, 8}));
  EXPECT_EQ(valid_tp_values(12, 12, 12, 1200, 1200), (std::vector<int>{1, 2, 3, 4, 6, 12}));
  EXPECT_EQ(valid_tp_values(1, 7, 7, 7, 7), (std::vector<int>{1}));
}

TEST(DistThreads, RuleFollowsConfigEnvBindingThenSharing) {
  std::string why;
  ThreadInputs in;
  in.mask_cpus = 1; in.mask_cores = 1; in.online_cpus = 8; in.mask_sharers = 1;
  in.configured = 6;
  in.omp_env_threads = 3;
  EXPECT_EQ(choose_threads(in, &why), 6);
  EXPECT_EQ(why, "configured");
  in.configured = 0;
  EXPECT_EQ(choose_threads(in, &why), 3);
  EXPECT_EQ(why, "OMP_NUM_THREADS");
  in.omp_env_threads = 0;
  EXPECT_EQ(choose_threads(in, &why), 1);  // mpirun's default: bound to one core
  EXPECT_NE(why.find("bound to 1 of 8"), std::string::npos) << why;
  in.mask_cpus = 4; in.mask_cores = 4;   // --map-by slot:pe=4
  EXPECT_EQ(choose_threads(in, &why), 4);
  in.mask_cpus = 16; in.mask_cores = 8; in.online_cpus = 16; in.mask_sharers = 2;  // --bind-to none, 2 ranks, SMT
  EXPECT_EQ(choose_threads(in, &why), 4);
  EXPECT_NE(why.find("8 cores shared by 2"), std::string::npos) << why;
  in.mask_sharers = 1;                 // one unbound process: physical cores
  EXPECT_EQ(choose_threads(in, &why), 8);
  in.mask_cpus = 2; in.mask_cores = 2; in.mask_sharers = 4;  // 4 ranks sharing 2 cores: at least 1
  EXPECT_EQ(choose_threads(in, &why), 1);
}

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old ? old : "", old != nullptr});
    if (value) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it)
      if (it->had) setenv(it->name.c_str(), it->value.c_str(), 1); else unsetenv(it->name.c_str());
  }

 private:
  struct Saved { std::string name, value; bool had; };
  std::vector<Saved> saved_;
};

void clear_launchers(ScopedEnv& env) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK",
                        "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_STEP_ID", "SLURM_PROCID", "SLURM_NTASKS",
                        "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"})
    env.set(v, nullptr);
}

TEST(DistLaunch, DetectsOpenMpiSlurmPmixAndNothing) {
  ScopedEnv env;
  clear_launchers(env);
  EXPECT_EQ(launch_detect().launcher, "");
  env.set("SLURM_PROCID", "0");  // an sbatch script outside srun: not launched
  env.set("SLURM_NTASKS", "8");
  EXPECT_EQ(launch_detect().launcher, "");
  env.set("SLURM_STEP_ID", "0");
  env.set("SLURM_PROCID", "5");
  env.set("SLURM_STEP_NUM_TASKS", "6");
  env.set("SLURM_LOCALID", "1");
  LaunchInfo s = launch_detect();
  EXPECT_EQ(s.launcher, "slurm");
  EXPECT_EQ(s.rank, 5);
  EXPECT_EQ(s.size, 6);
  EXPECT_EQ(s.local_rank, 1);
  env.set("OMPI_COMM_WORLD_SIZE", "4");  // mpirun inside an allocation wins
  env.set("OMPI_COMM_WORLD_RANK", "3");
  env.set("OMPI_COMM_WORLD_LOCAL_RANK", "1");
  env.set("OMPI_COMM_WORLD_LOCAL_SIZE", "2");
  LaunchInfo o = launch_detect();
  EXPECT_EQ(o.launcher, "openmpi");
  EXPECT_EQ(o.rank, 3);
  EXPECT_EQ(o.size, 4);
  EXPECT_EQ(o.local_size, 2);
  clear_launchers(env);
  env.set("PMIX_RANK", "2");
  EXPECT_EQ(launch_detect().launcher, "pmix");
  EXPECT_EQ(launch_detect().rank, 2);
}

TEST(DistLocal, SizeOneCollectivesAreCopies) {
  LocalCommunicator c("world");
  EXPECT_EQ(c.size(), 1);
  EXPECT_EQ(c.rank(), 0);
  std::vector<float> a = {1, 2, 3}, b(3);
  c.all_reduce(a.data(), 3, DType::F32, ReduceOp::Avg);
  EXPECT_EQ(a, (std::vector<float>{1, 2, 3}));
  c.reduce_scatter(a.data(), b.data(), 3, DType::F32);
  EXPECT_EQ(b, a);
  Tensor in = Tensor::full({4}, 2.5, DType::F64), out = Tensor::zeros({4}, DType::F64);
  c.all_gather(in, out);
  EXPECT_EQ(out.to_vector<double>(), in.to_vector<double>());
  EXPECT_EQ(c.all_reduce_value(int64_t(7)), 7);
  auto sub = c.split(0, 0, "tp");
  EXPECT_EQ(sub->name(), "tp");
  ProcessGrid g(c, 1);
  EXPECT_EQ(g.describe(), "dp 1 x tp 1 (1 rank)");
  EXPECT_THROW(ProcessGrid(c, 2), Error);
  std::vector<uint16_t> h = {1};
  EXPECT_THROW(c.all_reduce(h.data(), 1, DType::BF16, ReduceOp::Sum), Error);  // as on MPI
}

TEST(DistBench, ParseBytes) {
  EXPECT_EQ(parse_bytes("4K"), 4096);
  EXPECT_EQ(parse_bytes("64M"), 64ll << 20);
  EXPECT_EQ(parse_bytes("1.5k"), 1536);
  EXPECT_EQ(parse_bytes("1000"), 1000);
  EXPECT_EQ(parse_bytes("2GiB"), 2ll << 30);
  for (const char* bad : {"", "K", "-4K", "3X", "0", "3G"}) EXPECT_THROW(parse_bytes(bad), Error) << bad;
}

TEST(DistWatchdog, MessageNamesCollectiveGroupSizeAndTimeout) {
  const std::string m = watchdog_message("all_reduce", "dp", 4, 1.2e6, 30);
  EXPECT_EQ(m.find("all_reduce over dp (4 ranks, 1.2 MB) has not finished after 30 s: a peer rank died or the network "
                   "is down. Aborting the job. Hint: "), 0u) << m;
  EXPECT_NE(watchdog_message("barrier", "tp", 2, 0, 0.5).find("after 0.5 s"), std::string::npos);
  EXPECT_THROW(watchdog_set_timeout(-1), Error);
}

}  // namespace
}  // namespace mor::dist
