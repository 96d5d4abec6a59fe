// report.cpp — the results tables of a folder of runs (report.h).
#include "plot/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>
#include <tuple>

#include "io/files.h"

namespace mc {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& p) {
  try {
    return json::parse(read_whole_file(p.string(), "a JSON file"));
  } catch (const json::exception&) {
    throw FileError(p.string(), p.string() + ": not valid JSON");
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
      throw FileError(p.string(), where + ": not valid JSON");
    }
    if (!j.is_object() || !j.contains("split") || !j["split"].is_string() || !j.contains("loss") || !j["loss"].is_number())
      throw FileError(p.string(), where + ": not a result line (split, loss, ...)");
    for (const char* key : {"error_rate", "token_error_rate"})  // null: a NaN, as train writes one
      if (j.contains(key) && !j[key].is_number() && !j[key].is_null())
        throw FileError(p.string(), where + ": \"" + key + "\" is not a number");
    out[j["split"].get<std::string>()] = j;
  }
  if (out.empty()) throw FileError(p.string(), p.string() + ": holds no results");
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

// Where pe stands in the order of rows (an unknown one last).
int pe_rank(const std::string& pe, const std::vector<std::string>& order) {
  return int(std::find(order.begin(), order.end(), pe) - order.begin());
}

// Rows of one table: pe -> runs (seeds).
using Rows = std::map<std::pair<int, std::string>, std::vector<const Run*>>;

void add(Rows& rows, const Run& r, const std::vector<std::string>& pe_order) {
  const std::string pe = get_str(r.cfg, "pe");
  rows[{pe_rank(pe, pe_order), pe}].push_back(&r);
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

// The run in folder f (its config.json, result.jsonl and eval-Nx.jsonl).
Run read_run(const fs::path& f) {
  Run r;
  r.name = f.filename().string();
  r.cfg = read_json(f / "config.json");
  if (!r.cfg.is_object()) throw FileError((f / "config.json").string(), (f / "config.json").string() + ": not a JSON object");
  const std::string task = get_str(r.cfg, "task");
  if (task != "flipflop" && task != "selcopy" && task != "counting" && task != "text")
    throw FileError((f / "config.json").string(), (f / "config.json").string() + ": \"task\" is not one of flipflop, selcopy, counting, text "
                             "(not a minicope run's configuration)");
  r.result = read_results(f / "result.jsonl");
  if (r.result.count("valid")) r.loss_at[1] = r.result["valid"]["loss"].get<double>();
  for (const auto& e : fs::directory_iterator(f)) {
    const std::string n = e.path().filename().string();
    // eval-Nx.jsonl exactly (reproduce.sh writes eval-Nx.tmp first and renames it when done)
    int factor = 0;
    if (std::sscanf(n.c_str(), "eval-%dx", &factor) == 1 && factor > 1 && n == "eval-" + std::to_string(factor) + "x.jsonl") {
      const auto res = read_results(e.path());
      if (res.count("valid")) r.loss_at[factor] = res.at("valid")["loss"].get<double>();
    }
  }
  return r;
}

// The finished runs under dir, in folder order; the names of unfinished ones.
std::vector<Run> read_runs(const fs::path& dir, std::vector<std::string>& unfinished) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw FileError(dir.string(), dir.string() + ": no such folder");
  std::vector<fs::path> folders;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  std::vector<Run> runs;
  for (const fs::path& f : folders) {
    if (!fs::exists(f / "config.json", ec)) continue;  // not a run
    if (!fs::exists(f / "result.jsonl", ec)) unfinished.push_back(f.filename().string());
    else runs.push_back(read_run(f));
  }
  if (runs.empty()) throw FileError(dir.string(), dir.string() + ": holds no finished runs (folders with config.json and result.jsonl)");
  return runs;
}

// The tables, keyed by what their runs share (the task and its size), in a fixed order.
struct Tables {
  std::map<std::string, Rows> ff, sc, text;
  std::map<std::string, std::map<int64_t, Rows>> counting;  // heading -> vars -> rows
};

Tables group(const std::vector<Run>& runs, const std::vector<std::string>& pe_order) {
  Tables t;
  for (const Run& r : runs) {
    const std::string task = get_str(r.cfg, "task");
    if (task == "flipflop")
      add(t.ff["Flip-Flop, length " + get_num(r.cfg, "length")], r, pe_order);
    else if (task == "selcopy")
      add(t.sc["Selective Copy, " + get_num(r.cfg, "data-tokens") + " tokens among " + get_num(r.cfg, "noise-tokens") +
             " noise tokens (dense: half, sparse: twice)"],
          r, pe_order);
    else if (task == "counting")
      add(t.counting[get_str(r.cfg, "data").empty() ? "Counting, at most " + get_num(r.cfg, "max-steps") + " statements"
                                                   : "Counting, " + get_str(r.cfg, "data")]
                  [r.cfg.value("vars", int64_t(0))],
          r, pe_order);
    else if (task == "text")
      add(t.text[fs::path(get_str(r.cfg, "data")).filename().string() + ", context " + get_num(r.cfg, "seq")], r, pe_order);
  }
  return t;
}

// Counting: rows pe, and for each number of variables two columns: the test error and
// the error on the binding subset (the programs the variable-blind shortcut gets
// wrong); a last row gives the shortcut's own error on the same test sets.
void counting_table(std::ostream& out, const std::string& heading, const std::map<int64_t, Rows>& by_vars) {
  out << "### " << heading << "\n\nTest error %, by the number of variables, and on the binding subset (the programs "
         "the shortcut — counting every ++ after the last = 0 of any variable — gets wrong); mean ± sd over n seeds."
         "\n\n| pe |";
  std::map<std::pair<int, std::string>, std::map<int64_t, std::vector<const Run*>>> table;
  std::map<int64_t, Stat> shortcut;  // vars -> the shortcut's test error, one per run
  for (const auto& [vars, rows] : by_vars) {
    out << " " << vars << " var" << (vars == 1 ? "" : "s") << " (n) | binding |";
    for (const auto& [key, rs] : rows) {
      table[key][vars] = rs;
      for (const Run* r : rs)
        if (r->result.count("test") && r->result.at("test").contains("shortcut_error_rate"))
          shortcut[vars].v.push_back(num_or_nan(r->result.at("test"), "shortcut_error_rate"));
    }
  }
  out << "\n|---|";
  for (size_t k = 0; k < by_vars.size(); ++k) out << "---|---|";
  out << "\n";
  for (const auto& [key, cells] : table) {
    out << "| " << key.second << " |";
    for (const auto& [vars, rows] : by_vars) {
      Stat err, binding;
      const auto it = cells.find(vars);
      if (it != cells.end())
        for (const Run* r : it->second)
          if (r->result.count("test")) {
            err.v.push_back(num_or_nan(r->result.at("test"), "error_rate"));
            if (r->result.at("test").contains("binding_error_rate"))
              binding.v.push_back(num_or_nan(r->result.at("test"), "binding_error_rate"));
          }
      out << " " << err.text(1, true) << (it != cells.end() ? " (" + seeds_of(it->second) + ")" : "") << " | "
          << binding.text(1, true) << " |";
    }
    out << "\n";
  }
  if (!shortcut.empty()) {
    out << "| shortcut (no model) |";
    for (const auto& [vars, rows] : by_vars) {
      const auto it = shortcut.find(vars);
      Stat s = it != shortcut.end() ? it->second : Stat{};
      // runs that share a test set give the same figure: one number, not "x ± 0.0"
      if (!s.v.empty() && std::all_of(s.v.begin(), s.v.end(), [&](double x) { return x == s.v[0]; })) s.v = {s.v[0]};
      out << " " << s.text(1, true) << " | 100 |";
    }
    out << "\n";
  }
  out << "\n";
}

// Text: rows pe, columns the perplexity at each multiple of the training context.
void text_table(std::ostream& out, const std::string& heading, const Rows& rows) {
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

}  // namespace

std::vector<CountingCell> counting_by_length(const fs::path& dir, const std::vector<std::string>& pe_order) {
  std::vector<std::string> unfinished;
  std::map<std::tuple<int64_t, int, std::string, int64_t>, CountingCell> cells;
  for (const Run& r : read_runs(dir, unfinished)) {
    if (get_str(r.cfg, "task") != "counting" || !get_str(r.cfg, "data").empty() || !r.result.count("test")) continue;
    const std::string pe = get_str(r.cfg, "pe");
    const int64_t vars = r.cfg.value("vars", int64_t(0)), steps = r.cfg.value("max-steps", int64_t(0));
    CountingCell& c = cells[{vars, pe_rank(pe, pe_order), pe, steps}];
    c.vars = vars, c.pe = pe, c.max_steps = steps;
    const json& test = r.result.at("test");
    c.error.push_back(num_or_nan(test, "error_rate"));
    c.binding.push_back(num_or_nan(test, "binding_error_rate"));
    c.shortcut.push_back(num_or_nan(test, "shortcut_error_rate"));
  }
  std::vector<CountingCell> out;
  for (auto& [key, c] : cells) out.push_back(std::move(c));
  return out;
}

std::vector<TextCell> text_by_context(const fs::path& dir, const std::vector<std::string>& pe_order) {
  std::vector<std::string> unfinished;
  std::map<std::tuple<std::string, int64_t, int, std::string>, TextCell> cells;
  for (const Run& r : read_runs(dir, unfinished)) {
    if (get_str(r.cfg, "task") != "text" || r.loss_at.empty()) continue;
    const std::string data = fs::path(get_str(r.cfg, "data")).filename().string(), pe = get_str(r.cfg, "pe");
    const int64_t seq = r.cfg.value("seq", int64_t(0));
    TextCell& c = cells[{data, seq, pe_rank(pe, pe_order), pe}];
    c.data = data, c.seq = seq, c.pe = pe;
    for (const auto& [factor, loss] : r.loss_at) c.loss_at[factor].push_back(loss);
  }
  std::vector<TextCell> out;
  for (auto& [key, c] : cells) out.push_back(std::move(c));
  return out;
}

void write_report(std::ostream& out, const fs::path& dir, const std::vector<std::string>& pe_order) {
  std::vector<std::string> unfinished;
  const std::vector<Run> runs = read_runs(dir, unfinished);
  const Tables t = group(runs, pe_order);
  out << "<!-- minicope report " << dir.string() << ": " << runs.size() << " runs -->\n\n";
  for (const auto& [heading, rows] : t.ff) split_table(out, heading, rows, {"test", "sparse", "dense"}, true);
  for (const auto& [heading, rows] : t.sc) split_table(out, heading, rows, {"test", "dense", "sparse"}, false);
  for (const auto& [heading, by_vars] : t.counting) counting_table(out, heading, by_vars);
  for (const auto& [heading, rows] : t.text) text_table(out, heading, rows);
  if (!unfinished.empty()) {
    out << "Unfinished runs (no result.jsonl):";
    for (const auto& u : unfinished) out << " " << u;
    out << "\n";
  }
}

}  // namespace mc
