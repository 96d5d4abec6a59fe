// run_checkpoint.cpp — save a run, restore it, load it (run_checkpoint.h).
#include "train/run_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <iomanip>
#include <set>
#include <sstream>

#include "io/base64.h"
#include "tasks/tokenizer.h"

namespace mc {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "minicope-run";
// 2: with checksums. 3: the model's vocabulary size as "model-vocab" in the stored
// configuration (2 had it under "vocab-size", over the word cap), and vocabulary
// entries that are not UTF-8 as lists of byte values. Version 2 files are still read.
constexpr const char* kFormatVersion = "3";
constexpr const char* kOldFormatVersion = "2";

// The vocabulary as a JSON list. A JSON string holds only UTF-8, so a token that is not
// well-formed UTF-8 (a byte token 0x80..0xFF, or a char token that is an invalid byte
// of the training text) is stored as the list of its byte values: ["a", [255], ...].
nlohmann::json vocab_json(const std::vector<std::string>& vocab) {
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& t : vocab) {
    if (is_valid_utf8(t)) {
      list.push_back(t);
    } else {
      nlohmann::json bytes = nlohmann::json::array();
      for (char c : t) bytes.push_back(int(static_cast<unsigned char>(c)));
      list.push_back(bytes);
    }
  }
  return list;
}

// The inverse of vocab_json; throws std::invalid_argument.
std::vector<std::string> vocab_from_json(const nlohmann::json& list) {
  if (!list.is_array()) throw std::invalid_argument("not a JSON list");
  std::vector<std::string> vocab;
  for (const nlohmann::json& t : list) {
    if (t.is_string()) {
      vocab.push_back(t.get<std::string>());
      continue;
    }
    if (!t.is_array() || t.empty()) throw std::invalid_argument("an entry is neither a string nor a list of bytes");
    std::string bytes;
    for (const nlohmann::json& b : t) {
      if (!b.is_number_unsigned() || b.get<uint64_t>() > 255) throw std::invalid_argument("a byte value is not in 0..255");
      bytes.push_back(char(b.get<uint64_t>()));
    }
    vocab.push_back(bytes);
  }
  return vocab;
}

// Copies a stored tensor into `dst`, checking name, shape and dtype.
void restore(const TensorFile& f, const std::string& name, Tensor& dst, const std::string& path) {
  const Tensor& src = f.at(name);
  if (src.shape() != dst.shape() || src.dtype() != dst.dtype())
    throw CheckpointError(path, path + ": tensor '" + name + "' is " + dtype_name(src.dtype()) + shape_str(src.shape()) +
                          ", the configuration needs " + dtype_name(dst.dtype()) + shape_str(dst.shape()));
  std::memcpy(dst.raw(), src.raw(), dst.nbytes());
}

int64_t meta_int(const TensorFile& f, const std::string& key, const std::string& path) {
  const std::string& s = f.meta(key);
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
  }
  if (used == 0 || used != s.size()) throw CheckpointError(path, path + ": metadata '" + key + "' is not an integer");
  return v;
}

double meta_real(const TensorFile& f, const std::string& key, const std::string& path) {
  try {
    return std::stod(f.meta(key));
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception&) {
    throw CheckpointError(path, path + ": metadata '" + key + "' is not a number");
  }
}

TensorFile open_checkpoint(const std::string& path) { return check_run_file(load_safetensors(path), path); }

RunConfig config_of(const TensorFile& f, const std::string& path) {
  try {
    return run_config_from_json(nlohmann::json::parse(f.meta("config")));
  } catch (const CheckpointError&) {
    throw;
  } catch (const nlohmann::json::exception&) {
    throw CheckpointError(path, path + ": the stored configuration is not valid JSON");
  } catch (const std::exception& e) {
    throw CheckpointError(path, path + ": the stored configuration is unusable: " + e.what());
  }
}

// Reads the task's vocabulary from a checkpoint, so its tokenizer is the trained one.
void restore_vocab(RunConfig& cfg, const TensorFile& f, const std::string& path) {
  try {
    cfg.task.vocab = vocab_from_json(nlohmann::json::parse(f.meta("vocab")));
  } catch (const nlohmann::json::exception&) {
    throw CheckpointError(path, path + ": the stored vocabulary is not valid JSON");
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(path, path + ": the stored vocabulary is unusable (" + e.what() + ")");
  }
  if (auto m = f.metadata.find("tokenizer_model"); m != f.metadata.end()) {  // bpe, unigram
    try {
      cfg.task.tokenizer_model = base64_decode(m->second);
    } catch (const std::invalid_argument& e) {
      throw CheckpointError(path, path + ": the stored tokenizer model is corrupt (" + e.what() + ")");
    }
  }
}

}  // namespace

void save_run(const std::string& path, const RunConfig& cfg, const Task& task, Transformer& model, AdamW& opt,
              const RunState& st) {
  TensorFile f;
  for (const auto& [name, p] : model.named_parameters()) f.tensors.emplace_back(name, p.value());
  for (size_t k = 0; k < opt.params().size(); ++k) {
    f.tensors.emplace_back("optim.m." + opt.params()[k].first, opt.m()[k]);
    f.tensors.emplace_back("optim.v." + opt.params()[k].first, opt.v()[k]);
  }
  auto num = [](double x) {
    std::ostringstream os;
    os << std::setprecision(17) << x;
    return os.str();
  };
  f.metadata = {{"format", kFormat},
                {"format_version", kFormatVersion},
                {"config", to_json(cfg).dump()},
                {"task", task.name()},
                {"vocab", vocab_json(task.vocab()).dump()},
                {"step", std::to_string(st.step)},
                {"optim_steps", std::to_string(opt.steps_taken())},
                {"rng_data", st.data_rng.state()},
                {"rng_dropout", model.dropout_rng.state()},
                {"best_error", num(st.best_error)},
                {"best_loss", num(st.best_loss)},
                {"best_step", std::to_string(st.best_step)}};
  if (!task.tokenizer_model().empty())  // bpe, unigram: SentencePiece's model, so eval and sample need no other file
    f.metadata["tokenizer_model"] = base64_encode(task.tokenizer_model());
  save_safetensors(path, f);
}

TensorFile check_run_file(TensorFile f, const std::string& path) {
  auto fmt = f.metadata.find("format");
  if (fmt == f.metadata.end() || fmt->second != kFormat)
    throw CheckpointError(path, path + ": not a minicope run checkpoint (no format '" + kFormat + "' in its metadata)");
  const std::string& ver = f.meta("format_version");
  if (ver != kFormatVersion && ver != kOldFormatVersion)
    throw CheckpointError(path, path + ": checkpoint format version " + ver + "; this minicope reads versions " +
                          kOldFormatVersion + " and " + kFormatVersion);
  if (!f.checksummed) throw CheckpointError(path, path + ": has no checksums (a minicope run checkpoint always has them)");
  return f;
}

// The stored configuration, with its vocabulary (kept apart in the metadata).
RunConfig stored_config(const TensorFile& f, const std::string& path, bool with_vocab) {
  RunConfig cfg = config_of(f, path);
  if (with_vocab) restore_vocab(cfg, f, path);
  return cfg;
}

std::unique_ptr<Task> stored_task(const RunConfig& cfg, const std::string& file) {
  try {
    return make_task(cfg.task);  // may throw for missing data files: the caller reports them
  } catch (const SettingError& e) {  // a stored task option out of range
    throw CheckpointError(file, e.what());
  } catch (const std::invalid_argument& e) {  // a stored vocabulary (or subword model) the tokenizer refuses
    throw CheckpointError(file, file + ": the stored " + (is_subword(cfg.task.tokenizer) ? "tokenizer" : "vocabulary") +
                                    " is unusable (" + e.what() + ")");
  }
}


void restore_weights(const TensorFile& f, const std::string& path, Transformer& model) {
  std::set<std::string> wanted;
  std::set<std::string> have;
  for (const auto& [name, t] : f.tensors) have.insert(name);
  for (auto& [name, p] : model.named_parameters()) {
    if (!have.count(name))
      throw CheckpointError(path, path + ": has no tensor '" + name + "', a parameter of this model (docs/model.md)");
    restore(f, name, p.value(), path);
    wanted.insert(name);
  }
  for (const auto& [name, t] : f.tensors)
    if (!wanted.count(name) && name.rfind("optim.", 0) != 0)
      throw CheckpointError(path, path + ": tensor '" + name + "' is not a parameter of this model (" +
                                      std::to_string(wanted.size()) + " parameters, docs/model.md)");
}

void restore_run(const TensorFile& f, const std::string& path, Transformer& model, AdamW& opt, RunState& st) {
  for (auto& [name, p] : model.named_parameters()) restore(f, name, p.value(), path);
  for (size_t k = 0; k < opt.params().size(); ++k) {
    restore(f, "optim.m." + opt.params()[k].first, opt.m()[k], path);
    restore(f, "optim.v." + opt.params()[k].first, opt.v()[k], path);
  }
  st.step = meta_int(f, "step", path);
  opt.set_steps_taken(meta_int(f, "optim_steps", path));
  st.best_error = meta_real(f, "best_error", path);
  st.best_loss = meta_real(f, "best_loss", path);
  st.best_step = meta_int(f, "best_step", path);
  try {
    st.data_rng.set_state(f.meta("rng_data"));
    model.dropout_rng.set_state(f.meta("rng_dropout"));
  } catch (const std::invalid_argument&) {
    throw CheckpointError(path, path + ": the stored generator states are corrupt");
  }
}

LoadedRun load_run(const std::string& path, int64_t seq, bool with_task) {
  std::string file = path;
  std::error_code ec;  // (a symbolic link loop is then "cannot be read", below)
  if (fs::is_directory(path, ec)) {
    file = (fs::path(path) / "best.safetensors").string();
    if (!fs::exists(fs::symlink_status(file, ec))) file = (fs::path(path) / "last.safetensors").string();
    if (!fs::exists(fs::symlink_status(file, ec))) throw FileError(path, path + ": holds no best.safetensors or last.safetensors");
  }
  return run_from_file(open_checkpoint(file), file, seq, with_task);
}

LoadedRun run_from_file(TensorFile f, const std::string& file, int64_t seq, bool with_task) {
  LoadedRun r;
  r.file = std::move(f);
  r.cfg = stored_config(r.file, file);
  if (seq > 0) {
    if (r.cfg.task.name != "text") throw SettingError("seq", "--seq applies to text runs (a synthetic task's sequences are fixed)");
    if (r.cfg.model.pe == "abs" && seq > r.cfg.model.seq)
      throw SettingError("seq", "--seq " + std::to_string(seq) + ": abs position embeddings cover only " +
                                  std::to_string(r.cfg.model.seq) + " positions (rel, rope and cope run longer)");
  }
  if (r.cfg.task.name == "text") r.cfg.task.context = seq > 0 ? seq : r.cfg.model.seq;
  if (r.cfg.task.cut_left) r.cfg.task.context = r.cfg.model.seq;  // counting: cut to the model's context
  r.cfg.task.evaluate_only = true;  // a loaded run is evaluated (or sampled), not trained
  try {
    r.cfg.model.validate();
  } catch (const std::exception& e) {
    throw CheckpointError(file, file + ": the stored configuration is unusable: " + e.what());
  }
  if (int64_t(r.cfg.task.vocab.size()) != r.cfg.model.vocab)
    throw CheckpointError(file, file + ": the stored vocabulary has " + std::to_string(r.cfg.task.vocab.size()) +
                          " tokens, the model " + std::to_string(r.cfg.model.vocab));
  if (r.cfg.task.name == "text") {  // a forged or damaged token list is the file's fault: name it
    try {
      Tokenizer::from_tokens(r.cfg.task.tokenizer, r.cfg.task.vocab, r.cfg.task.tokenizer_model);
    } catch (const std::invalid_argument& e) {
      throw CheckpointError(file, file + ": the stored " + (is_subword(r.cfg.task.tokenizer) ? "tokenizer" : "vocabulary") +
                                      " is unusable (" + e.what() + ")");
    }
  }
  if (with_task) r.task = stored_task(r.cfg, file);
  if (r.task && int64_t(r.task->vocab().size()) != r.cfg.model.vocab)
    throw CheckpointError(file, file + ": the stored vocabulary has " + std::to_string(r.cfg.model.vocab) + " tokens, the task " +
                          std::to_string(r.task->vocab().size()));
  r.model = std::make_unique<Transformer>(r.cfg.model, uint64_t(r.cfg.seed));
  for (auto& [name, p] : r.model->named_parameters()) restore(r.file, name, p.value(), file);
  r.step = meta_int(r.file, "step", file);
  return r;
}

}  // namespace mc
