// cmd_report.cpp — `minicope report DIR`: the results tables of a folder of runs
// (plot/report.h lays them out).
#include <cxxopts.hpp>
#include <iostream>

#include "cli/cli.h"
#include "cli/commands.h"
#include "nn/config.h"
#include "plot/report.h"

namespace mc {

int cmd_report(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("minicope report",
                           "Prints the results tables (Markdown) of a folder of runs, as scripts/reproduce.sh\n"
                           "leaves them: each run folder with config.json and result.jsonl (train --json), and\n"
                           "for text runs eval-Nx.jsonl (eval --seq N*context --json). Runs that differ only in\n"
                           "their seed share a row: mean ± standard deviation, and n.");
  options.positional_help("DIR");
  options.add_options()("dir", "the folder of runs", cxxopts::value<std::string>());
  options.parse_positional({"dir"});
  ParsedArgs p = parse_args(options, args);
  if (p.help) {
    out << options.help();
    return 0;
  }
  (void)err;
  if (!p.result->count("dir")) throw UsageError("report needs the folder of runs");
  const std::filesystem::path dir = (*p.result)["dir"].as<std::string>();

  write_report(out, dir, position_encodings());
  return 0;
}

}  // namespace mc
