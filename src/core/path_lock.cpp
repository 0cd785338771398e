// Advisory output locks; see path_lock.h.
#include "path_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "error.h"

namespace mor {
namespace {

std::string read_all(int fd) {
  std::string s;
  char buf[256];
  if (::lseek(fd, 0, SEEK_SET) < 0) return s;
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && s.size() < 4096;) s.append(buf, size_t(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string lock_holder_id() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "?");
  return "pid " + std::to_string(::getpid()) + " on host " + host;
}

PathLock PathLock::acquire(const std::string& lock_file, const std::string& what, bool remove_on_release) {
  // Retry when the file we locked was unlinked (and maybe re-created) by a releasing holder between
  // our open and our flock: only a lock on the inode currently at `lock_file` counts.
  for (int attempt = 0; attempt < 16; ++attempt) {
    int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      fail_input(lock_file, ": cannot create the lock file for the ", what, " (", std::strerror(errno),
                 "). Hint: check that the directory is writable.");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder = read_all(fd);
      ::close(fd);
      if (err == EWOULDBLOCK)
        fail_input(what, " is in use by another process (", holder.empty() ? "holder unknown" : holder, "; lock ",
                   lock_file, "). Hint: wait for it to finish or stop it; use another directory for a second run.");
      fail_input(lock_file, ": cannot lock the ", what, " (", std::strerror(err),
                 "). Hint: use a local file system that supports flock.");
    }
    struct stat by_fd{}, by_path{};
    if (::fstat(fd, &by_fd) != 0 || ::stat(lock_file.c_str(), &by_path) != 0 || by_fd.st_ino != by_path.st_ino ||
        by_fd.st_dev != by_path.st_dev) {
      ::close(fd);
      continue;
    }
    PathLock l;
    l.fd_ = fd;
    l.remove_ = remove_on_release;
    l.path_ = lock_file;
    l.stale_ = read_all(fd);  // text left by a holder that died without releasing
    char when[32];
    std::time_t t = std::time(nullptr);
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    const std::string me = lock_holder_id() + ", since " + when + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != ssize_t(me.size()))
      fail_input(lock_file, ": cannot write the lock file for the ", what, " (", std::strerror(errno),
                 "). Hint: check free disk space and permissions.");
    return l;
  }
  fail_internal(lock_file, ": the lock file kept being replaced while locking the ", what, ".");
}

void PathLock::release() {
  if (fd_ < 0) return;
  if (remove_) ::unlink(path_.c_str());  // before unlocking: a waiter re-checks the inode
  else if (::ftruncate(fd_, 0) != 0) {   // an empty lock file: nobody holds it
  }
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
  fd_ = -1;
}

PathLock::~PathLock() { release(); }

PathLock::PathLock(PathLock&& o) noexcept : fd_(o.fd_), remove_(o.remove_), path_(std::move(o.path_)), stale_(std::move(o.stale_)) {
  o.fd_ = -1;
}

PathLock& PathLock::operator=(PathLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = o.fd_;
    remove_ = o.remove_;
    path_ = std::move(o.path_);
    stale_ = std::move(o.stale_);
    o.fd_ = -1;
  }
  return *this;
}

}  // namespace mor
