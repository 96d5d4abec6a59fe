// test_report.cpp — `minicope report`: runs that differ only in their seed share a row
// (mean ± sd), tables per task laid out as the paper's, and bad folders refused.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "tests/cli_util.h"

namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) { return empty_test_dir("report_" + name); }
void write(const fs::path& p, const std::string& text) { write_text(p, text); }

// A finished run as scripts/reproduce.sh leaves it.
void fake_run(const fs::path& dir, const std::string& config, const std::string& results) {
  fs::create_directories(dir);
  write(dir / "config.json", config);
  write(dir / "result.jsonl", results);
}

std::string ff_line(const std::string& split, double err, double tok) {
  return "{\"error_rate\":" + std::to_string(err) + ",\"loss\":0.1,\"split\":\"" + split +
         "\",\"step\":10,\"task\":\"flipflop\",\"token_error_rate\":" + std::to_string(tok) + "}\n";
}

}  // namespace

TEST_CASE("report: seeds averaged, paper-shaped tables, text at several contexts") {
  const fs::path d = fresh_dir("tables");
  for (int s = 1; s <= 3; ++s) {  // cope on flip-flop: sparse error 10%, 20%, 30% -> 20.0 ± 10.0
    fake_run(d / ("ff-cope-s" + std::to_string(s)),
             "{\"task\":\"flipflop\",\"pe\":\"cope\",\"length\":256,\"seed\":" + std::to_string(s) + "}",
             ff_line("test", 0.0, 0.0) + ff_line("sparse", 0.1 * s, 0.01 * s) + ff_line("dense", 0.5, 0.05));
  }
  fake_run(d / "ff-abs-s1", "{\"task\":\"flipflop\",\"pe\":\"abs\",\"length\":256,\"seed\":1}",
           ff_line("test", 0.068, 0.01) + ff_line("sparse", 0.217, 0.02) + ff_line("dense", 0.9, 0.1));
  for (const std::string pe : {"abs", "cope"})
    for (int v : {1, 5})
      fake_run(d / ("ct-" + pe + std::to_string(v)),
               "{\"task\":\"counting\",\"pe\":\"" + pe + "\",\"vars\":" + std::to_string(v) + ",\"max-steps\":16,\"data\":\"\"}",
               "{\"error_rate\":" + std::to_string(pe == "abs" ? 0.5 : 0.01 * v) + ",\"shortcut_error_rate\":" +
                   std::to_string(0.1 + 0.05 * v) + ",\"binding_examples\":9,\"binding_error_rate\":" +
                   std::to_string(pe == "abs" ? 1.0 : 0.02 * v) +
                   ",\"loss\":0.2,\"split\":\"test\",\"step\":5,\"task\":\"counting\",\"token_error_rate\":0}\n");
  fake_run(d / "text-cope", "{\"task\":\"text\",\"pe\":\"cope\",\"data\":\"/x/tiny.txt\",\"seq\":64}",
           "{\"loss\":1.0,\"split\":\"valid\",\"step\":5,\"task\":\"text\"}\n");
  write(d / "text-cope" / "eval-2x.jsonl", "{\"loss\":2.0,\"split\":\"valid\",\"step\":5,\"task\":\"text\"}\n");
  fs::create_directories(d / "unfinished");
  write(d / "unfinished" / "config.json", "{\"task\":\"flipflop\"}");
  fs::create_directories(d / "not-a-run");

  const CliRun r = cli({"report", d.string()});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string& o = r.out;
  CHECK(o.find("### Flip-Flop, length 256") != std::string::npos);
  CHECK(o.find("| abs | 1 | 6.8 (1.0) | 21.7 (2.0) | 90.0 (10.0) |") != std::string::npos);
  CHECK(o.find("| cope | 3 | 0.0 ± 0.0 (0.0 ± 0.0) | 20.0 ± 10.0 (2.0 ± 1.0) | 50.0 ± 0.0 (5.0 ± 0.0) |") != std::string::npos);
  CHECK(o.find("abs |") < o.find("cope |"));  // the paper's order of encodings
  CHECK(o.find("| pe | 1 var (n) | binding | 5 vars (n) | binding |") != std::string::npos);
  CHECK(o.find("| abs | 50.0 (1) | 100.0 | 50.0 (1) | 100.0 |") != std::string::npos);
  CHECK(o.find("| cope | 1.0 (1) | 2.0 | 5.0 (1) | 10.0 |") != std::string::npos);
  // both encodings saw the same test sets: the shortcut's figure once, not "15.0 ± 0.0"
  CHECK(o.find("| shortcut (no model) | 15.0 | 100 | 35.0 | 100 |") != std::string::npos);
  CHECK(o.find("### tiny.txt, context 64") != std::string::npos);
  CHECK(o.find("| cope | 1 | 2.72 | 7.39 |") != std::string::npos);  // e^1, e^2
  CHECK(o.find("Unfinished runs (no result.jsonl): unfinished") != std::string::npos);
}

TEST_CASE("report: a missing folder, no runs, or a damaged result is one error line") {
  const fs::path d = fresh_dir("bad");
  CliRun r = cli({"report", (d / "nowhere").string()});
  CHECK(r.code == 1);
  CHECK(one_error_line(r));
  r = cli({"report", d.string()});
  CHECK(r.code == 1);
  CHECK(r.err.find("holds no finished runs") != std::string::npos);
  fake_run(d / "run", "{\"task\":\"flipflop\",\"pe\":\"abs\"}", ff_line("test", 0.1, 0.1) + "{oops\n");
  r = cli({"report", d.string()});
  CHECK(r.code == 1);
  CHECK(one_error_line(r));
  CHECK(r.err.find("result.jsonl:2: not valid JSON") != std::string::npos);
  r = cli({"report"});
  CHECK(r.code == 2);
  CHECK(one_error_line(r));
}
