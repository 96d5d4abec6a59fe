// cli.h — the `minicope` command-line program, as a library function so tests can run it.
#pragma once
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

namespace mc {

// A mistake in how the program was called (unknown command, bad flag value): exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Training stopped by SIGINT or SIGTERM after saving a checkpoint: exit 128 + signal,
// with no error line (the trainer has said what happened).
struct Interrupted : std::runtime_error {
  explicit Interrupted(int sig) : std::runtime_error("interrupted"), signal(sig) {}
  int signal;
};

// A failure that another rank reports (data-parallel runs, train/ranks.h): exit with
// `status` and print nothing, so that one line, from one rank, tells what happened.
struct QuietFailure : std::runtime_error {
  explicit QuietFailure(int s) : std::runtime_error("reported by another rank"), status(s) {}
  int status;
};

// Runs `minicope args...` (args excludes the program name) writing to out/err, and
// returns the exit status: 0 success, 1 failure, 2 usage error. Never throws.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mc
