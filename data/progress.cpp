// Progress bar; see progress.h.
#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace mor::data {
namespace {

std::string eta_text(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::string label, uint64_t total_bytes, bool enabled)
    : label_(std::move(label)), total_(total_bytes), enabled_(enabled), tty_(isatty(2) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::update(uint64_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  done = std::min(done, total_);
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double frac = total_ ? double(done) / double(total_) : 1.0;
  const double rate = elapsed > 0 ? double(done) / elapsed : 0;  // bytes/s
  const std::string eta = rate > 0 ? eta_text(double(total_ - done) / rate) : "--:--";
  if (tty_) {
    if (done == drawn_ || (std::chrono::duration<double>(now - last_draw_).count() < 0.1 && done < total_)) return;
    last_draw_ = now;
    drawn_ = done;
    const int width = 30, fill = int(frac * width);
    std::fprintf(stderr, "\r%s [%s%s] %5.1f%% %7.2f MB/s ETA %s ", label_.c_str(), std::string(size_t(fill), '#').c_str(),
                 std::string(size_t(width - fill), ' ').c_str(), 100 * frac, rate / 1e6, eta.c_str());
  } else {
    const int quarter = int(frac * 4);  // 0, 25, 50, 75, 100%
    if (quarter == last_quarter_) return;
    last_quarter_ = quarter;
    std::fprintf(stderr, "%s %5.1f%% %.2f MB/s ETA %s\n", label_.c_str(), 100 * frac, rate / 1e6, eta.c_str());
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_) return;
  update(total_);
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace mor::data
