// metrics_file.cpp — see metrics_file.h.
#include "io/files.h"
#include "io/metrics_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace mc {

namespace {

// A number field; nlohmann writes a NaN or inf as null, which reads back as NaN.
double number(const nlohmann::json& j, const char* key, bool required, const std::string& path, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) {
    if (required) throw FileError(path, where + ": no \"" + key + "\" field");
    return NAN;
  }
  if (it->is_null()) return NAN;
  if (!it->is_number()) throw FileError(path, where + ": \"" + key + "\" is not a number");
  return it->get<double>();
}

void sort_unique(std::vector<MetricsPoint>& v) {
  // stable: among lines of the same step the later one (a resumed run's) is kept
  std::stable_sort(v.begin(), v.end(), [](const MetricsPoint& a, const MetricsPoint& b) { return a.step < b.step; });
  std::vector<MetricsPoint> out;
  for (const MetricsPoint& p : v) {
    if (!out.empty() && out.back().step == p.step) out.back() = p;
    else out.push_back(p);
  }
  v = std::move(out);
}

}  // namespace

RunMetrics read_metrics(const std::string& path) {
  namespace fs = std::filesystem;
  RunMetrics m;
  m.path = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) m.path = (fs::path(path) / "metrics.jsonl").string();
  if (!fs::exists(m.path, ec)) throw FileError(m.path, m.path + ": no such file");
  return parse_metrics(read_whole_file(m.path, "a metrics file"), m.path);
}

RunMetrics parse_metrics(const std::string& text, const std::string& path) {
  RunMetrics m;
  m.path = path;
  std::istringstream in(text);
  std::string line;
  for (int64_t no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = m.path + ":" + std::to_string(no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw FileError(path, where + ": not valid JSON");
    }
    if (!j.is_object()) throw FileError(path, where + ": not a JSON object");
    const auto step = j.find("step");
    if (step == j.end()) throw FileError(path, where + ": no \"step\" field");
    if (!step->is_number_integer() || step->get<int64_t>() < 0)
      throw FileError(path, where + ": \"step\" is not a whole number >= 0");
    MetricsPoint p;
    p.step = step->get<int64_t>();
    p.loss = number(j, "loss", true, path, where);
    p.error_rate = number(j, "error_rate", false, path, where);
    p.token_error_rate = number(j, "token_error_rate", false, path, where);
    const auto split = j.find("split");
    if (split == j.end()) {
      m.train.push_back(p);
      continue;
    }
    if (!split->is_string() || split->get<std::string>().empty())
      throw FileError(path, where + ": \"split\" is not a name");
    if (const auto task = j.find("task"); task != j.end() && task->is_string()) m.task = task->get<std::string>();
    m.eval[split->get<std::string>()].push_back(p);
  }
  if (m.train.empty() && m.eval.empty()) throw FileError(m.path, m.path + ": holds no metrics (an empty file)");
  sort_unique(m.train);
  for (auto& [split, points] : m.eval) sort_unique(points);
  return m;
}

}  // namespace mc
