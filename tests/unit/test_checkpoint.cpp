// HDF5 checkpoint files: exact round trip, and one clear error for each kind of bad file.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>

#include "checkpoints/checkpoint.h"
#include "checkpoints/safetensors.h"
#include "data_fixtures.h"
#include "src/core/error.h"

namespace mor::ckpt {
namespace {
using mor::testing::error_of;
using mor::testing::TempDir;

Checkpoint sample() {
  Checkpoint c;
  c.tensors.push_back({"embed_tokens", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2}),
                       Tensor::from_vector(std::vector<float>{.1f, .2f, .3f, .4f, .5f, .6f}, {3, 2}),
                       Tensor::from_vector(std::vector<float>{1e-3f, 2e-3f, 3e-3f, 4e-3f, 5e-3f, 6e-3f}, {3, 2})});
  c.tensors.push_back({"router_bias", Tensor::from_vector(std::vector<float>{-0.5f, 0.25f}, {2}), {}, {}});
  c.state.step = 42;
  c.state.tokens = 1 << 20;
  c.state.flops = 1.5e12;
  c.state.loader_epoch = 3;
  c.state.loader_consumed = 17;
  c.state.rng = {1, 2, 3, 0xffffffffffffffffull};
  c.state.adam_steps = {{"", 42}, {"aux_router", 40}};
  c.meta.framework_version = "test";
  c.meta.created = utc_now_iso8601();
  c.config_yaml = "model:\n  d_model: 2\n";
  return c;
}

TEST(Checkpoint, RoundTripsEverything) {
  TempDir t;
  write_checkpoint(t.str("c.h5"), sample());
  EXPECT_FALSE(std::filesystem::exists(t.str("c.h5.tmp")));
  Checkpoint c = read_checkpoint(t.str("c.h5"));
  ASSERT_EQ(c.tensors.size(), 2u);
  const Checkpoint s = sample();
  EXPECT_EQ(c.tensors[0].name, "embed_tokens");
  EXPECT_EQ(c.tensors[0].value.shape(), (Shape{3, 2}));
  EXPECT_EQ(c.tensors[0].value.to_vector<float>(), s.tensors[0].value.to_vector<float>());
  EXPECT_EQ(c.tensors[0].m.to_vector<float>(), s.tensors[0].m.to_vector<float>());
  EXPECT_EQ(c.tensors[0].v.to_vector<float>(), s.tensors[0].v.to_vector<float>());
  EXPECT_FALSE(c.tensors[1].m.defined());
  EXPECT_EQ(c.state.step, 42);
  EXPECT_EQ(c.state.tokens, 1 << 20);
  EXPECT_EQ(c.state.flops, 1.5e12);
  EXPECT_EQ(c.state.loader_epoch, 3u);
  EXPECT_EQ(c.state.loader_consumed, 17u);
  EXPECT_EQ(c.state.rng, s.state.rng);
  EXPECT_EQ(c.state.adam_steps, s.state.adam_steps);
  EXPECT_EQ(c.config_yaml, s.config_yaml);
  EXPECT_EQ(c.meta.format_version, kCheckpointVersion);
  EXPECT_EQ(c.meta.framework_version, "test");
  EXPECT_FALSE(read_checkpoint(t.str("c.h5"), false).tensors[0].m.defined());
}

TEST(Checkpoint, BadFilesGiveClearErrors) {
  TempDir t;
  write_checkpoint(t.str("good.h5"), sample());
  EXPECT_NE(error_of([&] { read_checkpoint(t.str("missing.h5")); }).find("no such checkpoint"), std::string::npos);
  // Truncated.
  {
    std::ifstream in(t.str("good.h5"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(t.str("cut.h5"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  std::string e = error_of([&] { read_checkpoint(t.str("cut.h5")); });
  EXPECT_NE(e.find("cut.h5"), std::string::npos) << e;
  // Not HDF5 at all.
  std::ofstream(t.str("text.h5")) << "hello";
  EXPECT_NE(error_of([&] { read_checkpoint(t.str("text.h5")); }).find("not a readable HDF5 file"), std::string::npos);
  // A newer format version.
  std::filesystem::copy_file(t.str("good.h5"), t.str("v9.h5"));
  {
    hid_t f = H5Fopen(t.str("v9.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t meta = H5Gopen2(f, "meta", H5P_DEFAULT);
    hid_t a = H5Aopen(meta, "format_version", H5P_DEFAULT);
    int v = 9;
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
    H5Gclose(meta);
    H5Fclose(f);
  }
  e = error_of([&] { read_checkpoint(t.str("v9.h5")); });
  EXPECT_NE(e.find("format version 9 is not supported"), std::string::npos) << e;
}

TEST(Checkpoint, CorruptTensorDataFailsItsChecksum) {
  TempDir t;
  write_checkpoint(t.str("good.h5"), sample());
  std::filesystem::copy_file(t.str("good.h5"), t.str("flipped.h5"));
  haddr_t offset = HADDR_UNDEF;  // where the bytes of params/embed_tokens lie in the file
  {
    hid_t f = H5Fopen(t.str("flipped.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "params/embed_tokens", H5P_DEFAULT);
    offset = H5Dget_offset(ds);
    H5Dclose(ds);
    H5Fclose(f);
  }
  ASSERT_NE(offset, HADDR_UNDEF);
  {
    std::fstream io(t.str("flipped.h5"), std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(std::streamoff(offset + 5));
    char byte = 0;
    io.read(&byte, 1);
    byte = char(byte ^ 0x40);  // one bit of one weight: HDF5 itself does not notice
    io.seekp(std::streamoff(offset + 5));
    io.write(&byte, 1);
  }
  const std::string e = error_of([&] { read_checkpoint(t.str("flipped.h5")); });
  EXPECT_NE(e.find("flipped.h5: dataset 'embed_tokens' fails its checksum"), std::string::npos) << e;
  EXPECT_NO_THROW(read_checkpoint(t.str("good.h5")));
}

TEST(Safetensors, RoundTripAndErrors) {
  TempDir t;
  SafetensorsFile f;
  f.tensors["a"] = Tensor::from_vector(std::vector<float>{1, -2, 3}, {3});
  f.tensors["b.weight"] = Tensor::from_vector(std::vector<int32_t>{7, 8}, {1, 2});
  f.metadata["k"] = "v";
  write_safetensors(t.str("x.safetensors"), f);
  SafetensorsFile g = read_safetensors(t.str("x.safetensors"));
  EXPECT_EQ(g.tensors.at("a").to_vector<float>(), f.tensors.at("a").to_vector<float>());
  EXPECT_EQ(g.tensors.at("b.weight").shape(), (Shape{1, 2}));
  EXPECT_EQ(g.metadata.at("k"), "v");
  std::ofstream(t.str("bad.safetensors"), std::ios::binary) << std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  EXPECT_NE(error_of([&] { read_safetensors(t.str("bad.safetensors")); }).find("bad header length"), std::string::npos);
}

}  // namespace
}  // namespace mor::ckpt
