// progress.cpp — the progress line and the stop signals (progress.h).
#include "train/progress.h"

#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace mc {

std::string duration(double s) {
  char b[32];
  if (s < 60) std::snprintf(b, sizeof b, "%.0fs", s);
  else if (s < 3600) std::snprintf(b, sizeof b, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(b, sizeof b, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return b;
}

Progress::Progress(std::ostream& err, int64_t first, int64_t total, int64_t every)
    : err_(err), first_(first), total_(total), every_(every), tty_(&err == &std::cerr && isatty(2)),
      start_(std::chrono::steady_clock::now()) {}

void Progress::step(int64_t done, double loss, double tokens_per_s) {
  const double elapsed = seconds();
  const double eta = done > first_ ? elapsed / double(done - first_) * double(total_ - done) : 0.0;
  char line[200];
  if (tty_) {
    const int width = 24, fill = int(double(width) * double(done) / double(total_));
    std::snprintf(line, sizeof line, "\r  step %lld/%lld [%-*s] loss %.4f  %.0f tok/s  ETA %s   ", (long long)done,
                  (long long)total_, width, std::string(size_t(fill), '=').c_str(), loss, tokens_per_s, duration(eta).c_str());
    err_ << line << std::flush;
    dirty_ = true;
  } else if (done % every_ == 0 || done == total_) {
    std::snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  %.0f tok/s  elapsed %s  ETA %s\n", (long long)done,
                  (long long)total_, loss, tokens_per_s, duration(elapsed).c_str(), duration(eta).c_str());
    err_ << line << std::flush;
  }
}

void Progress::message(const std::string& text) {
  if (dirty_) err_ << "\n";
  dirty_ = false;
  err_ << text << "\n" << std::flush;
}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

namespace {
volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) { g_signal = sig; }
}  // namespace

StopSignals::StopSignals() {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int StopSignals::caught() { return g_signal; }
volatile std::sig_atomic_t* StopSignals::flag() { return &g_signal; }

}  // namespace mc
