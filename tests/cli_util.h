// cli_util.h — runs `minicope ARGS...` in-process for the tests, capturing its output.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"

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

// An empty folder under the system's temporary folder, for one test's files.
inline std::filesystem::path empty_test_dir(const std::string& name) {
  const std::filesystem::path d = std::filesystem::temp_directory_path() / ("minicope_test_" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// Each command fails (non-zero exit) with one error line that holds its expected words.
inline void expect_one_line_errors(const std::vector<std::pair<std::vector<std::string>, std::string>>& cases) {
  for (const auto& [args, want] : cases) {
    const CliRun r = cli(args);
    CHECK(r.code != 0);
    CHECK_MESSAGE(one_error_line(r), r.err);
    CHECK_MESSAGE(r.err.find(want) != std::string::npos, r.err);
  }
}
