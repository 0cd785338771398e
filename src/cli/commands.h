// Subcommand implementations behind the `mor` CLI (flag parsing stays in main.cpp).
#pragma once
#include <string>
#include <vector>

#include "src/train/trainer.h"

namespace mor::cli {

struct TrainArgs {
  std::string config;
  std::vector<std::string> set;  // --set key=value
  TrainOptions opts;
};
int run_train(const TrainArgs& a);

struct FlopsArgs {
  std::string config;
  std::vector<std::string> set;
  bool json = false;
};
int run_flops(const FlopsArgs& a);

// `mor config --keys`: every key, default and meaning (markdown table).
int run_config_keys();

}  // namespace mor::cli
