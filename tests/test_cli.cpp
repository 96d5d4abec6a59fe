// test_cli.cpp — the command-line contract, run in-process.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/cli_util.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "cli/cli.h"

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
  CHECK(run({}).err == "minicope: error: no command given (train, eval, sample, bench, gradcheck, plot, report) "
                       "(see 'minicope --help')\n");
  // help COMMAND is COMMAND --help
  CHECK(run({"help", "train"}).out == run({"train", "--help"}).out);
  CHECK(run({"help", "train"}).out.find("--tokenizer") != std::string::npos);
  CHECK(run({"help", "nope"}).code == 2);
}

namespace {
// An output stream whose writes all fail, as standard output on a full disk.
struct FullDisk : std::streambuf {
  int overflow(int) override { return traits_type::eof(); }
  std::streamsize xsputn(const char*, std::streamsize) override { return 0; }
};
}  // namespace

TEST_CASE("output that cannot be written is an error, not a silent success") {
  FullDisk full;
  std::ostream out(&full);
  std::ostringstream err;
  CHECK(run_cli({"gradcheck", "--list"}, out, err) == 1);
  CHECK(err.str() == "minicope: error: writing the output failed (a full disk or a closed pipe?); it is incomplete\n");
}

TEST_CASE("flags: given twice, or with white space around a number, are refused") {
  for (const auto& [args, want] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"gradcheck", "--op", "relu", "--op", "matmul"}, "--op is given twice"},
           {{"gradcheck", "--list", "--list"}, "--list is given twice"},
           {{"gradcheck", "--threads", " 2"}, "--threads expects an integer, got ' 2'"},
           {{"gradcheck", "--threads", "2 "}, "--threads expects an integer, got '2 '"},
           {{"gradcheck", "--op", ""}, "--op must not be empty"}}) {
    const Run r = run(args);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find(want) != std::string::npos);
  }
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
  // every input is reported: its name, shape, error, and no faults
  const auto j = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
  REQUIRE(j["inputs"].size() == 2);
  CHECK(j["inputs"][0]["name"] == "input 0");
  CHECK(j["inputs"][0]["faults"].empty());
  CHECK(j["inputs"][0]["worst"].empty());
  CHECK(j["inputs"][1]["rel_err"].get<double>() < 1e-6);
}

TEST_CASE("gradcheck on a wrong backward: the report in the table, the same fields in --json") {
  // A deliberately wrong op, registered in this test program only: its backward
  // overwrites the gradient (= where += belongs) and doubles one element.
  add_op_check({"test_wrong_square", "test_wrong_square[3x2]", [] {
                  Generator g(4);
                  auto f = [](const std::vector<Var>& v) {
                    const Var x = v[0];
                    return record("test_wrong_square", mul(x.value(), x.value()), {x}, [x](const Tensor& gy) {
                      Tensor& buf = x.grad_buffer();
                      buf = mul(mul_scalar(x.value(), 2), gy);
                      buf.data<double>()[1] *= 2;
                    });
                  };
                  return gradcheck(f, {Tensor::uniform({3, 2}, -1, 1, g, DType::f64)});
                }});
  const Run table = run({"gradcheck", "--op", "test_wrong_square"});
  CHECK(table.code == 1);
  CHECK(table.out.find("input 0 [3,2]: wrong value") != std::string::npos);
  CHECK(table.out.find("[0,1]") != std::string::npos);
  CHECK(table.out.find("= where += belongs") != std::string::npos);  // both faults are named
  const Run js = run({"gradcheck", "--op", "test_wrong_square", "--json"});
  CHECK(js.code == 1);
  const auto j = nlohmann::json::parse(js.out.substr(0, js.out.find('\n')));
  CHECK(j["pass"] == false);
  const auto& in = j["inputs"][0];
  CHECK(in["faults"] == nlohmann::json({"wrong value", "overwritten"}));
  CHECK(in["worst"][0]["index"] == nlohmann::json({0, 1}));
  CHECK(in["worst"][0]["analytic"].get<double>() == doctest::Approx(2 * in["worst"][0]["numeric"].get<double>()));
  CHECK(in["accumulate"]["got"].get<double>() != doctest::Approx(in["accumulate"]["expected"].get<double>()));
}

TEST_CASE("gradcheck --list and the table") {
  const Run list = run({"gradcheck", "--list"});
  CHECK(list.code == 0);
  CHECK(list.out.find("layer_norm\tlayer_norm[4x6]") != std::string::npos);
  const Run table = run({"gradcheck", "--op", "layer_norm"});
  CHECK(table.code == 0);
  CHECK(table.out.find("2 passed, 0 failed") != std::string::npos);
}
