// files.h — reading a whole input file, with the error every reader reports the same way.
#pragma once
#include <string>

namespace mc {

// The bytes of the file at `path`; on failure, "" with `why` set to what is wrong:
// "is a folder, expected KIND", "cannot be read (missing or no permission)" or
// "read failed". `why` is empty on success.
std::string read_file_or_why(const std::string& path, const std::string& kind, std::string& why);

// The same, throwing Error(prefix + path + ": " + why) on failure, so each reader keeps
// its own exception type (CheckpointError, std::invalid_argument for --config, ...).
template <class Error>
std::string read_whole_file(const std::string& path, const std::string& kind, const std::string& prefix = "") {
  std::string why;
  std::string bytes = read_file_or_why(path, kind, why);
  if (!why.empty()) throw Error(prefix + path + ": " + why);
  return bytes;
}

}  // namespace mc
