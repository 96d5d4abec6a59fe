// test_cli.cpp — the command-line contract, run in-process.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/cli_util.h"
#include "train/cli.h"

using namespace mc;

namespace {
using Run = CliRun;
Run run(const std::vector<std::string>& args) { return cli(args); }
int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
}  // namespace

TEST_CASE("usage errors: one line, a hint to --help, exit 2") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"frobnicate"}, {"gradcheck", "--threads", "abc"}, {"gradcheck", "--threads", "0"},
           {"gradcheck", "--threads", "-3"}, {"gradcheck", "--threads"}, {"gradcheck", "--bogus"},
           {"gradcheck", "stray"}, {"gradcheck", "--op", "nope"}, {"--frob"}}) {
    const Run r = run(args);
    INFO(args[0] << " ... -> " << r.err);
    CHECK(r.code == 2);
    CHECK(r.err.rfind("minicope: error: ", 0) == 0);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find("--help") != std::string::npos);
  }
  CHECK(run({"frobnicate"}).err == "minicope: error: unknown command 'frobnicate' (see 'minicope --help')\n");
}

TEST_CASE("help") {
  CHECK(run({"--help"}).code == 0);
  CHECK(run({"--help"}).out.find("gradcheck") != std::string::npos);
  CHECK(run({"gradcheck", "--help"}).out.find("--op") != std::string::npos);
  CHECK(run({}).code == 2);
}

TEST_CASE("gradcheck --json prints one object per case") {
  const Run r = run({"gradcheck", "--op", "matmul", "--json", "--threads", "1"});
  CHECK(r.code == 0);
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    CHECK(j["op"] == "matmul");
    CHECK(j["pass"] == true);
    CHECK(j["max_rel_err"].get<double>() < 1e-6);
    ++n;
  }
  CHECK(n == 19);  // 4 flag combinations x 4 layouts + 3 corner cases
}

TEST_CASE("gradcheck --list and the table") {
  const Run list = run({"gradcheck", "--list"});
  CHECK(list.code == 0);
  CHECK(list.out.find("layer_norm\tlayer_norm[4x6]") != std::string::npos);
  const Run table = run({"gradcheck", "--op", "layer_norm"});
  CHECK(table.code == 0);
  CHECK(table.out.find("2 passed, 0 failed") != std::string::npos);
}
