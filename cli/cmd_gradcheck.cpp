// cmd_gradcheck.cpp — `minicope gradcheck [--op NAME] [--list] [--json]`.
#include <cxxopts.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <tbb/global_control.h>

#include "autograd/gradcheck.h"
#include "nn/checks.h"
#include "cli/cli.h"
#include "cli/commands.h"

namespace mc {

namespace {
// One check as JSON: the summary, and per input what gradcheck_report prints (the
// worst elements of a wrong value, the element of an accumulation fault).
nlohmann::json result_json(const OpCheck& c, const GradcheckResult& res) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const GradcheckInput& in : res.inputs) {
    nlohmann::json i = {{"name", in.name},          {"shape", in.shape},   {"rel_err", in.rel_err},
                        {"accumulate_err", in.accumulate_err}, {"faults", in.faults}, {"pass", in.pass()}};
    nlohmann::json worst = nlohmann::json::array();
    for (const GradcheckElement& e : in.worst)
      worst.push_back({{"index", e.index}, {"analytic", e.analytic}, {"numeric", e.numeric}});
    i["worst"] = worst;
    if (!in.accumulate_index.empty())
      i["accumulate"] = {{"index", in.accumulate_index}, {"preset", in.preset}, {"expected", in.expected},
                         {"got", in.accumulated}};
    inputs.push_back(i);
  }
  nlohmann::json j = {{"op", c.op}, {"case", c.name}, {"max_rel_err", res.max_rel_err}, {"accumulate_err", res.accumulate_err},
                      {"tolerance", res.tolerance}, {"pass", res.pass}, {"inputs", inputs}};
  if (!res.pass) j["message"] = res.message;
  return j;
}
}  // namespace

int cmd_gradcheck(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("minicope gradcheck",
                           "Checks the analytic gradient of every registered op against central finite differences\n"
                           "in f64 (relative error over the whole gradient, tolerance 1e-6), and that backward adds\n"
                           "into existing gradients. Exits 1 if any check fails.");
  options.add_options()("op", "check only this op (e.g. matmul) or case (e.g. 'matmul[A^T B]')", cxxopts::value<std::string>())(
      "list", "list the registered checks and exit")("json", "one JSON object per check, one per line");
  ParsedArgs p = parse_args(options, args);
  if (p.help) {
    out << options.help();
    return 0;
  }
  const auto& r = *p.result;
  const std::string only = r.count("op") ? r["op"].as<std::string>() : "";
  if (r.count("op") && only.empty()) throw UsageError("--op must not be empty (leave it out to run every check)");
  const bool json = r.count("json") > 0;

  register_nn_checks();
  std::vector<const OpCheck*> selected;
  for (const OpCheck& c : op_checks())
    if (only.empty() || c.op == only || c.name == only) selected.push_back(&c);
  if (selected.empty()) throw UsageError("no op or case named '" + only + "' (list them with --list)");
  if (r.count("list")) {
    for (const OpCheck* c : selected) out << c->op << "\t" << c->name << "\n";
    return 0;
  }

  int failures = 0;
  if (!json) out << "case                                 max_rel_err  accumulate  result\n";
  for (const OpCheck* c : selected) {
    const GradcheckResult res = c->run();
    failures += res.pass ? 0 : 1;
    if (json) {
      out << result_json(*c, res).dump() << "\n";
    } else {
      char line[256];
      std::snprintf(line, sizeof line, "%-36s %11.2e  %10.2e  %s", c->name.c_str(), res.max_rel_err, res.accumulate_err,
                    res.pass ? "pass" : "FAIL");
      out << line << (res.pass ? "" : "  (" + res.message + ")") << "\n";
      if (!res.pass) out << gradcheck_report(res);
    }
  }
  if (!json) out << selected.size() - size_t(failures) << " passed, " << failures << " failed\n";
  if (failures) err << "minicope: error: " << failures << " gradient check(s) failed\n";
  return failures ? 1 : 0;
}

}  // namespace mc
