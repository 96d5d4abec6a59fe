// run_folder.h — a training run's folder: what counts as a run, the lock that keeps a
// second run out, and the checks that come before the first write.
#pragma once
#include <filesystem>
#include <fstream>
#include <string>

#include "config/run_config.h"

namespace mc {

// The files of a run. A folder holding any of them holds a run: a new run will not
// start in it (it would truncate them), only --resume continues it.
inline const char* const kRunFiles[] = {"last.safetensors", "best.safetensors", "metrics.jsonl", "config.json"};
// The names a run writes before renaming them into place; each must be free for it.
inline const char* const kScratchFiles[] = {"last.safetensors.tmp", "best.safetensors.tmp", "config.json.tmp"};

// Rank 0's hold on the run folder: it checks the folder, locks it for the whole run (an
// advisory flock on the folder itself, released when the process ends however it ends),
// and makes sure before the first write that every write the run will make can succeed,
// so that a run that cannot start changes nothing on disk.
class RunFolder {
 public:
  RunFolder(const std::string& out, bool resume) : dir_(out), out_(out), resume_(resume) {}
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;
  ~RunFolder();  // releases the lock

  // Before anything is read: the folder is a folder, holds a run to resume (or none for
  // a new run), and no other run holds it. Writes nothing.
  void check();

  // After the run is known to fit (settings, data, memory), before training: creates the
  // folder, checks that each file the run writes can be written, opens metrics.jsonl and
  // writes config.json. On failure a new run removes what it made.
  void prepare(const RunConfig& cfg, std::ofstream& metrics);

 private:
  bool present(const char* name) const;
  void refuse_a_run() const;
  void must_be_file_or_absent(const char* name) const;
  void lock();
  void write_config(const RunConfig& cfg) const;
  // A new run that failed to start removes the files it made (and the folder, if it
  // made it and it is empty); a resumed run has changed nothing yet.
  void undo() const;

  std::filesystem::path dir_;
  std::string out_;
  bool resume_;
  bool existed_ = false, made_dir_ = false, made_metrics_ = false;
  int fd_ = -1;
};

}  // namespace mc
