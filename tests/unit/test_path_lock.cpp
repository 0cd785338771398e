// PathLock: a second holder is refused with the first holder's pid and host; a lock left by a
// killed process is taken over and reported as stale; remove_on_release deletes the lock file.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "src/core/error.h"
#include "src/core/path_lock.h"

namespace fs = std::filesystem;
using mor::PathLock;

namespace {
std::string temp_dir() {
  char t[] = "/tmp/mor-lock-XXXXXX";
  return ::mkdtemp(t);
}
// Forks a child that takes the lock, signals readiness through a pipe, then sleeps until killed.
pid_t hold_in_child(const std::string& file) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    try {
      PathLock l = PathLock::acquire(file, "test directory");
      char c = 'y';
      (void)!::write(p[1], &c, 1);
      for (;;) ::pause();
    } catch (...) {
      ::_exit(3);
    }
  }
  ::close(p[1]);
  char c = 0;
  EXPECT_EQ(::read(p[0], &c, 1), 1);
  ::close(p[0]);
  return pid;
}
}  // namespace

TEST(PathLock, SecondHolderIsRefusedWithTheHoldersPid) {
  const std::string dir = temp_dir(), file = dir + "/.lock";
  const pid_t child = hold_in_child(file);
  try {
    PathLock::acquire(file, "run directory X");
    FAIL() << "a second lock was granted";
  } catch (const mor::Error& e) {
    EXPECT_EQ(e.kind(), mor::ErrorKind::BadInput);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("run directory X is in use"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pid " + std::to_string(child)), std::string::npos) << msg;
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // The dead holder's lock is stale: taken over, and the dead holder is reported.
  PathLock l = PathLock::acquire(file, "run directory X");
  EXPECT_TRUE(l.held());
  EXPECT_NE(l.stale_holder().find("pid " + std::to_string(child)), std::string::npos) << l.stale_holder();
  l.release();
  PathLock again = PathLock::acquire(file, "run directory X");  // a clean release leaves no stale note
  EXPECT_EQ(again.stale_holder(), "");
  fs::remove_all(dir);
}

TEST(PathLock, RemoveOnReleaseDeletesTheFile) {
  const std::string dir = temp_dir(), file = dir + "/out.lock";
  {
    PathLock l = PathLock::acquire(file, "export directory", true);
    EXPECT_TRUE(fs::exists(file));
  }
  EXPECT_FALSE(fs::exists(file));
  fs::remove_all(dir);
}

TEST(PathLock, UnwritableLocationIsBadInput) {
  try {
    PathLock::acquire("/proc/no-such-dir/.lock", "run directory Y");
    FAIL() << "lock in an impossible place was granted";
  } catch (const mor::Error& e) {
    EXPECT_EQ(e.kind(), mor::ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("cannot create the lock file"), std::string::npos) << e.what();
  }
}
