// Errors with a kind (bad user input vs internal failure) and a hint on how to fix them.
// The CLI maps BadInput to exit code 2 and everything else to exit code 1.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace mor {

enum class ErrorKind { BadInput, Internal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// An allocation the device (or the host) could not satisfy, even after the caching allocator gave
// back its cached blocks: an internal error (exit code 1) that callers probing sizes can catch.
class OutOfMemoryError : public Error {
 public:
  explicit OutOfMemoryError(const std::string& msg) : Error(ErrorKind::Internal, msg) {}
};

// Bad input from the user (config, corpus, checkpoint, flag): exit code 2.
template <typename... Args>
[[noreturn]] void fail_input(const Args&... args) {
  throw Error(ErrorKind::BadInput, detail::concat(args...));
}
// Anything else: exit code 1.
template <typename... Args>
[[noreturn]] void fail_internal(const Args&... args) {
  throw Error(ErrorKind::Internal, detail::concat(args...));
}

}  // namespace mor

// Internal invariant check; message parts are streamed.
#define MOR_CHECK(cond, ...)                                                            \
  do {                                                                                  \
    if (!(cond))                                                                        \
      ::mor::fail_internal(__FILE__, ":", __LINE__, ": check failed: " #cond ": ", ##__VA_ARGS__); \
  } while (0)
