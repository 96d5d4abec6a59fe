// run_folder.cpp — see run_folder.h.
#include "train/run_folder.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

namespace mc {

namespace fs = std::filesystem;

RunFolder::~RunFolder() {
  if (fd_ >= 0) ::close(fd_);
}

void RunFolder::check() {
  std::error_code ec;
  const fs::file_status st = fs::status(dir_, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw FileError(out_, "--out " + out_ + ": cannot be used (" + ec.message() + ")");
  existed_ = fs::exists(st);
  if (existed_ && !fs::is_directory(st)) throw SettingError("out", "--out " + out_ + ": exists and is not a folder");
  if (resume_) {
    if (!existed_ || !present("last.safetensors"))
      throw SettingError("resume", "--resume: " + (dir_ / "last.safetensors").string() + " does not exist (nothing to resume)");
  }
  if (existed_) lock();
  if (!resume_) refuse_a_run();
}

void RunFolder::prepare(const RunConfig& cfg, std::ofstream& metrics) {
  std::error_code ec;
  if (!existed_) {
    made_dir_ = fs::create_directories(dir_, ec);
    if (ec) throw FileError(out_, "--out " + out_ + ": cannot create the folder (" + ec.message() + ")");
  }
  try {
    if (!existed_) {
      lock();
      if (!resume_) refuse_a_run();  // another run may have started in it since check()
    }
    for (const char* name : kRunFiles) must_be_file_or_absent(name);
    for (const char* name : kScratchFiles) must_be_file_or_absent(name);
    // Can files be created here? (A read-only folder fails now, not at the first save.)
    const std::string probe = (dir_ / "last.safetensors.tmp").string();
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw FileError(out_, "--out " + out_ + ": cannot write in the folder (" + std::strerror(errno) + ")");
    ::close(fd);
    ::unlink(probe.c_str());
    const fs::path mpath = dir_ / "metrics.jsonl";
    made_metrics_ = !present("metrics.jsonl");
    metrics.open(mpath, resume_ ? std::ios::app : std::ios::trunc);
    if (!metrics) throw FileError(mpath.string(), mpath.string() + ": cannot be written");
    write_config(cfg);  // for people (checkpoints carry their own copy); last, atomically
  } catch (...) {
    metrics.close();
    undo();
    throw;
  }
}

bool RunFolder::present(const char* name) const {
  std::error_code ec;
  return fs::exists(fs::symlink_status(dir_ / name, ec));
}

void RunFolder::refuse_a_run() const {
  for (const char* name : kRunFiles)
    if (present(name)) {
      if (!present("last.safetensors"))  // it stopped (or was killed) before its first checkpoint
        throw SettingError("out", "--out " + out_ + " holds a run that saved no checkpoint (" + name +
                                    "); remove the folder, or choose another");
      throw SettingError("out", "--out " + out_ + " already holds a run (" + name +
                                  "); pass --resume to continue it, or choose another folder");
    }
}

void RunFolder::must_be_file_or_absent(const char* name) const {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir_ / name, ec);
  if (fs::exists(st) && !fs::is_regular_file(st))
    throw FileError((dir_ / name).string(), (dir_ / name).string() + ": is in the way (not a regular file); remove it");
}

void RunFolder::lock() {
  fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) throw FileError(out_, "--out " + out_ + ": cannot be opened (" + std::strerror(errno) + ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int why = errno;
    ::close(fd_);
    fd_ = -1;
    // A file system without flock on folders (NFS emulates it with fcntl locks, which
    // a folder cannot take; Lustre without -o flock): the run goes on unlocked.
    if (why == EBADF || why == ENOLCK || why == ENOSYS || why == EOPNOTSUPP || why == EINVAL) return;
    if (why == EWOULDBLOCK)
      throw FileError(out_, "--out " + out_ + ": another minicope train is running in this folder; wait for it to "
                               "finish, or choose another folder");
    throw FileError(out_, "--out " + out_ + ": cannot be locked (" + std::strerror(why) + ")");
  }
}

void RunFolder::write_config(const RunConfig& cfg) const {
  const fs::path tmp = dir_ / "config.json.tmp", path = dir_ / "config.json";
  {
    std::ofstream cj(tmp, std::ios::trunc);
    cj << settings_json(cfg).dump(2) << "\n";
    cj.flush();
    if (!cj) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw FileError(path.string(), path.string() + ": cannot be written");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw FileError(path.string(), path.string() + ": cannot be written (" + ec.message() + ")");
  }
}

void RunFolder::undo() const {
  if (resume_) return;
  std::error_code ec;
  if (made_metrics_) fs::remove(dir_ / "metrics.jsonl", ec);
  if (made_dir_) fs::remove(dir_, ec);  // only if empty (its parents, if made too, stay)
}

}  // namespace mc
