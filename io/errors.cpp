// errors.cpp — the one map from a failure to the program's exit status.
#include "io/errors.h"

namespace mc {

int exit_status(const std::exception& e) {
  const auto* known = dynamic_cast<const Error*>(&e);
  return known ? known->exit_status() : 1;
}

int exit_status(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return exit_status(x);
  } catch (...) {
    return 1;
  }
}

}  // namespace mc
