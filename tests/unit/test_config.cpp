// Config loading: defaults, overrides, and one clear `file:line:col` error per kind of bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "src/config/config.h"
#include "src/core/error.h"

namespace mor {
namespace {

std::string error_of(const std::string& yaml, std::vector<std::string> overrides = {}) {
  try {
    load_config_text(yaml, "cfg.yaml", overrides);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

const char* kOk = "model:\n  d_model: 64\n  n_heads: 4\ntrain:\n  steps: 3\n";
// Overrides that make kOk an expert-choice MoR with two recursions (model.mor.capacity applies only there).
std::vector<std::string> expert_mor(std::vector<std::string> more) {
  std::vector<std::string> o = {"model.recursion.sharing=middle_cycle", "model.n_layers=4", "model.recursion.num_recursions=2",
                                "model.mor.type=expert"};
  o.insert(o.end(), more.begin(), more.end());
  return o;
}

TEST(Config, LoadsWithDefaultsAndOverrides) {
  LoadedConfig c = load_config_text(kOk, "configs/tiny.yaml", expert_mor({"train.lr=1e-3", "model.mor.capacity=[1, 0.5]"}));
  EXPECT_EQ(c.config.name, "tiny");
  EXPECT_EQ(c.config.model.d_model, 64);
  EXPECT_EQ(c.config.model.hdim(), 16);
  EXPECT_DOUBLE_EQ(c.config.train.lr, 1e-3);
  EXPECT_EQ(c.config.model.mor.capacity.size(), 2u);
  EXPECT_EQ(c.origins.at("train.lr"), "--set train.lr=1e-3");
  EXPECT_EQ(c.origins.at("model.d_model"), "configs/tiny.yaml:2:12");
}

TEST(Config, DumpRoundTrips) {
  LoadedConfig a = load_config_text(kOk, "a.yaml", {"model.recursion.sharing=middle_cycle", "model.n_layers=6",
                                                    "model.recursion.num_recursions=2"});
  LoadedConfig b = load_config_text(dump_config(a.config), "b.yaml");
  EXPECT_EQ(dump_config(a.config), dump_config(b.config));
}

TEST(Config, DumpWritesShortestExactNumbers) {
  LoadedConfig a =
      load_config_text(kOk, "a.yaml", expert_mor({"train.warmup_frac=0.05", "train.lr=3e-4", "model.mor.capacity=[0.7, 0.1]"}));
  const std::string d = dump_config(a.config);
  EXPECT_NE(d.find("warmup_frac: 0.05\n"), std::string::npos) << d;
  EXPECT_NE(d.find("capacity: [0.7, 0.1]"), std::string::npos) << d;
  LoadedConfig b = load_config_text(d, "b.yaml");
  EXPECT_EQ(b.config.train.warmup_frac, 0.05);  // exactly the same double
  EXPECT_EQ(b.config.train.lr, 3e-4);
  EXPECT_EQ(b.config.model.mor.capacity, (std::vector<double>{0.7, 0.1}));
}

TEST(Config, EmptyOverrideSaysSo) {
  const std::string e = error_of(kOk, {"model.d_model="});
  EXPECT_NE(e.find("must be an integer (got nothing)"), std::string::npos) << e;
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  std::string e = error_of("model:\n  d_model: 64\n  n_head: 4\ntrain:\n  steps: 3\n");
  EXPECT_NE(e.find("cfg.yaml:3:3"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'model.n_head'"), std::string::npos) << e;
}

TEST(Config, WrongTypeNamesTheValue) {
  std::string e = error_of("model:\n  n_heads: eight\ntrain:\n  steps: 3\n");
  EXPECT_NE(e.find("cfg.yaml:2:12"), std::string::npos) << e;
  EXPECT_NE(e.find("must be an integer"), std::string::npos) << e;
}

TEST(Config, SyntaxErrorHasLine) {
  std::string e = error_of("model:\n  d_model: [1, 2\ntrain: {}\n");
  EXPECT_NE(e.find("YAML syntax error"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg.yaml:"), std::string::npos) << e;
}

TEST(Config, ImpossibleShapesAreRejected) {
  EXPECT_NE(error_of("model:\n  d_model: 64\n  n_heads: 5\ntrain:\n  steps: 3\n").find("does not divide d_model"),
            std::string::npos);
  EXPECT_NE(error_of("model:\n  d_model: 64\n  n_heads: 4\n  n_kv_heads: 3\ntrain:\n  steps: 3\n").find("must divide n_heads"),
            std::string::npos);
  std::string e = error_of(kOk, {"model.recursion.sharing=middle_cycle", "model.recursion.num_recursions=3",
                                 "model.n_layers=30"});
  EXPECT_NE(e.find("n_layers=32"), std::string::npos) << e;  // the hint suggests the paper's fix
  EXPECT_NE(error_of(kOk, {"model.recursion.num_recursions=2"}).find("needs a sharing strategy"), std::string::npos);
  EXPECT_NE(error_of(kOk, {"model.recursion.sharing=middle_cycle", "model.n_layers=5", "model.recursion.num_recursions=3",
                           "model.mor.type=expert", "model.mor.capacity=[1, 0.2, 0.5]"})
                .find("non-increasing"),
            std::string::npos);
}

TEST(Config, ChoicesAreChecked) {
  std::string e = error_of(kOk, {"train.schedule=linear"});
  EXPECT_NE(e.find("--set train.schedule=linear"), std::string::npos) << e;
  EXPECT_NE(e.find("wsd, cosine, constant"), std::string::npos) << e;
}

TEST(Config, StepsOrBudgetRequired) {
  EXPECT_NE(error_of("model:\n  d_model: 64\n").find("set train.steps or train.budget_flops"), std::string::npos);
}

TEST(Config, BadOverrideSyntax) {
  EXPECT_NE(error_of(kOk, {"train.lr"}).find("expected key=value"), std::string::npos);
}

TEST(Config, MissingFileIsBadInput) {
  try {
    load_config("/nonexistent/x.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.yaml"), std::string::npos);
  }
}

// Issue item 6: NaN and infinities are refused for every floating-point key, at load, with the
// position (file:line:col, or the --set flag), by the one check in the schema reader.
TEST(Config, NonFiniteNumbersAreRefusedForEveryNumericKey) {
  std::string e = error_of("model:\n  d_model: 64\n  n_heads: 4\ntrain:\n  steps: 3\n  grad_clip: .nan\n");
  EXPECT_NE(e.find("cfg.yaml:6:14: key 'train.grad_clip' must be a finite number (got '.nan')"), std::string::npos) << e;
  EXPECT_NE(e.find("Hint:"), std::string::npos) << e;
  e = error_of(kOk, {"train.lr=.inf"});
  EXPECT_NE(e.find("--set train.lr=.inf: key 'train.lr' must be a finite number"), std::string::npos) << e;
  e = error_of(kOk, {"model.mor.capacity=[1, .nan]"});
  EXPECT_NE(e.find("key 'model.mor.capacity' must be a finite number (got '.nan')"), std::string::npos) << e;
  // Every key whose default is a number (floating-point or integer) refuses .nan, -.inf and .inf.
  int numeric = 0;
  std::istringstream rows(describe_config_keys());  // "| `key` | default | meaning |"
  for (std::string row; std::getline(rows, row);) {
    const size_t a = row.find('`'), b = row.find('`', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string key = row.substr(a + 1, b - a - 1);
    const std::string value = row.substr(b + 4, row.find(" |", b + 4) - (b + 4));
    double d = 0;
    if (!(std::istringstream(value) >> d)) continue;  // strings, booleans and lists
    ASSERT_NE(value, "true");
    ++numeric;
    for (const char* bad : {".nan", ".inf", "-.inf"}) {
      e = error_of(kOk, {key + "=" + bad});
      EXPECT_NE(e.find("key '" + key + "' must be a"), std::string::npos) << key << "=" << bad << ": " << e;
      EXPECT_TRUE(e.find("finite number") != std::string::npos || e.find("an integer") != std::string::npos) << e;
    }
  }
  EXPECT_GT(numeric, 40);
  EXPECT_NE(error_of(kOk, {"train.steps=1e30"}).find("'train.steps' must be an integer"), std::string::npos);
}

// Issue item 10: duplicate keys are refused with both positions (yaml-cpp keeps both pairs).
TEST(Config, DuplicateKeysAreRefusedWithBothPositions) {
  std::string e = error_of("model:\n  d_model: 64\n  n_heads: 4\n  d_model: 32\ntrain:\n  steps: 3\n");
  EXPECT_NE(e.find("cfg.yaml:4:3: duplicate key 'model.d_model' (first at cfg.yaml:2:3)"), std::string::npos) << e;
  EXPECT_NE(e.find("Hint:"), std::string::npos) << e;
  e = error_of("train:\n  steps: 3\nmodel:\n  d_model: 64\ntrain:\n  lr: 1.0e-3\n");
  EXPECT_NE(e.find("cfg.yaml:5:1: duplicate key 'train' (first at cfg.yaml:1:1)"), std::string::npos) << e;
  e = error_of(kOk, {"model={d_model: 32, d_model: 64}"});
  EXPECT_NE(e.find("duplicate key 'model.d_model'"), std::string::npos) << e;
}

// Issue item 10: a --set whose value is a map merges into the section key by key.
TEST(Config, MapOverrideMergesIntoTheSection) {
  const char* mor = "model:\n  d_model: 64\n  n_heads: 4\n  n_layers: 5\n  recursion:\n    sharing: middle_cycle\n"
                    "    num_recursions: 3\n  mor:\n    type: expert\ntrain:\n  steps: 3\n";
  LoadedConfig c = load_config_text(mor, "m.yaml", {"model={d_model: 32, mor: {aux_coeff: 0.5}}"});
  EXPECT_EQ(c.config.model.d_model, 32);
  EXPECT_EQ(c.config.model.mor.type, "expert");
  EXPECT_EQ(c.config.model.recursion.sharing, "middle_cycle");
  EXPECT_EQ(c.config.model.n_layers, 5);
  EXPECT_DOUBLE_EQ(c.config.model.mor.aux_coeff, 0.5);
  EXPECT_EQ(c.origins.at("model.d_model"), "--set model={d_model: 32, mor: {aux_coeff: 0.5}}");
  EXPECT_EQ(c.origins.at("model.mor.type"), "m.yaml:9:11");
  // Errors inside a map value name the flag, not a position in the file.
  const std::string e = error_of(mor, {"model={n_heads: five}"});
  EXPECT_NE(e.find("--set model={n_heads: five}: key 'model.n_heads' must be an integer"), std::string::npos) << e;
}

// Issue item 10: a negative thread count is refused at load (0 is the default).
TEST(Config, NegativeThreadsAreRefused) {
  const std::string e = error_of("model:\n  d_model: 64\n  n_heads: 4\ntrain:\n  steps: 3\n  threads: -2\n");
  EXPECT_NE(e.find("cfg.yaml:6:12: train.threads must be >= 0 (got -2)"), std::string::npos) << e;
}

// model.mor.capacity without expert routing: refused where a user wrote it (a file, --set), but a
// config stored by an earlier version in a checkpoint or export that holds it still loads.
TEST(Config, CapacityWithoutExpertRoutingIsRefusedOnlyInUserConfigs) {
  const std::string yaml = "model:\n  d_model: 64\n  n_heads: 4\n  n_layers: 5\n  recursion:\n    sharing: middle_cycle\n"
                           "    num_recursions: 3\n  mor:\n    type: token\n    capacity: [1, 0.5, 0.25]\ntrain:\n  steps: 3\n";
  EXPECT_EQ(load_config_text(yaml, "ckpt.h5:/config").config.model.mor.capacity.size(), 3u);
  const std::string path = ::testing::TempDir() + "capacity_token.yaml";
  std::ofstream(path) << yaml;
  std::string e;
  try {
    load_config(path);
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("capacity_token.yaml:10:15: model.mor.capacity applies to expert-choice routing only"), std::string::npos) << e;
}

TEST(Config, EveryKeyIsDocumented) {
  std::string keys = describe_config_keys();
  for (const char* k : {"model.d_model", "model.mor.capacity", "train.budget_flops", "data.path"})
    EXPECT_NE(keys.find(std::string("`") + k + "`"), std::string::npos) << k;
}

}  // namespace
}  // namespace mor
