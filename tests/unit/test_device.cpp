// Device slot: parsing, and on a machine with a GPU a host <-> device round trip and one op on the
// CUDA kernel table (skipped cleanly without one).
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
  // An op on CUDA tensors runs the CUDA kernel table and allocates its output there.
  const Tensor y = ad::rmsnorm(ad::make_var(d), ad::make_var(Tensor::full({3}, 1.0, DType::F32, Device::cuda(0))), 1e-5)->value;
  EXPECT_TRUE(y.device().is_cuda());
  const std::vector<float> want = ad::rmsnorm(ad::make_var(a), ad::make_var(Tensor::full({3}, 1.0, DType::F32)), 1e-5)->value.to_vector<float>();
  const std::vector<float> got = y.to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5);
}

}  // namespace
}  // namespace mor
