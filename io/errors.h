// errors.h — what went wrong, said by the type of what is thrown, and the exit status
// each kind of failure ends the program with.
//
// Every failure reaches run_cli (cli/cli.cpp), which prints it as one line
// `minicope: error: MESSAGE` and exits with exit_status(e):
//
//   2      a usage mistake: a flag whose value cannot be used, or a setting that does not
//          fit the task or the other settings (SettingError), or a command called wrongly
//          (cli's UsageError); the line ends with a pointer to --help
//   1      anything else: a file that is missing, damaged or holds a bad value (a
//          --config file, a checkpoint: FileError, CheckpointError), a run that failed,
//          any other exception
//   128+N  training stopped by signal N after saving (train's Interrupted)
//   a rank's status, printed by the rank that failed (dist's QuietFailure)
//
// The type is chosen where the error is thrown, which is the one place that knows what
// the error is about; nothing parses a message to classify it.
#pragma once
#include <exception>
#include <stdexcept>
#include <string>

namespace mc {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual int exit_status() const { return 1; }
  // The message ends with "(see 'minicope CMD --help')".
  virtual bool points_to_help() const { return false; }
  // Nothing is printed: what happened has been said already (by the trainer, or by the
  // rank that failed).
  virtual bool said() const { return false; }
};

// A setting whose value cannot be used or does not fit the task or the other settings.
// `setting` is its name as a flag without "--" (for a run's settings also its config
// key: "seq"; train's own flags such as "out" have none); the message is written as the
// user gave it ("--seq 10 is shorter than ...").
class SettingError : public Error {
 public:
  SettingError(std::string name, const std::string& message) : Error(message), setting(std::move(name)) {}
  int exit_status() const override { return 2; }
  bool points_to_help() const override { return true; }
  std::string setting;
};

// A file that cannot be read, written or used; the message starts with its path.
class FileError : public Error {
 public:
  FileError(std::string file, const std::string& message) : Error(message), path(std::move(file)) {}
  std::string path;
};

// A file that is not a valid checkpoint (io/safetensors.h, train/run_checkpoint.h).
class CheckpointError : public FileError {
 public:
  using FileError::FileError;
};

// The exit status of a failure: e's own for an Error, 1 for any other exception.
int exit_status(const std::exception& e);
// The same for a captured exception (dist/ranks.h agrees on it across ranks).
int exit_status(const std::exception_ptr& e);

}  // namespace mc
