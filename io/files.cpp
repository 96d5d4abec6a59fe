// files.cpp — see files.h.
#include "io/files.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

namespace mc {

namespace {

// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string read_file_or_why(const std::string& path, const std::string& kind, std::string& why) {
  why.clear();
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever. A regular
  // file ignores the flag; anything else is refused below, before a read can block.
  const Fd f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (f.fd < 0) {
    why = errno == ENOENT ? "cannot be read (no such file)" : "cannot be read (" + std::string(std::strerror(errno)) + ")";
    return "";
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    why = "cannot be read (" + std::string(std::strerror(errno)) + ")";
    return "";
  }
  if (S_ISDIR(st.st_mode)) {
    why = "is a folder, expected " + kind;
    return "";
  }
  if (!S_ISREG(st.st_mode)) {
    why = std::string("is not a regular file (") +
          (S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "a socket") +
          "), expected " + kind;
    return "";
  }
  std::string bytes(size_t(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {  // one read of its known size, in as many calls as it takes
    const ssize_t n = ::read(f.fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = "read failed (" + std::string(std::strerror(errno)) + ")";
      return "";
    }
    if (n == 0) break;  // shrank while being read
    got += size_t(n);
  }
  if (got != bytes.size()) {
    why = "read failed (the file changed size while being read)";
    return "";
  }
  return bytes;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", u);
      out += b;
    } else {
      out += c;
    }
  }
  return out + "'";
}

nlohmann::json parse_json_no_duplicates(const std::string& text) {
  std::vector<std::vector<std::string>> keys_at;  // the keys of each open object
  std::string twice;
  bool found = false;
  const auto watch = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) keys_at.emplace_back();
    if (ev == E::object_end && !keys_at.empty()) keys_at.pop_back();
    if (ev == E::key && !keys_at.empty() && !found) {
      const std::string k = parsed.get<std::string>();
      auto& seen = keys_at.back();
      if (std::find(seen.begin(), seen.end(), k) != seen.end()) found = true, twice = k;
      else seen.push_back(k);
    }
    return true;
  };
  nlohmann::json j = nlohmann::json::parse(text, watch);
  if (found) throw DuplicateKey(twice);
  return j;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw std::runtime_error(path + ": cannot be written (" + std::strerror(errno) + ")");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const int why = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(path + ": write failed (" + std::strerror(why) + ")");
    }
    done += size_t(w);
  }
  const mode_t mask = ::umask(0);  // mkstemp makes it private; the file gets the usual mode
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  if (::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int why = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": cannot be written (" + std::strerror(why) + ")");
  }
}

}  // namespace mc
