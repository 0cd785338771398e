// ConstantParamsScope (src/train/precision.h): the promise that a step's forward and backward
// passes leave the parameter arena unchanged. With MOR_CHECK_CONSTANT_PARAMS=1, close() must catch a
// write into the arena inside the scope and accept a scope without one; the check and the bf16
// weight copies stay off outside their conditions. (tests/cli/test_precision.sh runs whole bf16
// and routed trainings with the check on.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "src/config/config.h"
#include "src/model/model.h"
#include "src/train/precision.h"

namespace mor {
namespace {

Config tiny(const std::string& extra) {
  std::ostringstream y;
  y << "model:\n  vocab_size: 256\n  d_model: 32\n  n_layers: 3\n  n_heads: 2\n  d_ff: 64\n"
    << extra << "train:\n  seq_len: 16\n  micro_batch: 2\n  steps: 1\n";
  return load_config_text(y.str(), "test.yaml").config;
}

struct CheckEnv {  // MOR_CHECK_CONSTANT_PARAMS=1 for one test
  CheckEnv() { setenv("MOR_CHECK_CONSTANT_PARAMS", "1", 1); }
  ~CheckEnv() { unsetenv("MOR_CHECK_CONSTANT_PARAMS"); }
};

}  // namespace

TEST(ConstantParams, CheckCatchesAWriteInsideTheScope) {
  CheckEnv env;
  Model model(tiny("").model);
  model.initialize(1);
  {
    ConstantParamsScope scope(model.params(), true);
    EXPECT_NO_THROW(scope.close());  // nothing written
  }
  ConstantParamsScope scope(model.params(), true);
  float* values = model.params().values().ptr<float>();
  values[model.params().values().numel() / 2] += 1.0f;
  try {
    scope.close();
    FAIL() << "a write into the parameter arena inside the scope went unnoticed";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("MOR_CHECK_CONSTANT_PARAMS"), std::string::npos) << e.what();
  }
}

TEST(ConstantParams, OffWithoutTheVariableAndReuseRule) {
  Model model(tiny("").model);
  model.initialize(1);
  {
    ConstantParamsScope scope(model.params(), true);  // no MOR_CHECK_CONSTANT_PARAMS: no check
    model.params().values().ptr<float>()[0] += 1.0f;
    EXPECT_NO_THROW(scope.close());
  }
  EXPECT_FALSE(weights_reused(tiny("")));  // vanilla, one micro-batch
  EXPECT_TRUE(weights_reused(tiny("  recursion:\n    sharing: cycle\n    num_recursions: 3\n")));
  Config accumulated = tiny("");
  accumulated.train.grad_accum = 2;
  EXPECT_TRUE(weights_reused(accumulated));
}

}  // namespace mor
