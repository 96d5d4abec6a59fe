// plot_attention.cpp — `minicope plot attention`: one head's attention weights a[i,j]
// and, for a CoPE layer, its positions p[i,j], for one input (--text, or an example of
// a split), tokens on the axes; a window of a longer input (--queries, --keys). For a
// CoPE layer it prints each key token's mean gate over the drawn queries: what it counts.
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/plot_parts.h"
#include "io/strings.h"
#include "nn/config.h"
#include "plot/svg.h"
#include "tasks/tokenizer.h"
#include "train/run_checkpoint.h"

namespace mc::plot_cli {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxMapTokens = 256;     // rows or columns a map draws (a window of a longer input)
constexpr int64_t kMaxInputTokens = 2048;  // tokens plot attention runs through the model

// The input of `plot attention`: token ids, from --text or from an evaluation example.
std::vector<int64_t> map_input(const cxxopts::ParseResult& r, LoadedRun& run) {
  const std::vector<std::string>& vocab = run.cfg.task.vocab;
  const bool text = run.cfg.task.name == "text";
  if (r.count("text")) {
    if (r.count("split") || r.count("example")) throw UsageError("--text and --split/--example are alternatives");
    const std::string s = r["text"].as<std::string>();
    if (text && is_subword(run.cfg.task.tokenizer) && !is_valid_utf8(s))
      throw UsageError("--text is not UTF-8 (a " + run.cfg.task.tokenizer + " run reads UTF-8 text)");
    if (text) return Tokenizer::from_tokens(run.cfg.task.tokenizer, vocab, run.cfg.task.tokenizer_model).encode(s);
    std::vector<int64_t> ids;  // a synthetic task's tokens, separated by spaces: "w 1 i 0 r"
    std::stringstream in(s);
    for (std::string word; in >> word;) {
      const auto it = std::find(vocab.begin(), vocab.end(), word);
      if (it == vocab.end()) {
        throw UsageError("--text: '" + word + "' is not a token of " + run.cfg.task.name + " (its tokens: " +
                         join(vocab, " ") + ")");
      }
      ids.push_back(int64_t(it - vocab.begin()));
    }
    return ids;
  }
  run.task = stored_task(run.cfg, r["ckpt"].as<std::string>());  // text: needs the data file for its held-out windows
  std::vector<std::string> splits = run.task->splits();
  const std::string split = r.count("split") ? split_flag(*run.task, r["split"].as<std::string>()) : splits[0];
  const std::vector<Example> set = run.task->eval_set(split);
  const int64_t n = r.count("example") ? flag_int(r, "example", 0, int64_t(1) << 40) : 0;
  if (n >= int64_t(set.size()))
    throw UsageError("--example " + std::to_string(n) + ": split " + split + " has " + std::to_string(set.size()) + " examples");
  std::vector<int64_t> ids = set[size_t(n)].tokens;
  ids.pop_back();  // the model reads all but the last token
  return ids;
}

// A window of the input a map draws: --queries / --keys FROM:TO, token indices from 0, TO
// not included; either end may be left out ("256:" is from token 256 to the end). Default:
// every token. Each side of a map draws at most kMaxMapTokens.
struct TokenRange { int64_t from, to; };
TokenRange token_range(const cxxopts::ParseResult& r, const std::string& flag, int64_t T) {
  TokenRange range{0, T};
  if (r.count(flag)) {
    const std::string s = r[flag].as<std::string>();
    const size_t colon = s.find(':');
    const auto end = [&](const std::string& part, int64_t missing) -> int64_t {
      if (part.empty()) return missing;
      if (part.find_first_not_of("0123456789") != std::string::npos || part.size() > 9)
        throw UsageError("--" + flag + " expects FROM:TO (token indices, e.g. 0:128), not '" + s + "'");
      return std::stoll(part);
    };
    if (colon == std::string::npos || s.find(':', colon + 1) != std::string::npos)
      throw UsageError("--" + flag + " expects FROM:TO (token indices, e.g. 0:128), not '" + s + "'");
    range = {end(s.substr(0, colon), 0), end(s.substr(colon + 1), T)};
    if (range.to > T || range.from >= range.to)
      throw UsageError("--" + flag + " " + s + ": the input has tokens 0:" + std::to_string(T) +
                       "; choose FROM < TO within it");
  }
  if (range.to - range.from > kMaxMapTokens)
    throw UsageError("the map would draw " + std::to_string(range.to - range.from) + " " +
                     (flag == "queries" ? "queries" : "keys") + "; a map draws at most " + std::to_string(kMaxMapTokens) +
                     " (choose a window with --" + flag + " FROM:TO, or pass a shorter --text)");
  return range;
}

// What a CoPE head's gates count: the mean gate of each key token, over every query of
// the window that sees it. The gate of key j for query i is the step of its position
// there, p[i,j] - p[i,j+1] (p[i,i+1] = 0); pairs whose position is clamped (p = npos - 1)
// are left out. positions: one head's [T, T] (row i: query i); rows x cols: the window
// drawn. Tokens in order of first use.
std::string mean_gates_by_token(const double* positions, const std::vector<std::string>& labels, int64_t npos,
                                TokenRange rows, TokenRange cols) {
  const int64_t T = int64_t(labels.size());
  std::vector<std::string> order;
  std::map<std::string, std::pair<double, int64_t>> sums;  // token -> (sum of gates, count)
  for (int64_t i = rows.from; i < rows.to; ++i)
    for (int64_t j = cols.from; j <= i && j < cols.to; ++j) {
      const double p = positions[i * T + j], next = j < i ? positions[i * T + j + 1] : 0.0;
      if (p >= double(npos - 1)) continue;
      auto [it, fresh] = sums.try_emplace(labels[size_t(j)], 0.0, 0);
      if (fresh) order.push_back(labels[size_t(j)]);
      it->second.first += p - next, it->second.second += 1;
    }
  std::ostringstream o;
  o << std::fixed << std::setprecision(3);
  for (const std::string& t : order)
    o << (o.tellp() > 0 ? ", " : "") << "'" << t << "' " << sums[t].first / double(sums[t].second) << " (" << sums[t].second << ")";
  return o.str();
}

}  // namespace

int plot_attention(const cxxopts::ParseResult& r, const std::string& out_path, std::ostream& out) {
  const std::string ckpt = r.count("ckpt") ? r["ckpt"].as<std::string>() : "";
  LoadedRun run = load_run_flag(r.count("ckpt") ? &ckpt : nullptr, 0, /*with_task=*/false);
  const ModelConfig& model = run.cfg.model;
  const int64_t layer = r.count("layer") ? flag_int(r, "layer", 0, model.layers - 1) : 0;
  const int64_t head = r.count("head") ? flag_int(r, "head", 0, model.heads - 1) : 0;
  const std::vector<int64_t> ids = map_input(r, run);
  const int64_t T = int64_t(ids.size());
  if (T == 0) throw UsageError("--text holds no tokens");
  if (T > kMaxInputTokens)
    throw UsageError("the input has " + std::to_string(T) + " tokens; plot attention reads at most " +
                     std::to_string(kMaxInputTokens) + " (pass a shorter --text)");
  const TokenRange rows = token_range(r, "queries", T), cols = token_range(r, "keys", T);
  if (model.pe == "abs" && T > model.seq)
    throw UsageError("the input has " + std::to_string(T) + " tokens; abs position embeddings cover " +
                     std::to_string(model.seq));

  NoGradGuard no_grad;
  run.model->eval();
  std::vector<AttentionTrace> traces;
  run.model->forward(Tensor::indices(ids, {1, T}), &traces);
  const AttentionTrace& tr = traces[size_t(layer)];
  std::vector<std::string> labels;
  for (int64_t id : ids) {
    const std::string& t = run.cfg.task.vocab[size_t(id)];
    labels.push_back(t == " " ? "\xE2\x90\xA3" : t);  // a space as the open-box sign
  }
  // One head's [T, T] values, the window rows x cols of it; above the diagonal: not drawn.
  const auto map_of = [&](const Tensor& t, const std::string& title, const std::string& name) {
    const int64_t R = rows.to - rows.from, C = cols.to - cols.from;
    svg::HeatMap m{title,
                   {labels.begin() + rows.from, labels.begin() + rows.to},
                   {labels.begin() + cols.from, labels.begin() + cols.to},
                   std::vector<double>(size_t(R * C), NAN), 0, 0, name, size_t(rows.from), size_t(cols.from)};
    const Tensor head_values = t.to(DType::f64);
    const double* v = head_values.data<double>() + head * T * T;  // [1,H,T,T], batch 0
    for (int64_t i = rows.from; i < rows.to; ++i)
      for (int64_t j = cols.from; j <= i && j < cols.to; ++j) {
        m.values[size_t((i - rows.from) * C + (j - cols.from))] = v[i * T + j];
        m.hi = std::max(m.hi, v[i * T + j]);
      }
    if (m.hi <= 0) m.hi = 1;
    return m;
  };
  std::vector<svg::HeatMap> maps{map_of(tr.probs, "attention weights a[i,j] (rows: queries, columns: keys)", "weight")};
  const bool cope = model.layer_uses_cope(layer);
  if (cope) maps.push_back(map_of(tr.positions, "CoPE positions p[i,j] (sum of gates from j to i)", "position"));
  const std::string title = r.count("title") ? r["title"].as<std::string>()
                                             : fs::path(ckpt).filename().string() + ": " + model.pe + ", layer " +
                                                   std::to_string(layer) + ", head " + std::to_string(head);
  write_file(out_path, svg::heat_maps(title, maps));
  out << "wrote " << out_path << ": layer " << layer << " head " << head << " over " << T << " tokens";
  if (rows.to - rows.from < T || cols.to - cols.from < T)
    out << ", queries " << rows.from << ":" << rows.to << " x keys " << cols.from << ":" << cols.to;
  out << " ("
      << (cope ? "attention weights and CoPE positions" : "attention weights; this layer has no CoPE positions") << ")\n";
  if (cope) {
    const Tensor p = tr.positions.to(DType::f64);
    out << "mean CoPE gate by key token (p[i,j] - p[i,j+1] over the drawn queries i that see key j, unclamped; "
           "count): "
        << mean_gates_by_token(p.data<double>() + head * T * T, labels, model.cope_npos(), rows, cols) << "\n";
  }
  return 0;
}

}  // namespace mc::plot_cli
