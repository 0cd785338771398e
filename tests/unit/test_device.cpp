// Device slot: parsing, and on a machine with a GPU a host <-> device round trip (skipped cleanly
// without one). Ops on CUDA tensors must refuse with a clear error until they have kernels.
#include <gtest/gtest.h>

#include "src/autodiff/ops.h"
#include "src/core/device.h"
#include "src/core/tensor.h"

namespace mor {
namespace {

TEST(Device, ParseAndErrors) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  try {
    parse_device("gpu");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("cuda:N"), std::string::npos);
  }
  if (cuda_device_count() == 0) {
    EXPECT_THROW(parse_device("cuda:0"), Error);  // no device (or no CUDA build): a clear error
  }
}

TEST(Cuda, HostDeviceRoundTrip) {
  if (!cuda_compiled()) GTEST_SKIP() << "built without CUDA";
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor d = a.to(Device::cuda(0));
  EXPECT_TRUE(d.device().is_cuda());
  Tensor z = Tensor::zeros({2, 3}, DType::F32, Device::cuda(0));
  z.copy_from(d);
  EXPECT_EQ(z.to(Device::cpu()).to_vector<float>(), a.to_vector<float>());
  try {
    ad::rmsnorm(ad::make_var(d), ad::make_var(Tensor::full({3}, 1.0, DType::F32, Device::cuda(0))), 1e-5);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rmsnorm"), std::string::npos);
  }
}

}  // namespace
}  // namespace mor
