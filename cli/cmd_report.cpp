// cmd_report.cpp — `minicope report DIR`: the results tables of a folder of runs, in
// Markdown, laid out as the CoPE paper's tables.
//
// Each run folder under DIR holds config.json (written by train), result.jsonl (train
// --json's final evaluation of the best checkpoint) and, for text runs evaluated past
// their context, eval-Nx.jsonl (eval --seq N*context --json). scripts/reproduce.sh
// writes exactly this. Runs that differ only in --seed are one row: mean ± sample
// standard deviation over the seeds, and n.
//
//   flipflop, selcopy  a table per task size; rows pe; columns the splits (error %,
//                      per sequence; flipflop adds the error per read in brackets)
//   counting           rows pe; columns the number of variables (test error %)
//   text               a table per corpus and context; rows pe; columns the
//                      perplexity at 1x, 2x, 4x the training context
#include <cmath>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/files.h"

namespace mc {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kPeOrder = {"none", "abs", "rel", "rope", "cope", "cope+rel", "cope+rope"};

json read_json(const fs::path& p) {
  try {
    return json::parse(read_whole_file(p.string(), "a JSON file"));
  } catch (const json::exception&) {
    throw std::runtime_error(p.string() + ": not valid JSON");
  }
}

// split -> the JSON object of that split's line
std::map<std::string, json> read_results(const fs::path& p) {
  std::istringstream in(read_whole_file(p.string(), "a JSONL file"));
  std::map<std::string, json> out;
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = p.string() + ":" + std::to_string(no);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      throw std::runtime_error(where + ": not valid JSON");
    }
    if (!j.is_object() || !j.contains("split") || !j["split"].is_string() || !j.contains("loss") || !j["loss"].is_number())
      throw std::runtime_error(where + ": not a result line (split, loss, ...)");
    for (const char* key : {"error_rate", "token_error_rate"})  // null: a NaN, as train writes one
      if (j.contains(key) && !j[key].is_number() && !j[key].is_null())
        throw std::runtime_error(where + ": \"" + key + "\" is not a number");
    out[j["split"].get<std::string>()] = j;
  }
  if (out.empty()) throw std::runtime_error(p.string() + ": holds no results");
  return out;
}

struct Run {
  std::string name;
  json cfg;
  std::map<std::string, json> result;   // split -> line
  std::map<int, double> loss_at;        // text: context factor -> validation loss
};

struct Stat {
  std::vector<double> v;
  std::string text(int decimals, bool percent) const {
    if (v.empty()) return "—";
    const double k = percent ? 100.0 : 1.0;
    double mean = 0;
    for (double x : v) mean += x * k;
    mean /= double(v.size());
    char b[64];
    if (v.size() == 1) {
      std::snprintf(b, sizeof b, "%.*f", decimals, mean);
      return b;
    }
    double ss = 0;
    for (double x : v) ss += (x * k - mean) * (x * k - mean);
    std::snprintf(b, sizeof b, "%.*f ± %.*f", decimals, mean, decimals, std::sqrt(ss / double(v.size() - 1)));
    return b;
  }
};

std::string get_str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}
// A result's number, or NaN when it is absent or null (train writes a NaN as null).
double num_or_nan(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}
std::string get_num(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].dump() : "?";
}

int pe_rank(const std::string& pe) {
  const auto it = std::find(kPeOrder.begin(), kPeOrder.end(), pe);
  return int(it - kPeOrder.begin());
}

// Rows of one table: pe -> runs (seeds).
using Rows = std::map<std::pair<int, std::string>, std::vector<const Run*>>;

void add(Rows& rows, const Run& r) {
  const std::string pe = get_str(r.cfg, "pe");
  rows[{pe_rank(pe), pe}].push_back(&r);
}

std::string seeds_of(const std::vector<const Run*>& runs) {
  return std::to_string(runs.size());
}

void split_table(std::ostream& o, const std::string& heading, const Rows& rows, const std::vector<std::string>& splits,
                 bool per_read) {
  o << "### " << heading << "\n\nError %, per sequence" << (per_read ? " (per read in brackets)" : "")
    << "; mean ± sd over n seeds.\n\n| pe | n |";
  for (const auto& s : splits) o << " " << s << " |";
  o << "\n|---|---|";
  for (size_t k = 0; k < splits.size(); ++k) o << "---|";
  o << "\n";
  for (const auto& [key, runs] : rows) {
    o << "| " << key.second << " | " << seeds_of(runs) << " |";
    for (const auto& s : splits) {
      Stat seq, tok;
      for (const Run* r : runs)
        if (r->result.count(s)) {
          seq.v.push_back(num_or_nan(r->result.at(s), "error_rate"));
          tok.v.push_back(num_or_nan(r->result.at(s), "token_error_rate"));
        }
      o << " " << seq.text(1, true) << (per_read && !tok.v.empty() ? " (" + tok.text(1, true) + ")" : "") << " |";
    }
    o << "\n";
  }
  o << "\n";
}

}  // namespace

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
  const fs::path dir = (*p.result)["dir"].as<std::string>();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir.string() + ": no such folder");

  std::vector<Run> runs;
  std::vector<std::string> unfinished;
  std::vector<fs::path> folders;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  for (const fs::path& f : folders) {
    if (!fs::exists(f / "config.json", ec)) continue;  // not a run
    if (!fs::exists(f / "result.jsonl", ec)) {
      unfinished.push_back(f.filename().string());
      continue;
    }
    Run r;
    r.name = f.filename().string();
    r.cfg = read_json(f / "config.json");
    if (!r.cfg.is_object()) throw std::runtime_error((f / "config.json").string() + ": not a JSON object");
    const std::string task = get_str(r.cfg, "task");
    if (task != "flipflop" && task != "selcopy" && task != "counting" && task != "text")
      throw std::runtime_error((f / "config.json").string() + ": \"task\" is not one of flipflop, selcopy, counting, text "
                               "(not a minicope run's configuration)");
    r.result = read_results(f / "result.jsonl");
    if (r.result.count("valid")) r.loss_at[1] = r.result["valid"]["loss"].get<double>();
    for (const auto& e : fs::directory_iterator(f)) {
      const std::string n = e.path().filename().string();
      int factor = 0;
      char x = 0;
      if (n.rfind("eval-", 0) == 0 && std::sscanf(n.c_str(), "eval-%d%c", &factor, &x) == 2 && x == 'x' && factor > 1) {
        const auto res = read_results(e.path());
        if (res.count("valid")) r.loss_at[factor] = res.at("valid")["loss"].get<double>();
      }
    }
    runs.push_back(std::move(r));
  }
  if (runs.empty()) throw std::runtime_error(dir.string() + ": holds no finished runs (folders with config.json and result.jsonl)");

  // Tables keyed by what the runs share (the task and its size), in a fixed order.
  std::map<std::string, Rows> ff, sc, text;
  std::map<std::string, std::map<int64_t, Rows>> counting;  // key -> vars -> rows
  for (const Run& r : runs) {
    const std::string task = get_str(r.cfg, "task");
    if (task == "flipflop")
      add(ff["Flip-Flop, length " + get_num(r.cfg, "length")], r);
    else if (task == "selcopy")
      add(sc["Selective Copy, " + get_num(r.cfg, "data-tokens") + " tokens among " + get_num(r.cfg, "noise-tokens") +
             " noise tokens (dense: half, sparse: twice)"],
          r);
    else if (task == "counting")
      add(counting[get_str(r.cfg, "data").empty() ? "Counting, at most " + get_num(r.cfg, "max-steps") + " statements"
                                                   : "Counting, " + get_str(r.cfg, "data")]
                  [r.cfg.value("vars", int64_t(0))],
          r);
    else if (task == "text")
      add(text[fs::path(get_str(r.cfg, "data")).filename().string() + ", context " + get_num(r.cfg, "seq")], r);
  }
  out << "<!-- minicope report " << dir.string() << ": " << runs.size() << " runs -->\n\n";
  for (const auto& [heading, rows] : ff) split_table(out, heading, rows, {"test", "sparse", "dense"}, true);
  for (const auto& [heading, rows] : sc) split_table(out, heading, rows, {"test", "dense", "sparse"}, false);
  for (const auto& [heading, by_vars] : counting) {
    out << "### " << heading << "\n\nTest error %, by the number of variables; mean ± sd over n seeds.\n\n| pe |";
    std::map<std::pair<int, std::string>, std::map<int64_t, std::vector<const Run*>>> table;
    for (const auto& [vars, rows] : by_vars) {
      out << " " << vars << " var" << (vars == 1 ? "" : "s") << " (n) |";
      for (const auto& [key, rs] : rows) table[key][vars] = rs;
    }
    out << "\n|---|";
    for (size_t k = 0; k < by_vars.size(); ++k) out << "---|";
    out << "\n";
    for (const auto& [key, cells] : table) {
      out << "| " << key.second << " |";
      for (const auto& [vars, rows] : by_vars) {
        Stat s;
        const auto it = cells.find(vars);
        if (it != cells.end())
          for (const Run* r : it->second)
            if (r->result.count("test")) s.v.push_back(num_or_nan(r->result.at("test"), "error_rate"));
        out << " " << s.text(1, true) << (it != cells.end() ? " (" + seeds_of(it->second) + ")" : "") << " |";
      }
      out << "\n";
    }
    out << "\n";
  }
  for (const auto& [heading, rows] : text) {
    std::set<int> factors;
    for (const auto& [key, rs] : rows)
      for (const Run* r : rs)
        for (const auto& [f, loss] : r->loss_at) factors.insert(f);
    out << "### " << heading << "\n\nValidation perplexity (per token) at 1x, 2x, 4x the training context; "
        << "mean ± sd over n seeds. abs cannot run past its context (—).\n\n| pe | n |";
    for (int f : factors) out << " " << f << "x |";
    out << "\n|---|---|";
    for (size_t k = 0; k < factors.size(); ++k) out << "---|";
    out << "\n";
    for (const auto& [key, rs] : rows) {
      out << "| " << key.second << " | " << seeds_of(rs) << " |";
      for (int f : factors) {
        Stat s;
        for (const Run* r : rs)
          if (r->loss_at.count(f)) s.v.push_back(std::exp(r->loss_at.at(f)));
        out << " " << s.text(2, false) << " |";
      }
      out << "\n";
    }
    out << "\n";
  }
  if (!unfinished.empty()) {
    out << "Unfinished runs (no result.jsonl):";
    for (const auto& u : unfinished) out << " " << u;
    out << "\n";
  }
  return 0;
}

}  // namespace mc
