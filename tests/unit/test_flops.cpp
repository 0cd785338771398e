// FLOP accounting against the worked checks of MOR.md section 6 (paper configs in configs/paper/),
// and the warm-up/decay step counts of section 7.
#include <gtest/gtest.h>

#include <cmath>

#include "src/config/config.h"
#include "src/model/flops.h"
#include "src/train/gpu_peaks.h"
#include "src/train/schedule.h"
#include "src/train/trainer.h"

namespace mor {
namespace {

LoadedConfig paper_loaded(const std::string& name, const std::vector<std::string>& set = {}) {
  return load_config(std::string(MOR_SOURCE_DIR) + "/configs/paper/" + name + ".yaml", set);
}
Config paper(const std::string& name) { return paper_loaded(name).config; }
int64_t budget_steps(const std::string& name) { return resolve_total_steps(paper_loaded(name)); }

TEST(Flops, PerTokenMatchesSection6) {
  EXPECT_NEAR(budget_flops_per_token(paper("360m-vanilla").model, 2048), 833.6e6, 0.05e6);
  EXPECT_NEAR(budget_flops_per_token(paper("360m-rec4").model, 2048), 885.7e6, 0.05e6);
  EXPECT_NEAR(budget_flops_per_token(paper("360m-mor2").model, 2048), 623.5e6, 0.05e6);
  EXPECT_NEAR(budget_flops_per_token(paper("360m-mor3").model, 2048), 555.6e6, 0.05e6);
  EXPECT_NEAR(budget_flops_per_token(paper("360m-mor4").model, 2048), 553.5e6, 0.05e6);
  EXPECT_NEAR(budget_flops_per_token(paper("360m-mor3-kvshare").model, 2048), 536.2e6, 0.05e6);
}

TEST(Flops, StepsAtBudgetMatchReleasedConfigs) {
  EXPECT_EQ(budget_steps("360m-vanilla"), 9438);
  EXPECT_EQ(budget_steps("360m-rec4"), 8883);
  EXPECT_EQ(budget_steps("360m-mor2"), 12619);
  // MOR.md section 6 gives 14160.0 steps for MoR-3 (released config: 14161). Nearest-integer
  // rounding reproduces every other released count; no single rounding rule gives both
  // vanilla's 9438 (exact 9438.15) and 14161 (exact 14160.01).
  EXPECT_EQ(budget_steps("360m-mor3"), 14160);
  EXPECT_EQ(budget_steps("360m-mor4"), 14216);
  EXPECT_EQ(budget_steps("360m-mor3-kvshare"), 14672);
  const int64_t s135 = budget_steps("135m-mor3");
  EXPECT_TRUE(s135 == 36325 || s135 == 36326) << s135;
}

TEST(Flops, TokensAtBudgetMatchTable9) {
  auto tokens = [](const Config& c) { return c.train.budget_flops / budget_flops_per_token(c.model, 2048); };
  EXPECT_NEAR(tokens(paper("360m-vanilla")) / 1e9, 19.8, 0.05);
  EXPECT_NEAR(tokens(paper("360m-mor3")) / 1e9, 29.7, 0.05);
  EXPECT_NEAR(tokens(paper("135m-mor3")) / 1e9, 76.2, 0.05);
  EXPECT_NEAR(tokens(paper("135m-vanilla")) / 1e9, 53.3, 0.05);
}

TEST(Flops, ScheduleMatchesSection7) {
  for (auto [name, warmup, decay] : {std::tuple{"360m-vanilla", 57, 1888}, {"360m-mor2", 86, 2524},
                                     {"360m-mor4", 86, 2843}}) {
    Config c = paper(name);
    LrSchedule s = make_schedule(c, budget_steps(name));
    EXPECT_EQ(s.warmup_steps, warmup) << name;
    EXPECT_EQ(s.decay_steps, decay) << name;
  }
  Config c = paper("360m-mor3");
  EXPECT_EQ(make_schedule(c, budget_steps("360m-mor3")).warmup_steps, 86);
}

// train.steps beside train.budget_flops: accepted when they agree (sweep scripts pin the steps of a
// budget), refused naming both when they do not (before, the steps silently won).
TEST(Flops, StepsAndBudgetTogetherMustAgree) {
  EXPECT_EQ(resolve_total_steps(paper_loaded("360m-vanilla", {"train.steps=9438"})), 9438);
  std::string msg;
  try {
    resolve_total_steps(paper_loaded("360m-vanilla", {"train.steps=100"}));
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("360m-vanilla.yaml:"), std::string::npos) << msg;  // where the budget was set
  EXPECT_NE(msg.find("buys 9438 steps of 2097152 tokens, but train.steps (--set train.steps=100) says 100"), std::string::npos)
      << msg;
}

TEST(Flops, UniqueParamsMatchSection1) {
  EXPECT_NEAR(double(unique_params(paper("360m-vanilla").model, false)) / 1e6, 315, 1.5);
  EXPECT_NEAR(double(unique_params(paper("360m-mor3").model, false)) / 1e6, 118, 1.5);
  EXPECT_NEAR(double(unique_params(paper("360m-mor2").model, false)) / 1e6, 167, 1.5);
  EXPECT_NEAR(double(unique_params(paper("360m-mor4").model, false)) / 1e6, 98, 1.5);
  EXPECT_NEAR(double(unique_params(paper("135m-mor3").model, false)) / 1e6, 42, 1.5);
}

TEST(Schedule, WarmupStableDecayShape) {
  LrSchedule s{"wsd", 1.0, 100, 10, 20, 0.0};
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 1.0);
  EXPECT_DOUBLE_EQ(s.lr_at(79), 1.0);
  EXPECT_DOUBLE_EQ(s.lr_at(90), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(100), 0.0);
  LrSchedule cos{"cosine", 1.0, 110, 10, 0, 0.1};
  EXPECT_NEAR(cos.lr_at(10), 1.0, 1e-12);
  EXPECT_NEAR(cos.lr_at(60), 0.55, 1e-12);
  EXPECT_NEAR(cos.lr_at(110), 0.1, 1e-12);
}

}  // namespace
}  // namespace mor

// The GPU MFU denominators (src/train/gpu_peaks.h): the most specific H100 variant wins.
TEST(GpuPeaks, PublishedDensePeaksByCudaDeviceName) {
  const mor::GpuPeak* sxm = mor::published_gpu_peak("NVIDIA H100 80GB HBM3");
  ASSERT_NE(sxm, nullptr);
  EXPECT_DOUBLE_EQ(sxm->bf16_tflops, 989.4);
  ASSERT_NE(mor::published_gpu_peak("NVIDIA H100 PCIe"), nullptr);
  EXPECT_DOUBLE_EQ(mor::published_gpu_peak("NVIDIA H100 PCIe")->tf32_tflops, 378.0);
  ASSERT_NE(mor::published_gpu_peak("NVIDIA H200"), nullptr);
  EXPECT_DOUBLE_EQ(mor::published_gpu_peak("NVIDIA H200")->fp32_tflops, 66.9);
  EXPECT_EQ(mor::published_gpu_peak("NVIDIA GeForce RTX 4090"), nullptr);
}
