// Collectives of the world communicator (MPI backend under mpirun, 1 rank as a singleton):
// every op on f32/f64/i32/i64, sizes 0, 1, 7 and 1000003, expected values in closed form from the
// rank numbers. Rank r contributes x(r, i) = (r + 1) * (i % 97 + 1) * scale<T> to element i.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "dist/comm_mpi.h"
#include "dist/runtime.h"
#include "src/core/error.h"

namespace mor::dist {
namespace {

const int64_t kSizes[] = {0, 1, 7, 1000003};

template <typename T> T scale() { return T(1); }
template <> int64_t scale<int64_t>() { return int64_t(1) << 33; }  // would not survive a 32-bit path
template <> double scale<double>() { return 0.5; }

template <typename T> T x(int r, int64_t i) { return T(r + 1) * T(i % 97 + 1) * scale<T>(); }

template <typename T>
class Collectives : public ::testing::Test {};
using Types = ::testing::Types<float, double, int32_t, int64_t>;
TYPED_TEST_SUITE(Collectives, Types);

TYPED_TEST(Collectives, AllReduceSumAndMax) {
  using T = TypeParam;
  Communicator& w = world();
  const int n = w.size(), r = w.rank();
  for (int64_t count : kSizes) {
    SCOPED_TRACE("count " + std::to_string(count));
    std::vector<T> s(static_cast<size_t>(count)), m(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) s[size_t(i)] = m[size_t(i)] = x<T>(r, i);
    w.all_reduce(s.data(), count, DTypeOf<T>::value, ReduceOp::Sum);
    w.all_reduce(m.data(), count, DTypeOf<T>::value, ReduceOp::Max);
    int64_t bad = 0;
    for (int64_t i = 0; i < count; ++i) {
      bad += s[size_t(i)] != T(n * (n + 1) / 2) * x<T>(0, i);  // sum over r of (r + 1) = n(n+1)/2
      bad += m[size_t(i)] != x<T>(n - 1, i);
    }
    EXPECT_EQ(bad, 0);
  }
}

TYPED_TEST(Collectives, ReduceScatterGivesEachRankItsChunk) {
  using T = TypeParam;
  Communicator& w = world();
  const int n = w.size(), r = w.rank();
  for (int64_t chunk : kSizes) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    std::vector<T> in(size_t(chunk * n)), out(size_t(chunk), T(-1));
    for (int64_t j = 0; j < chunk * n; ++j) in[size_t(j)] = x<T>(r, j);
    w.reduce_scatter(in.data(), out.data(), chunk, DTypeOf<T>::value, ReduceOp::Sum);
    int64_t bad = 0;
    for (int64_t i = 0; i < chunk; ++i) bad += out[size_t(i)] != T(n * (n + 1) / 2) * x<T>(0, r * chunk + i);
    EXPECT_EQ(bad, 0);
  }
}

TYPED_TEST(Collectives, AllGatherConcatenatesInRankOrder) {
  using T = TypeParam;
  Communicator& w = world();
  const int n = w.size(), r = w.rank();
  for (int64_t chunk : kSizes) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    std::vector<T> in(static_cast<size_t>(chunk)), out(size_t(chunk * n), T(-1));
    for (int64_t i = 0; i < chunk; ++i) in[size_t(i)] = x<T>(r, i);
    w.all_gather(in.data(), out.data(), chunk, DTypeOf<T>::value);
    int64_t bad = 0;
    for (int k = 0; k < n; ++k)
      for (int64_t i = 0; i < chunk; ++i) bad += out[size_t(k * chunk + i)] != x<T>(k, i);
    EXPECT_EQ(bad, 0);
  }
}

TYPED_TEST(Collectives, BroadcastFromLastAndFromOne) {
  using T = TypeParam;
  Communicator& w = world();
  const int n = w.size(), r = w.rank();
  for (int root : {n - 1, 1 % n}) {
    for (int64_t count : kSizes) {
      SCOPED_TRACE("root " + std::to_string(root) + " count " + std::to_string(count));
      std::vector<T> buf(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) buf[size_t(i)] = x<T>(r, i);
      w.broadcast(buf.data(), count, DTypeOf<T>::value, root);
      int64_t bad = 0;
      for (int64_t i = 0; i < count; ++i) bad += buf[size_t(i)] != x<T>(root, i);
      EXPECT_EQ(bad, 0);
    }
  }
}

TEST(CollectivesFloat, AverageIsSumOverSize) {
  Communicator& w = world();
  const int n = w.size(), r = w.rank();
  for (int64_t count : kSizes) {
    std::vector<float> f(static_cast<size_t>(count));
    std::vector<double> d(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      f[size_t(i)] = x<float>(r, i);
      d[size_t(i)] = x<double>(r, i);
    }
    w.all_reduce(f.data(), count, DType::F32, ReduceOp::Avg);
    w.all_reduce(d.data(), count, DType::F64, ReduceOp::Avg);
    int64_t bad = 0;
    for (int64_t i = 0; i < count; ++i) {
      const double want = double(n + 1) / 2 * double(i % 97 + 1);
      bad += std::abs(f[size_t(i)] - want) > 1e-6 * want;
      bad += std::abs(d[size_t(i)] - 0.5 * want) > 1e-12 * want;
    }
    EXPECT_EQ(bad, 0) << "count " << count;
    // reduce_scatter with Avg divides the received chunk.
    std::vector<double> in(size_t(count * n), double(r + 1)), out(static_cast<size_t>(count));
    w.reduce_scatter(in.data(), out.data(), count, DType::F64, ReduceOp::Avg);
    for (double v : out) EXPECT_DOUBLE_EQ(v, double(n + 1) / 2);
  }
}

TEST(CollectivesTensor, TensorFormsCheckSizesAndMatchRawForms) {
  Communicator& w = world();
  const int n = w.size(), r = w.rank();
  Tensor t = Tensor::full({3, 5}, double(r + 1), DType::F32);
  w.all_reduce(t, ReduceOp::Sum);
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, float(n * (n + 1) / 2));
  Tensor in = Tensor::full({int64_t(n) * 4}, double(r), DType::F64), out = Tensor::zeros({4}, DType::F64);
  w.reduce_scatter(in, out, ReduceOp::Max);
  for (double v : out.to_vector<double>()) EXPECT_EQ(v, double(n - 1));
  Tensor g = Tensor::zeros({int64_t(n), 2}, DType::I64);
  Tensor mine = Tensor::full({2}, double(10 * r), DType::I64);
  w.all_gather(mine, g);
  for (int k = 0; k < n; ++k) EXPECT_EQ(g.to_vector<int64_t>()[size_t(2 * k + 1)], 10 * k);
  Tensor empty = Tensor::zeros({0, 8}, DType::F32);
  w.all_reduce(empty, ReduceOp::Max);
  w.broadcast(empty, n - 1);
  EXPECT_EQ(empty.numel(), 0);
  // Wrong sizes fail on every rank before any message is sent (so no rank hangs).
  Tensor wrong = Tensor::zeros({int64_t(n) * 4 + 1}, DType::F64);
  EXPECT_THROW(w.reduce_scatter(wrong, out), Error);
  EXPECT_THROW(w.all_gather(mine, wrong), Error);
  EXPECT_THROW(w.reduce_scatter(in, mine), Error);  // dtype/size mismatch
}

TEST(CollectivesTensor, Bf16MovesButDoesNotReduce) {
  Communicator& w = world();
  const int n = w.size(), r = w.rank();
  std::vector<uint16_t> mine = {uint16_t(0x3f80 + r), uint16_t(0xbf80 + r)}, all(size_t(2 * n));
  w.all_gather(mine.data(), all.data(), 2, DType::BF16);
  for (int k = 0; k < n; ++k) EXPECT_EQ(all[size_t(2 * k)], uint16_t(0x3f80 + k));
  w.broadcast(mine.data(), 2, DType::BF16, n - 1);
  EXPECT_EQ(mine[1], uint16_t(0xbf80 + n - 1));
  EXPECT_THROW(w.all_reduce(mine.data(), 2, DType::BF16, ReduceOp::Sum), Error);
  int32_t i = r;
  EXPECT_THROW(w.all_reduce(&i, 1, DType::I32, ReduceOp::Avg), Error);
  EXPECT_THROW(w.broadcast(&i, 1, DType::I32, n), Error);  // root outside the group
}

TEST(CollectivesValue, ScalarStatistics) {
  Communicator& w = world();
  const int n = w.size(), r = w.rank();
  EXPECT_EQ(w.all_reduce_value(int64_t(1) << 40 | r, ReduceOp::Max), int64_t(1) << 40 | (n - 1));
  EXPECT_DOUBLE_EQ(w.all_reduce_value(0.25 * (r + 1)), 0.125 * n * (n + 1));
}

TEST(CollectivesBarrier, NoRankLeavesBeforeTheLastArrives) {
  Communicator& w = world();
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  if (w.rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  w.barrier();
  const double waited = std::chrono::duration<double>(clock::now() - t0).count();
  EXPECT_GE(waited, 0.25) << "rank " << w.rank() << " left the barrier before rank 0 entered it";
}

TEST(CollectivesErrors, MpiErrorsAreReturnedAsExceptions) {
  // A count mismatch MPI itself rejects (negative count through the raw MPI handle is caught
  // by our checks first, so provoke MPI with an invalid root on the raw communicator instead).
  auto* m = dynamic_cast<MpiCommunicator*>(&world());
  ASSERT_NE(m, nullptr);
  int v = 0;
  int rc = MPI_Bcast(&v, 1, MPI_INT, m->size() + 5, m->handle());
  EXPECT_NE(rc, MPI_SUCCESS);
  try {
    mpi_check(rc, "MPI_Bcast", m->name());
    FAIL() << "mpi_check did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MPI_Bcast over world failed: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Hint:"), std::string::npos);
  }
}

}  // namespace
}  // namespace mor::dist
