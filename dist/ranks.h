// ranks.h — the ranks of a data-parallel run agree on failures, so that one rank
// reports each one and none is left waiting for the others.
#pragma once
#include <functional>
#include <string>

#include "dist/comm.h"
#include "io/errors.h"

namespace mc {

// A failure that another rank reports (data-parallel runs): exit with `status` and
// print nothing, so that one line, from one rank, tells what happened.
class QuietFailure : public Error {
 public:
  explicit QuietFailure(int s) : Error("reported by another rank"), status(s) {}
  int exit_status() const override { return status; }
  bool said() const override { return true; }
  int status;
};

// Runs fn on every rank, then agrees on the outcome (one small sum). When fn threw on
// some rank, every rank throws: the lowest failing rank its own error, the others a
// QuietFailure with that rank's exit status (io/errors.h). One rank: just runs fn.
void on_every_rank(Comm& comm, const std::function<void()>& fn);

}  // namespace mc
