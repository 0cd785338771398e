// HDF5 checkpoint I/O with the C API (one thread at a time; see checkpoint.h).
#include "checkpoint.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>

#include "src/core/error.h"

namespace mor::ckpt {
namespace {

std::mutex& hdf5_mutex() {  // the C++ side of HDF5 is not thread-safe; keep all calls serial
  static std::mutex m;
  return m;
}

// HDF5 keeps its error-printing setting per thread (thread-safe build): silence it on every call,
// so that a background save never prints the library's error stack; our errors say what failed.
void quiet_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// HDF5 1.10 crashes at exit when it tries again to close a file whose flush failed (disk full).
// Every file we write is flushed, fsync'ed and closed explicitly, so its exit-time clean-up is not
// needed: turn it off before the library initialises.
const bool kNoHdf5Atexit = [] {
  H5dont_atexit();
  return true;
}();

// Refuses to start a write that cannot fit: the common disk-full case fails before HDF5 touches the
// disk (HDF5 handles a write error mid-file poorly), with the sizes in the message.
void check_free_space(const std::string& tmp, const Checkpoint& c) {
  uint64_t need = uint64_t(c.config_yaml.size()) + (64u << 10);  // + file metadata
  for (const NamedTensor& t : c.tensors)
    need += uint64_t(t.value.numel()) * 4 * (t.m.defined() ? 3 : 1) + 2048;  // + its headers and checksum
  const std::filesystem::path dir = std::filesystem::path(tmp).has_parent_path() ? std::filesystem::path(tmp).parent_path()
                                                                                  : std::filesystem::path(".");
  struct statvfs fs{};
  if (::statvfs(dir.c_str(), &fs) != 0) return;  // unknown: let the write find out
  const uint64_t avail = uint64_t(fs.f_bavail) * uint64_t(fs.f_frsize);
  if (avail < need)
    fail_internal(std::strerror(ENOSPC), " (the checkpoint needs about ", need / 1000000.0, " MB, ",
                  avail / 1000000.0, " MB are free)");
}

template <typename... Args>
[[noreturn]] void fail_corrupt(const Args&... args) {
  throw CheckpointCorrupt(detail::concat(args...));
}

// Why H5Fis_hdf5 refused `path`: a file that does not even start with the HDF5 signature was most
// likely never a checkpoint (a config, a dataset file), so the message says what it starts with.
[[noreturn]] void fail_not_hdf5(const std::string& path) {
  static const char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  char head[64] = {};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  const size_t n = f ? std::fread(head, 1, sizeof(head), f) : 0;
  if (f) std::fclose(f);
  if (n >= 8 && std::memcmp(head, kSignature, 8) == 0)
    fail_corrupt(path, ": not a readable HDF5 file (truncated or corrupt). Hint: use an earlier checkpoint in the run directory.");
  std::string shown;
  for (size_t i = 0; i < n && shown.size() < 24 && head[i] != '\n'; ++i)  // its first line, at most 24 characters
    shown += std::isprint(static_cast<unsigned char>(head[i])) ? head[i] : '.';
  fail_corrupt(path, ": not a readable HDF5 file: it does not start with the HDF5 signature (", n == 0 ? "it is empty" :
               "it starts with \"" + shown + "\"", "). Hint: pass a checkpoint (RUN_DIR/ckpt-*.h5), a run directory or an "
               "export directory; if this was a checkpoint, it is corrupt: use an earlier one in the run directory.");
}

// RAII for hid_t handles.
struct Handle {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~Handle() {
    if (id >= 0 && close) close(id);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  operator hid_t() const { return id; }
};

// A failed HDF5 write: errno still holds the system's reason (ENOSPC, EIO, EACCES ...).
void check(herr_t status, const std::string& what) {
  if (status < 0) {
    const int err = errno;
    fail_internal("HDF5: ", what, " failed (", err ? std::strerror(err) : "unknown cause", ")");
  }
}

// Checksum of a tensor's bytes, stored as the attribute "checksum" of its dataset and verified on
// load (HDF5 checks its own metadata, not the data). FNV-1a over 8-byte words in 4 interleaved lanes
// (independent multiply chains, ~4x the speed of one), folded at the end; n is a multiple of 4 here.
uint64_t tensor_checksum(const void* data, size_t n) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t h[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull, 0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full};
  auto word = [&](size_t i) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, std::min<size_t>(8, n - i));
    return w;
  };
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int l = 0; l < 4; ++l) h[l] = (h[l] ^ word(i + 8 * size_t(l))) * 0x100000001b3ull;
  for (int l = 0; i < n; i += 8, ++l) h[l] = (h[l] ^ word(i)) * 0x100000001b3ull;
  uint64_t out = 0xcbf29ce484222325ull ^ uint64_t(n);
  for (uint64_t v : h) out = (out ^ v) * 0x100000001b3ull;
  return out;
}

void write_tensor(hid_t group, const std::string& name, const Tensor& t) {
  MOR_CHECK(t.dtype() == DType::F32 && t.device().is_cpu(), "checkpoint tensors are CPU f32");
  std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
  if (dims.empty()) dims.push_back(1);
  Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle ds(H5Dcreate2(group, name.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  check(ds < 0 ? -1 : 0, "create dataset " + name);
  check(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()), "write " + name);
  const uint64_t sum = tensor_checksum(t.raw(), size_t(t.numel()) * sizeof(float));
  hsize_t one = 1;
  Handle aspace(H5Screate_simple(1, &one, nullptr), H5Sclose);
  Handle a(H5Acreate2(ds, "checksum", H5T_STD_U64LE, aspace, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(H5Awrite(a, H5T_NATIVE_UINT64, &sum), "checksum of " + name);
}

template <typename T>
void write_attr(hid_t obj, const std::string& name, hid_t mem_type, hid_t file_type, const T* v, hsize_t n = 1) {
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(H5Awrite(a, mem_type, v), "attribute " + name);
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& s) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, s.size() + 1);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(H5Awrite(a, type, s.c_str()), "attribute " + name);
}

std::string read_string_attr(hid_t obj, const std::string& name) {
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (a < 0) return "";
  Handle type(H5Aget_type(a), H5Tclose);
  std::string s(H5Tget_size(type), '\0');
  Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem, s.size());
  if (H5Aread(a, mem, s.data()) < 0) return "";
  s.resize(std::strlen(s.c_str()));
  return s;
}

bool read_num_attr(hid_t obj, const std::string& name, hid_t mem_type, void* out) {
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  return a >= 0 && H5Aread(a, mem_type, out) >= 0;
}

// Names of the links in a group.
std::vector<std::string> list_group(hid_t group) {
  std::vector<std::string> names;
  H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
              [](hid_t, const char* name, const H5L_info_t*, void* op) -> herr_t {
                static_cast<std::vector<std::string>*>(op)->push_back(name);
                return 0;
              },
              &names);
  return names;
}

Tensor read_tensor(hid_t group, const std::string& name, const std::string& path) {
  Handle ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds < 0) fail_corrupt(path, ": dataset '", name, "' is missing or unreadable. Hint: the checkpoint is corrupt; use an earlier one.");
  Handle space(H5Dget_space(ds), H5Sclose);
  const int nd = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(size_t(std::max(nd, 0)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  Shape shape(dims.begin(), dims.end());
  Tensor t = Tensor::empty(shape, DType::F32);
  if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()) < 0)
    fail_corrupt(path, ": cannot read dataset '", name, "' (truncated or corrupt file). Hint: use an earlier checkpoint.");
  uint64_t want = 0;
  if (H5Aexists(ds, "checksum") > 0) {  // files written before checksums existed have none
    Handle a(H5Aopen(ds, "checksum", H5P_DEFAULT), H5Aclose);
    if (a < 0 || H5Aread(a, H5T_NATIVE_UINT64, &want) < 0)
      fail_corrupt(path, ": cannot read the checksum of dataset '", name, "' (corrupt file). Hint: use an earlier checkpoint.");
    if (tensor_checksum(t.raw(), size_t(t.numel()) * sizeof(float)) != want)
      fail_corrupt(path, ": dataset '", name, "' fails its checksum (the file is corrupt). Hint: use an earlier checkpoint (",
                 "ckpt-*.h5 in the run directory).");
  }
  return t;
}

}  // namespace

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

namespace {

void write_file(const std::string& tmp, const Checkpoint& c) {
  (void)kNoHdf5Atexit;
  check_free_space(tmp, c);
  {
    Handle f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (f < 0) {
      const int err = errno;
      fail_input(tmp, ": cannot create the checkpoint file (", err ? std::strerror(err) : "unknown cause",
                 "). Hint: check the run directory is writable and has free space.");
    }
    Handle params(H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    Handle optim(H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    for (const NamedTensor& t : c.tensors) {
      write_tensor(params, t.name, t.value);
      if (t.m.defined()) {
        Handle g(H5Gcreate2(optim, t.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
        write_tensor(g, "m", t.m);
        write_tensor(g, "v", t.v);
      }
      if (const char* abort_at = std::getenv("MOR_TEST_ABORT_SAVE_AFTER"); abort_at && t.name == abort_at) {
        H5Fflush(f, H5F_SCOPE_GLOBAL);
        std::raise(SIGKILL);  // crash-safety test hook: the process is killed in the middle of a save
      }
    }
    Handle state(H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    const TrainingState& s = c.state;
    write_attr(state.id, "step", H5T_NATIVE_INT64, H5T_STD_I64LE, &s.step);
    write_attr(state.id, "tokens", H5T_NATIVE_INT64, H5T_STD_I64LE, &s.tokens);
    write_attr(state.id, "flops", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &s.flops);
    write_attr(state.id, "loader_epoch", H5T_NATIVE_UINT64, H5T_STD_U64LE, &s.loader_epoch);
    write_attr(state.id, "loader_consumed", H5T_NATIVE_UINT64, H5T_STD_U64LE, &s.loader_consumed);
    write_attr(state.id, "rng", H5T_NATIVE_UINT64, H5T_STD_U64LE, s.rng.data(), 4);
    for (const auto& [g, n] : s.adam_steps) write_attr(state.id, "adam_steps." + g, H5T_NATIVE_INT64, H5T_STD_I64LE, &n);
    write_attr(state.id, "data_tokenizer_hash", H5T_NATIVE_UINT64, H5T_STD_U64LE, &s.data_tokenizer_hash);
    write_attr(state.id, "data_windows", H5T_NATIVE_UINT64, H5T_STD_U64LE, &s.data_windows);
    write_attr(state.id, "guard_loss_ema", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &s.guard_loss_ema);
    write_attr(state.id, "guard_grad_ema", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &s.guard_grad_ema);
    write_attr(state.id, "guard_steps", H5T_NATIVE_INT64, H5T_STD_I64LE, &s.guard_steps);
    Handle meta(H5Gcreate2(f, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    write_attr(meta.id, "format_version", H5T_NATIVE_INT, H5T_STD_I32LE, &c.meta.format_version);
    write_attr(meta.id, "dp_size", H5T_NATIVE_INT64, H5T_STD_I64LE, &c.meta.dp_size);
    write_attr(meta.id, "tp_size", H5T_NATIVE_INT64, H5T_STD_I64LE, &c.meta.tp_size);
    write_string_attr(meta, "framework_version", c.meta.framework_version);
    write_string_attr(meta, "created", c.meta.created);
    // The config as a scalar string dataset.
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type, c.config_yaml.size() + 1);
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle cfg(H5Dcreate2(f, "config", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    check(H5Dwrite(cfg, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.config_yaml.c_str()), "write config");
    check(H5Fflush(f, H5F_SCOPE_GLOBAL), "flush");
  }
  // fsync the bytes before a rename makes the file visible under its final name.
  int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    fail_internal("cannot fsync ", tmp, " (", std::strerror(err), ")");
  }
  ::close(fd);
}

}  // namespace

void write_checkpoint_file(const std::string& tmp, const Checkpoint& c) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  quiet_hdf5();
  try {
    write_file(tmp, c);
  } catch (const Error& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);  // never leave a half-written file behind
    if (e.kind() == ErrorKind::BadInput) throw;
    fail_internal(tmp, ": ", e.what());
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string tmp = path + ".tmp";
  write_checkpoint_file(tmp, c);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail_input(path, ": cannot rename the finished checkpoint into place (", ec.message(), "). Hint: check the directory.");
  }
}

Checkpoint read_checkpoint(const std::string& path, bool with_optimizer) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  quiet_hdf5();
  if (!std::filesystem::exists(path)) fail_input(path, ": no such checkpoint. Hint: check the path (RUN_DIR/ckpt-*.h5).");
  if (H5Fis_hdf5(path.c_str()) <= 0) fail_not_hdf5(path);
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (f < 0) fail_corrupt(path, ": cannot open (truncated or corrupt). Hint: use an earlier checkpoint in the run directory.");
  Checkpoint c;
  {
    Handle meta(H5Gopen2(f, "meta", H5P_DEFAULT), H5Gclose);
    if (meta < 0 || !read_num_attr(meta, "format_version", H5T_NATIVE_INT, &c.meta.format_version))
      fail_corrupt(path, ": not a MoR-Train checkpoint (no /meta/format_version).");
    if (c.meta.format_version != kCheckpointVersion)
      fail_input(path, ": checkpoint format version ", c.meta.format_version, " is not supported (this build reads ",
                 kCheckpointVersion, "). Hint: use the MoR-Train version that wrote it.");
    read_num_attr(meta, "dp_size", H5T_NATIVE_INT64, &c.meta.dp_size);
    read_num_attr(meta, "tp_size", H5T_NATIVE_INT64, &c.meta.tp_size);
    c.meta.framework_version = read_string_attr(meta, "framework_version");
    c.meta.created = read_string_attr(meta, "created");
  }
  {
    Handle cfg(H5Dopen2(f, "config", H5P_DEFAULT), H5Dclose);
    if (cfg < 0) fail_corrupt(path, ": no /config in the checkpoint (corrupt). Hint: use an earlier checkpoint.");
    Handle type(H5Dget_type(cfg), H5Tclose);
    std::string s(H5Tget_size(type), '\0');
    if (H5Dread(cfg, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data()) < 0) fail_corrupt(path, ": cannot read /config (corrupt).");
    s.resize(std::strlen(s.c_str()));
    c.config_yaml = s;
  }
  {
    Handle state(H5Gopen2(f, "state", H5P_DEFAULT), H5Gclose);
    if (state < 0) fail_corrupt(path, ": no /state in the checkpoint (corrupt).");
    TrainingState& s = c.state;
    bool ok = read_num_attr(state, "step", H5T_NATIVE_INT64, &s.step) &&
              read_num_attr(state, "tokens", H5T_NATIVE_INT64, &s.tokens) &&
              read_num_attr(state, "flops", H5T_NATIVE_DOUBLE, &s.flops) &&
              read_num_attr(state, "loader_epoch", H5T_NATIVE_UINT64, &s.loader_epoch) &&
              read_num_attr(state, "loader_consumed", H5T_NATIVE_UINT64, &s.loader_consumed) &&
              read_num_attr(state, "rng", H5T_NATIVE_UINT64, s.rng.data());
    if (!ok) fail_corrupt(path, ": incomplete /state attributes (corrupt).");
    read_num_attr(state, "data_tokenizer_hash", H5T_NATIVE_UINT64, &s.data_tokenizer_hash);  // optional
    read_num_attr(state, "data_windows", H5T_NATIVE_UINT64, &s.data_windows);
    read_num_attr(state, "guard_loss_ema", H5T_NATIVE_DOUBLE, &s.guard_loss_ema);  // optional
    read_num_attr(state, "guard_grad_ema", H5T_NATIVE_DOUBLE, &s.guard_grad_ema);
    read_num_attr(state, "guard_steps", H5T_NATIVE_INT64, &s.guard_steps);
    H5Aiterate2(state, H5_INDEX_NAME, H5_ITER_INC, nullptr,
                [](hid_t obj, const char* name, const H5A_info_t*, void* op) -> herr_t {
                  std::string n(name);
                  if (n.rfind("adam_steps.", 0) == 0) {
                    int64_t v = 0;
                    read_num_attr(obj, n, H5T_NATIVE_INT64, &v);
                    (*static_cast<std::map<std::string, int64_t>*>(op))[n.substr(11)] = v;
                  }
                  return 0;
                },
                &s.adam_steps);
  }
  Handle params(H5Gopen2(f, "params", H5P_DEFAULT), H5Gclose);
  if (params < 0) fail_corrupt(path, ": no /params in the checkpoint (corrupt).");
  Handle optim(H5Gopen2(f, "optim", H5P_DEFAULT), H5Gclose);
  for (const std::string& name : list_group(params)) {
    NamedTensor t;
    t.name = name;
    t.value = read_tensor(params, name, path);
    if (with_optimizer && optim >= 0 && H5Lexists(optim, name.c_str(), H5P_DEFAULT) > 0) {
      Handle g(H5Gopen2(optim, name.c_str(), H5P_DEFAULT), H5Gclose);
      t.m = read_tensor(g, "m", path);
      t.v = read_tensor(g, "v", path);
    }
    c.tensors.push_back(std::move(t));
  }
  return c;
}

}  // namespace mor::ckpt
