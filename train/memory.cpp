// memory.cpp — see memory.h. The counts follow what the code allocates. B x L is the
// shape of a batch, B rows of L tokens: the batch size and the context, but for
// Counting, whose programs are mostly far shorter than the longest it can make, fewer
// rows packed to the context or shorter padded ones (Task::batch_shape, the shape
// smallest_batch makes).
//   parameters   nn/transformer.cpp; each f32 parameter has a value, a gradient and
//                AdamW's m and v: 16 bytes
//   activations  per layer and token, the [B,L,C]-shaped results the tape keeps (the
//                LayerNorm, q/k/v, attention, projection, MLP and residual outputs) and
//                their gradients: kWidthFloats * C floats, fitted to measured peaks;
//                plus attention's saved rows, exactly (nn/attention_fused.cpp): the
//                weights a [B,H,L,L], under CoPE the gates [B,H,L,L] and q.e [B,H,L,npos]
//                with its gradient, under rel the gradient of q.r [B,H,L,nrel]; plus the
//                logits, their softmax and gradient (3V per token)
//   evaluation   one forward pass of max(batch, 64) sequences without a tape: one
//                layer's attention rows, a layer's [B,L,C]-shaped results (16 C), the
//                logits in f32 and f64
//   data         the evaluation sets as token lists: 9 bytes a token (an int64 and a
//                flag) and 112 an example (two std::vectors and their heap blocks)
//   base         the program, OpenBLAS and oneTBB buffers, measured
//   cache        batches of varying length (Counting) leave freed blocks of every size
//                they had in the tensor block cache (tensor/tensor.cpp), up to its 2 GiB
// Memory freed by a training step stays in that cache for the next step, so
// evaluation's blocks come on top of the training step's.
#include "train/memory.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mc {

namespace {

constexpr double kWidthFloats = 38;  // per layer and token, in units of C (fitted: docs/reliability.md)
constexpr double kBase = 40e6;       // bytes (fitted, with kWidthFloats)
constexpr double kBlockCache = 2.0 * (1 << 30);  // what tensor/tensor.cpp's block cache keeps at most

double parameter_count(const ModelConfig& m) {
  const double C = double(m.dim), V = double(m.vocab), D = double(m.head_dim()), F = double(m.mlp_ratio) * C;
  double per_layer = 4 * (C * C + C)  // q, k, v, out
                     + (C * F + F) + (F * C + C)  // the MLP
                     + 4 * C;  // two LayerNorms
  if (m.uses_cope() && m.sep_key) per_layer += C * C + C;
  if (m.uses_rel()) per_layer += D * double(m.rel_positions());
  double n = double(m.layers) * per_layer + V * C + (m.tied ? 0 : V * C) + 2 * C;
  if (m.pe == "abs") n += double(m.seq) * C;
  if (m.uses_cope()) {
    int64_t cope_layers = 0;
    for (int64_t l = 0; l < m.layers; ++l) cope_layers += m.layer_uses_cope(l) ? 1 : 0;
    n += D * double(m.cope_npos()) * double(m.shared ? std::min<int64_t>(1, cope_layers) : cope_layers);
  }
  return n;
}

// Floats of attention's saved rows per token and layer (L: the batch's length).
double attention_floats(const ModelConfig& m, double L, bool training) {
  const double H = double(m.heads);
  double f = H * L;  // the weights a
  if (m.uses_cope()) f += H * L + H * double(m.cope_npos()) * (training ? 2 : 1);  // gates, q.e (and its gradient)
  if (m.uses_rel() && training) f += H * double(m.rel_positions());  // the gradient of q.r
  return f;
}

}  // namespace

MemoryEstimate estimate_training_memory(const RunConfig& cfg, const Task& task) {
  const ModelConfig& m = cfg.model;
  // The batches' shape: rows x the context, or fewer rows or shorter ones (Counting).
  const Task::BatchShape train_shape = task.batch_shape(cfg.batch, m.seq);
  const Task::BatchShape eval_shape = task.batch_shape(std::max<int64_t>(cfg.batch, 64), m.seq);
  const double L = double(std::min(m.seq, train_shape.length)), B = double(train_shape.rows);
  const double C = double(m.dim), V = double(m.vocab);
  const double layers = double(m.layers);
  MemoryEstimate e;
  e.parameters = 16 * parameter_count(m);
  const double width = kWidthFloats + (m.dropout > 0 ? 3 : 0);  // dropout keeps a mask per residual branch
  e.activations = 4 * B * L * (layers * (width * C + attention_floats(m, L, true)) + 3 * V + 4 * C);
  const double Be = double(eval_shape.rows), Le = double(std::min(m.seq, eval_shape.length));
  const double one_batch = 4 * Be * Le * (attention_floats(m, Le, false) + 16 * C + 3 * V);
  e.evaluation = one_batch;
  e.data = 9 * double(task.eval_tokens()) + 112 * double(task.eval_examples());
  e.base = kBase;
  // The block cache keeps freed blocks by exact size (up to 2 GiB). Batches of one
  // shape reuse them every step; batches of varying shape (Counting) leave blocks of
  // every shape they had, until the cache is full.
  if (train_shape.varies) e.cache = std::min(kBlockCache, 4 * (e.activations + one_batch));
  return e;
}

std::string format_bytes(double bytes) {
  char b[32];
  if (bytes >= 1e12) std::snprintf(b, sizeof b, "%.1f TB", bytes / 1e12);
  else if (bytes >= 1e9) std::snprintf(b, sizeof b, "%.1f GB", bytes / 1e9);
  else std::snprintf(b, sizeof b, "%.0f MB", bytes / 1e6);
  return b;
}

std::string MemoryEstimate::largest(const RunConfig& cfg) const {
  const ModelConfig& m = cfg.model;
  const std::string context = "context " + std::to_string(m.seq) + " (" + size_flags(cfg.task.name) + ")";
  const std::string npos = m.uses_cope() ? " x --npos " + std::to_string(m.cope_npos()) : "";
  const std::pair<double, std::string> parts[] = {
      {parameters, "the parameters with their gradients and AdamW state (--layers " + std::to_string(m.layers) + ", --dim " +
                       std::to_string(m.dim) + ", vocabulary " + std::to_string(m.vocab) +
                       (m.uses_cope() ? ", --npos " + std::to_string(m.cope_npos()) : "") +
                       (m.pe == "abs" ? ", " + context : "") + ")"},
      {activations, "a training step's activations (--batch " + std::to_string(cfg.batch) + " x " + context + " x --layers " +
                        std::to_string(m.layers) + " x --dim " + std::to_string(m.dim) + npos + ")"},
      {evaluation, "an evaluation batch (" + std::to_string(std::max<int64_t>(cfg.batch, 64)) + " sequences x " + context +
                       npos + ")"},
      {data, "the evaluation sets (--eval-size " + std::to_string(cfg.task.eval_size) + " per split, " + context + ")"},
  };
  const auto& top = *std::max_element(std::begin(parts), std::end(parts),
                                      [](const auto& a, const auto& b) { return a.first < b.first; });
  return format_bytes(top.first) + " for " + top.second;
}

double available_memory() {
  double avail = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    double kb = 0;
    meminfo >> kb;
    if (key == "MemAvailable:") avail = kb * 1024;
    meminfo.ignore(64, '\n');
  }
  // a container's limit (cgroup v2, then v1) may be below what the machine has free
  const auto read_number = [](const char* path, double& v) {
    std::ifstream f(path);
    std::string s;
    if (!(f >> s) || s == "max") return false;
    try {
      v = std::stod(s);
    } catch (const std::exception&) {
      return false;
    }
    return true;
  };
  // The page cache it holds is counted in its usage but given back on demand.
  const auto inactive_file = [](const char* path, const char* key) {
    std::ifstream f(path);
    double v = 0;
    for (std::string k; f >> k;) {
      double x = 0;
      f >> x;
      if (k == key) v = x;
    }
    return v;
  };
  double limit = 0, usage = 0;
  if (read_number("/sys/fs/cgroup/memory.max", limit) && read_number("/sys/fs/cgroup/memory.current", usage))
    usage -= inactive_file("/sys/fs/cgroup/memory.stat", "inactive_file");
  else if (read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes", limit) &&
           read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes", usage))
    usage -= inactive_file("/sys/fs/cgroup/memory/memory.stat", "total_inactive_file");
  else
    limit = 0;
  if (limit > 0 && limit < 1e18 && limit > usage && (avail == 0 || limit - usage < avail)) avail = limit - usage;
  return avail;
}

void check_training_memory(const MemoryEstimate& e, const RunConfig& cfg, int ranks_here) {
  const double avail = available_memory() / std::max(1, ranks_here);
  if (avail <= 0 || e.total() <= avail) return;
  // the settings together are what to change; --memory-check is the one that lets them be
  throw SettingError("memory-check", "this run needs about " + format_bytes(e.total()) + " of memory, " +
                              format_bytes(avail) + " is available" +
                              (ranks_here > 1 ? " to each of the " + std::to_string(ranks_here) + " ranks on this machine" : "") +
                              "; the largest part is " + e.largest(cfg) +
                              " (lower those settings, or pass --memory-check=false to try anyway)");
}

}  // namespace mc
