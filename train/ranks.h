// ranks.h — the ranks of a data-parallel run agree on failures, so that one rank
// reports each one and none is left waiting for the others.
#pragma once
#include <exception>
#include <functional>
#include <string>

#include "dist/comm.h"

namespace mc {

// The exit status run_cli gives this error: 2 for a usage error, 1 otherwise.
int exit_status_of(const std::exception_ptr& e);

// Runs fn on every rank, then agrees on the outcome (one small sum). When fn threw on
// some rank, every rank throws: the lowest failing rank its own error, the others a
// QuietFailure with that rank's exit status. One rank: just runs fn.
void on_every_rank(Comm& comm, const std::function<void()>& fn);

}  // namespace mc
