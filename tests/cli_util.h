// cli_util.h — runs `minicope ARGS...` in-process for the tests, capturing its output.
#pragma once
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "train/cli.h"

struct CliRun { int code; std::string out, err; };

inline CliRun cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int code = mc::run_cli(args, out, err);
  return {code, out.str(), err.str()};
}

// One line, "minicope: error: ...", as the error contract wants.
inline bool one_error_line(const CliRun& r) {
  return r.err.rfind("minicope: error: ", 0) == 0 && std::count(r.err.begin(), r.err.end(), '\n') == 1;
}
