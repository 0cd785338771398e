// `mor bench comm`; see bench_comm.h.
#include "bench_comm.h"

#include <mpi.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "comm_mpi.h"
#include "runtime.h"
#include "watchdog.h"
#include "src/core/error.h"

namespace mor::dist {
namespace {

using Clock = std::chrono::steady_clock;

enum class Op { AllReduce, ReduceScatter, AllGather };
const char* op_name(Op op) {
  return op == Op::AllReduce ? "all_reduce" : op == Op::ReduceScatter ? "reduce_scatter" : "all_gather";
}
double bus_factor(Op op, int n) {
  if (n <= 1) return 0;
  return op == Op::AllReduce ? 2.0 * (n - 1) / n : double(n - 1) / n;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.empty() ? 0 : v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

std::string size_label(int64_t b) {
  const char* units[] = {"B", "K", "M", "G"};
  int u = 0;
  while (b >= 1024 && b % 1024 == 0 && u < 3) {
    b /= 1024;
    ++u;
  }
  return std::to_string(b) + units[u];
}

struct Row {
  Op op;
  int64_t bytes;     // full buffer size (see bench_comm.h)
  double ours_s;     // median over iterations of the slowest rank's time
  double plain_s;
  double ours_min_s, ours_max_s, plain_min_s, plain_max_s;
};

// Checks one call of each op against closed-form values (rank r contributes r + 1).
void check_ops(Communicator& w) {
  const int n = w.size(), r = w.rank();
  std::vector<float> a(size_t(3 * n), float(r + 1)), out(size_t(3 * n));
  w.all_reduce(a.data(), int64_t(a.size()), DType::F32, ReduceOp::Sum);
  const float sum = float(n) * float(n + 1) / 2;
  bool ok = std::all_of(a.begin(), a.end(), [&](float v) { return v == sum; });
  std::vector<float> in(size_t(3 * n), float(r + 1));
  w.reduce_scatter(in.data(), out.data(), 3, DType::F32, ReduceOp::Sum);
  ok = ok && out[0] == sum && out[2] == sum;
  w.all_gather(in.data(), out.data(), 3, DType::F32);
  for (int k = 0; k < n; ++k) ok = ok && out[size_t(3 * k)] == float(k + 1);
  if (w.all_reduce_value(int64_t(!ok), ReduceOp::Max) != 0)
    fail_internal("bench comm: a collective over ", w.name(), " returned wrong values. Hint: run the mpi_tests suite.");
}

Row measure(Op op, int64_t bytes, MpiCommunicator& w, const BenchCommOptions& o) {
  const int n = w.size();
  MPI_Comm c = w.handle();
  int64_t count = std::max<int64_t>(bytes / 4, n);
  if (op != Op::AllReduce) count = count / n * n;
  const int64_t chunk = count / n;
  std::vector<float> a(size_t(count), 0.0f), b(size_t(count), 0.0f);  // zeros: repeated sums stay finite
  std::function<void()> ours, plain;
  switch (op) {
    case Op::AllReduce:
      ours = [&] { w.all_reduce(a.data(), count, DType::F32, ReduceOp::Sum); };
      plain = [&] { MPI_Allreduce(MPI_IN_PLACE, a.data(), int(count), MPI_FLOAT, MPI_SUM, c); };
      break;
    case Op::ReduceScatter:
      ours = [&] { w.reduce_scatter(a.data(), b.data(), chunk, DType::F32, ReduceOp::Sum); };
      plain = [&] { MPI_Reduce_scatter_block(a.data(), b.data(), int(chunk), MPI_FLOAT, MPI_SUM, c); };
      break;
    case Op::AllGather:
      ours = [&] { w.all_gather(a.data(), b.data(), chunk, DType::F32); };
      plain = [&] { MPI_Allgather(a.data(), int(chunk), MPI_FLOAT, b.data(), int(chunk), MPI_FLOAT, c); };
      break;
  }
  auto timed = [&](const std::function<void()>& f) {
    MPI_Barrier(c);
    const auto t0 = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (int i = 0; i < o.warmup; ++i) {
    timed(ours);
    timed(plain);
  }
  std::vector<double> t_ours(size_t(o.iters)), t_plain(size_t(o.iters));
  for (int i = 0; i < o.iters; ++i) {  // interleaved: ours, plain, ours, plain, ...
    t_ours[size_t(i)] = timed(ours);
    t_plain[size_t(i)] = timed(plain);
  }
  MPI_Allreduce(MPI_IN_PLACE, t_ours.data(), o.iters, MPI_DOUBLE, MPI_MAX, c);  // slowest rank per call
  MPI_Allreduce(MPI_IN_PLACE, t_plain.data(), o.iters, MPI_DOUBLE, MPI_MAX, c);
  const auto [omin, omax] = std::minmax_element(t_ours.begin(), t_ours.end());
  const auto [pmin, pmax] = std::minmax_element(t_plain.begin(), t_plain.end());
  return Row{op, count * 4, median(t_ours), median(t_plain), *omin, *omax, *pmin, *pmax};
}

void print_table(const std::vector<Row>& rows, int n) {
  std::printf("%-15s %5s | %10s %9s %7s %7s | %10s %9s %7s %7s | %6s\n", "", "", "ours_us", "(min)", "algbw", "busbw",
              "plain_us", "(min)", "algbw", "busbw", "plain/");
  std::printf("%-15s %5s | %10s %9s %7s %7s | %10s %9s %7s %7s | %6s\n", "op", "size", "median", "", "GB/s", "GB/s",
              "median", "", "GB/s", "GB/s", "ours");
  for (const Row& r : rows) {
    const double f = bus_factor(r.op, n), gb = double(r.bytes) / 1e9;
    std::printf("%-15s %5s | %10.1f %9.1f %7.3f %7.3f | %10.1f %9.1f %7.3f %7.3f | %6.2f\n", op_name(r.op),
                size_label(r.bytes).c_str(), r.ours_s * 1e6, r.ours_min_s * 1e6, gb / r.ours_s, gb / r.ours_s * f,
                r.plain_s * 1e6, r.plain_min_s * 1e6, gb / r.plain_s, gb / r.plain_s * f, r.plain_s / r.ours_s);
  }
}

void print_json(const std::vector<Row>& rows, int n, const BenchCommOptions& o) {
  const RankInfo& info = rank_info();
  std::printf("{\"ranks\": %d, \"nodes\": %d, \"iters\": %d, \"dtype\": \"f32\", \"results\": [", n, info.node_count, o.iters);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const double f = bus_factor(r.op, n), gb = double(r.bytes) / 1e9;
    std::printf("%s{\"op\": \"%s\", \"bytes\": %lld, \"ours_s\": %.9g, \"ours_min_s\": %.9g, \"ours_max_s\": %.9g, "
                "\"ours_algbw_gbps\": %.6g, \"ours_busbw_gbps\": %.6g, \"plain_s\": %.9g, \"plain_min_s\": %.9g, "
                "\"plain_max_s\": %.9g, \"plain_algbw_gbps\": %.6g, \"plain_busbw_gbps\": %.6g}",
                i ? ", " : "", op_name(r.op), (long long)r.bytes, r.ours_s, r.ours_min_s, r.ours_max_s, gb / r.ours_s,
                gb / r.ours_s * f, r.plain_s, r.plain_min_s, r.plain_max_s, gb / r.plain_s, gb / r.plain_s * f);
  }
  std::printf("]}\n");
}

}  // namespace

int64_t parse_bytes(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  std::string unit(end ? end : "");
  for (char& ch : unit) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mult = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mult = 1024.0 * 1024 * 1024;
  if (end == s.c_str() || mult == 0 || !(v > 0) || v * mult > 2.0 * (int64_t(1) << 30))
    fail_input("--sizes: '", s, "' is not a message size. Hint: use bytes or K/M/G suffixes up to 2G, e.g. --sizes 4K 1M 64M.");
  return int64_t(std::llround(v * mult));
}

int run_bench_comm(const BenchCommOptions& o) {
  if (o.iters < 1 || o.warmup < 0) fail_input("bench comm: --iters must be >= 1 and --warmup >= 0. Hint: e.g. --iters 20.");
  std::vector<int64_t> sizes;
  for (const std::string& s : o.sizes) sizes.push_back(parse_bytes(s));
  if (sizes.empty())
    for (int64_t b = 4 << 10; b <= (int64_t(64) << 20); b *= 4) sizes.push_back(b);
  auto* w = dynamic_cast<MpiCommunicator*>(&world());
  if (!w) fail_internal("bench comm needs the MPI runtime. Hint: start the runtime with force_mpi.");
  const RankInfo& info = rank_info();
  const int n = w->size();
  check_ops(*w);
  if (w->rank() == 0 && !o.json) {
    const char* btl = std::getenv("OMPI_MCA_btl");
    std::printf("bench comm: %d rank(s) on %d node(s) | world communicator (MPI backend, f32, watchdog %gs) vs plain MPI | "
                "btl %s\n",
                n, info.node_count, watchdog_timeout(), btl ? btl : "(OpenMPI default)");
    std::printf("  times: median of %d interleaved iterations (ours, plain, ...), slowest rank per call, barrier before "
                "each | busbw as nccl-tests | check: ok\n",
                o.iters);
  }
  std::vector<Row> rows;
  for (Op op : {Op::AllReduce, Op::ReduceScatter, Op::AllGather})
    for (int64_t b : sizes) rows.push_back(measure(op, b, *w, o));
  if (w->rank() == 0) {
    if (o.json)
      print_json(rows, n, o);
    else
      print_table(rows, n);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace mor::dist
