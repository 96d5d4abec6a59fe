// report.h — the results tables of a folder of runs (`minicope report DIR`), in
// Markdown, laid out as the CoPE paper's tables.
#pragma once
#include <filesystem>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace mc {

// Writes the tables of the runs under `dir`. Each run folder under DIR holds config.json (written by train), result.jsonl (train
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
// Throws FileError for a run file that cannot be read or is not what train writes.
// Rows follow pe_order, the list of position encodings (nn's position_encodings()).
void write_report(std::ostream& out, const std::filesystem::path& dir, const std::vector<std::string>& pe_order);

// Counting results against program length (`minicope plot lengths DIR`): one cell per
// (variables, pe, --max-steps) over the finished counting runs under dir that drew
// their own programs (runs on --data files have no --max-steps and are left out), with
// each seed's test error, binding-subset error and the shortcut's test error. Sorted by
// variables, then pe_order, then max_steps. Throws FileError as write_report does.
struct CountingCell {
  int64_t vars = 0;
  std::string pe;
  int64_t max_steps = 0;
  std::vector<double> error, binding, shortcut;  // one per seed (binding: NaN where none)
};
std::vector<CountingCell> counting_by_length(const std::filesystem::path& dir, const std::vector<std::string>& pe_order);

// Text results against the evaluation context (`minicope plot contexts DIR`, the shape of
// the paper's Figure 3): one cell per (corpus, training context, pe) over the finished text
// runs under dir, holding each seed's validation loss at every multiple of its training
// context it was evaluated at (1: result.jsonl; N: eval-Nx.jsonl). Sorted by the corpus'
// file name, then training context, then pe_order. Throws FileError as write_report does.
struct TextCell {
  std::string data;  // the corpus' file name (config "data")
  int64_t seq = 0;   // the training context
  std::string pe;
  std::map<int, std::vector<double>> loss_at;  // context factor -> validation loss, one per seed
};
std::vector<TextCell> text_by_context(const std::filesystem::path& dir, const std::vector<std::string>& pe_order);

}  // namespace mc
