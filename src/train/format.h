// Small formatting helpers for progress lines: durations (1:02:03) and SI numbers (12.3k).
#pragma once
#include <cmath>
#include <cstdio>
#include <string>

namespace mor {

inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

inline std::string format_si(double v, int precision = 1) {
  const char* units[] = {"", "k", "M", "G", "T", "P", "E"};
  int u = 0;
  while (std::fabs(v) >= 1000 && u < 6) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  if (u == 0 && v == std::floor(v)) precision = 0;  // a small count: "768", not "768.00"
  std::snprintf(buf, sizeof buf, "%.*f%s", precision, v, units[u]);
  return buf;
}

}  // namespace mor
