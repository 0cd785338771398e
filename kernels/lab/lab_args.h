// Command-line helpers shared by the kernel lab tools: "--name value" options and --help.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mor::lab {

// The value after `name` as a number, or `def` when absent.
inline long arg(int argc, char** argv, const char* name, long def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atol(argv[i + 1]);
  return def;
}

// The value after `name` as text, or `def` when absent.
inline const char* sarg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

// True (after printing `usage`) when --help or -h is among the arguments.
inline bool help(int argc, char** argv, const char* usage) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("usage: %s\n", usage);
      return true;
    }
  return false;
}

}  // namespace mor::lab
