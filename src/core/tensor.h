// Tensor: a contiguous, row-major block of one dtype on one device.
// Views share storage and are explicit (reshape, rows, view); there are no strided tensors,
// so every kernel sees plain contiguous memory. Device copies are explicit (to()).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "dtype.h"
#include "error.h"
#include "storage.h"

namespace mor {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype, Device device = Device::cpu());
  template <typename T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& shape);
  // Wraps external memory (not owned; `keepalive` is held while the tensor lives).
  static Tensor wrap(void* ptr, const Shape& shape, DType dtype, Device device,
                     std::shared_ptr<void> keepalive = nullptr);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return int(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  size_t nbytes() const { return size_t(numel_) * dtype_size(dtype_); }

  // The element pointer on the tensor's device, for kernels (kernels/kernel_table.h) and copies.
  void* raw() const;
  template <typename T>
  T* ptr() const {
    MOR_CHECK(DTypeOf<T>::value == dtype_, "tensor holds ", dtype_name(dtype_));
    return static_cast<T*>(raw());
  }
  // Host access: the elements, for code running on the host. Refused for tensors on any other
  // device (CUDA, the test device): copy them with to(Device::cpu()) first.
  template <typename T>
  T* data() const {
    if (!device().is_cpu()) fail_host_access();
    return ptr<T>();
  }

  // Same storage, new shape with the same element count (one dim may be -1).
  Tensor reshape(const Shape& shape) const;
  // Rows [begin, end) along dim 0 (a contiguous view).
  Tensor rows(int64_t begin, int64_t end) const;
  // Flat view of `shape` starting `offset` elements into this tensor.
  Tensor view(int64_t offset, const Shape& shape) const;

  Tensor clone() const;
  Tensor to(Device device) const;       // explicit device copy (clone when same device)
  Tensor host() const;                  // this tensor on the CPU, else a copy there (host reads)
  Tensor to_dtype(DType dtype) const;   // conversion between f32/f64/bf16 (through the host off the CPU)
  void copy_from(const Tensor& src);    // same shape and dtype; any devices
  void zero_();
  void fill_(double value);

  template <typename T>
  std::vector<T> to_vector() const;
  double item() const;  // single-element tensor -> double

 private:
  [[noreturn]] void fail_host_access() const;
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::F32;
};

// Copies made so far from any other device into CPU memory (every host read of device data goes
// through one): tests count them to prove where a step waits for its device.
int64_t device_to_host_copies();

}  // namespace mor
