// cli.h — the `minicope` command-line program, as a library function so tests can run it.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "io/errors.h"

namespace mc {

// A mistake in how the program was called (an unknown command, a flag that is not
// one, a flag value of the wrong form): exit 2, with a pointer to --help.
class UsageError : public Error {
 public:
  using Error::Error;
  int exit_status() const override { return 2; }
  bool points_to_help() const override { return true; }
};

// Runs `minicope args...` (args excludes the program name) writing to out/err, and
// returns the exit status: 0 success, else exit_status of the failure (io/errors.h),
// which it prints as one line. Never throws.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mc
