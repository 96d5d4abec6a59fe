// resolve.cpp — a run's settings completed from its task (trainer.h: resolve), and the
// order in which --epochs reads a fixed training set (epoch_order).
#include <utility>

#include "train/trainer.h"

namespace mc {

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t pass) {
  Generator g(seed ^ (0x5e9a55e5ULL + 0x9e3779b97f4a7c15ULL * uint64_t(pass)));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(g.below(uint64_t(i + 1)))]);  // Fisher-Yates
  return order;
}

void resolve(RunConfig& cfg, const Task& task) {
  cfg.model.vocab = int64_t(task.vocab().size());
  if (cfg.model.vocab < 1) throw SettingError("task", "the task has an empty vocabulary");
  const int64_t need = task.context();
  if (cfg.model.seq == 0) cfg.model.seq = need;
  else if (cfg.model.seq < need)
    throw SettingError("seq", "--seq " + std::to_string(cfg.model.seq) + " is shorter than the " + task.name() +
                                  " task needs: its longest split has inputs of " + std::to_string(need) + " tokens");
  // init-scheme auto: stock PyTorch's draw learns the synthetic tasks more reliably
  // (Flip-Flop at 128 tokens: every seed at half, once and twice the default lr;
  // Counting: most seeds leave the shortcut), GPT-2's learns text better (about 0.08
  // nats at context 64) — docs/model.md, "Initialisation", and docs/results.md.
  if (cfg.model.init_scheme == "auto") cfg.model.init_scheme = auto_init_scheme(task.name());
  try {
    cfg.model.validate();
  } catch (const ConfigError& e) {
    throw setting_error(e);
  }
  if (task.context() > kMaxContext)
    throw SettingError(size_setting(task.name()),
                       task.name() + ": sequences of " + std::to_string(task.context() + 1) +
                           " tokens are longer than minicope takes (" + std::to_string(kMaxContext) +
                           " tokens of context; lower " + size_flags(task.name()) + ")");
  // Fix the tables' sizes now, so a later change of context (eval --seq) keeps them.
  if (cfg.model.uses_cope() && !cfg.model.npos) cfg.model.npos = cfg.model.cope_npos();
  if (cfg.model.uses_rel() && !cfg.model.rel_cap) cfg.model.rel_cap = cfg.model.rel_positions();
}

}  // namespace mc
