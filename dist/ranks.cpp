// ranks.cpp — agreement on failures across ranks.
#include "dist/ranks.h"

#include <stdexcept>
#include <vector>


namespace mc {

void on_every_rank(Comm& comm, const std::function<void()>& fn) {
  std::exception_ptr failure;
  try {
    fn();
  } catch (...) {
    failure = std::current_exception();
  }
  if (!comm.distributed()) {
    if (failure) std::rethrow_exception(failure);
    return;
  }
  // status[r]: rank r's exit status, 0 when it succeeded. A sum of vectors that are
  // zero except at their own rank gathers them on every rank.
  std::vector<double> status(size_t(comm.size()), 0.0);
  if (failure) status[size_t(comm.rank())] = exit_status(failure);
  comm.sum(status.data(), int64_t(status.size()), "agreeing on the setup");
  for (size_t r = 0; r < status.size(); ++r) {
    if (status[r] == 0) continue;
    comm.mark_failure_agreed(int(r));
    if (int(r) == comm.rank()) std::rethrow_exception(failure);
    throw QuietFailure(int(status[r]));
  }
}

}  // namespace mc
