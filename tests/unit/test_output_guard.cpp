// Output guards (issue item 2): an output equal to, containing or inside an input is refused
// (symlinks resolved, name prefixes not confused with parents); existing outputs are described in
// words; the export and checkpoint layout checks accept only what `mor export` / `mor import`
// write; the output lock refuses a second writer.
#include <gtest/gtest.h>

#include <filesystem>

#include "checkpoints/checkpoint.h"
#include "checkpoints/checkpoint_probe.h"
#include "checkpoints/export_hf.h"
#include "data_fixtures.h"
#include "src/config/config.h"
#include "src/core/error.h"
#include "src/core/output_guard.h"

namespace mor {
namespace {
namespace fs = std::filesystem;
using namespace mor::testing;

std::string apart_error(const std::string& out, const std::string& in) {
  return error_of([&] { check_output_apart(out, "--out", {{"--input", in}}); });
}

TEST(OutputGuard, OverlapWithAnInputIsRefused) {
  TempDir t;
  fs::create_directories(t.str("par/data"));
  EXPECT_NE(apart_error(t.str("par"), t.str("par/data")).find("contains the input --input"), std::string::npos);
  EXPECT_NE(apart_error(t.str("par/data/out"), t.str("par/data")).find("lies inside the input"), std::string::npos);
  EXPECT_NE(apart_error(t.str("par/data/"), t.str("par/data")).find("is the same path as"), std::string::npos);
  EXPECT_NE(apart_error(t.str("par/x/../data"), t.str("par/data")).find("is the same path as"), std::string::npos);
  fs::create_directory_symlink(t.str("par"), t.str("alias"));
  EXPECT_NE(apart_error(t.str("alias/data/new"), t.str("par/data")).find("lies inside"), std::string::npos);
  // Neither a sibling with a common name prefix nor an empty input overlaps.
  EXPECT_NO_THROW(check_output_apart(t.str("par/data2"), "--out", {{"--input", t.str("par/data")}}));
  EXPECT_NO_THROW(check_output_apart(t.str("par/data2"), "--out", {{"--tokenizer", ""}}));
}

TEST(OutputGuard, DescribesWhatExists) {
  TempDir t;
  fs::create_directories(t.str("d/sub"));
  EXPECT_EQ(describe_existing(t.str("d/sub")), "an empty directory");
  for (const char* f : {"d/a", "d/b", "d/c", "d/e"}) write_file(t.str(f), "xy");
  EXPECT_EQ(describe_existing(t.str("d/a")), "a file of 2 bytes");
  EXPECT_EQ(describe_existing(t.str("d")), "a directory holding a, b, c, e and 1 more");
  fs::remove(t.str("d/e"));
  fs::remove(t.str("d/c"));
  EXPECT_EQ(describe_existing(t.str("d")), "a directory holding a, b and sub/");
}

TEST(OutputGuard, LockRefusesASecondWriterAndIsRemoved) {
  TempDir t;
  {
    PathLock first = lock_output(t.str("ds/"), "dataset directory ds");
    EXPECT_TRUE(fs::exists(t.str("ds.lock")));
    const std::string e = error_of([&] { lock_output(t.str("ds"), "dataset directory ds"); });
    EXPECT_NE(e.find("dataset directory ds is in use by another process (" + lock_holder_id()), std::string::npos) << e;
  }
  EXPECT_FALSE(fs::exists(t.str("ds.lock")));
}

TEST(OutputGuard, ExportLayoutIsRecognised) {
  TempDir t;
  fs::create_directories(t.str("hf"));
  write_file(t.str("hf/config.json"), "{\"mor_train_config\": \"model: {}\"}");
  write_file(t.str("hf/model.safetensors"), "x");
  EXPECT_TRUE(ckpt::looks_like_export(t.str("hf")));
  write_file(t.str("hf/tokenizer.model"), "x");
  EXPECT_TRUE(ckpt::looks_like_export(t.str("hf")));
  write_file(t.str("hf/notes.txt"), "x");
  EXPECT_FALSE(ckpt::looks_like_export(t.str("hf"))) << "a foreign file";
  fs::remove(t.str("hf/notes.txt"));
  write_file(t.str("hf/config.json"), "{\"architectures\": []}");
  EXPECT_FALSE(ckpt::looks_like_export(t.str("hf"))) << "a config.json `mor export` did not write";
  EXPECT_FALSE(ckpt::looks_like_export(t.str("hf/model.safetensors")));
  EXPECT_FALSE(ckpt::looks_like_export(t.str("none")));
}

TEST(OutputGuard, CheckpointFilesAreRecognised) {
  TempDir t;
  ckpt::Checkpoint c;
  ckpt::NamedTensor w;
  w.name = "w";
  w.value = Tensor::zeros({2, 2}, DType::F32);
  c.tensors.push_back(w);
  c.config_yaml = dump_config(Config{});
  ckpt::write_checkpoint(t.str("c.h5"), c);
  EXPECT_TRUE(ckpt::looks_like_checkpoint(t.str("c.h5")));
  write_file(t.str("notes.h5"), "not hdf5");
  EXPECT_FALSE(ckpt::looks_like_checkpoint(t.str("notes.h5")));
  EXPECT_FALSE(ckpt::looks_like_checkpoint(t.str("missing.h5")));
  EXPECT_FALSE(ckpt::looks_like_checkpoint(t.path.string()));
}

}  // namespace
}  // namespace mor
