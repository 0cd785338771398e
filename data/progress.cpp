// Progress bar; see progress.h.
#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include "src/train/format.h"

namespace mor::data {

Progress::Progress(std::string label, uint64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled), tty_(isatty(2) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::update(uint64_t done) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double frac = total_ ? double(done) / double(total_) : 1.0;
  const double rate = elapsed > 0 ? double(done) / elapsed : 0;
  const double eta = rate > 0 ? double(total_ - std::min(done, total_)) / rate : 0;
  if (tty_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.1 && done < total_) return;
    last_draw_ = now;
    const int width = 30, fill = int(frac * width);
    std::fprintf(stderr, "\r%s [%.*s%*s] %5.1f%% %s%s/s ETA %s ", label_.c_str(), fill,
                 "##############################", width - fill, "", 100 * frac, format_si(rate).c_str(), unit_.c_str(),
                 format_duration(eta).c_str());
  } else {
    const int decile = int(frac * 10);
    if (decile == last_decile_) return;
    last_decile_ = decile;
    std::fprintf(stderr, "%s %5.1f%% %s%s/s ETA %s\n", label_.c_str(), 100 * frac, format_si(rate).c_str(), unit_.c_str(),
                 format_duration(eta).c_str());
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_) return;
  update(total_);
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace mor::data
