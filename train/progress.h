// progress.h — what a run prints while it trains, and the signals that stop it.
#pragma once
#include <chrono>
#include <csignal>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace mc {

// "42s", "3m05s", "1h07m"
std::string duration(double seconds);

// The progress of a run on standard error: a bar redrawn in place on a terminal, else
// a line every `every` steps (and at the last).
class Progress {
 public:
  Progress(std::ostream& err, int64_t first, int64_t total, int64_t every);
  void step(int64_t done, double loss, double tokens_per_s);
  void message(const std::string& text);  // a line of its own (ends a bar first)
  double seconds() const;                 // since the run started

 private:
  std::ostream& err_;
  int64_t first_, total_, every_;
  bool tty_, dirty_ = false;
  std::chrono::steady_clock::time_point start_;
};

// While one is alive, SIGINT and SIGTERM set a flag (caught()) instead of ending
// the program; the loop saves a checkpoint after the step it is in and stops. The
// handlers reset themselves, so a second signal ends the program at once (the
// checkpoint on disk is whole either way: saves are atomic).
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static int caught();                          // the signal caught, or 0
  static volatile std::sig_atomic_t* flag();    // for Comm::watch_stop_flag

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

}  // namespace mc
