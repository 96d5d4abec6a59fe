// files.cpp — see files.h.
#include "train/files.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace mc {

std::string read_file_or_why(const std::string& path, const std::string& kind, std::string& why) {
  why.clear();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    why = "is a folder, expected " + kind;
    return "";
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot be read (missing or no permission)";
    return "";
  }
  std::string bytes;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size >= 0) {  // a regular file: one read of its known size
    bytes.resize(size_t(size));
    in.seekg(0);
    in.read(bytes.data(), size);
  } else {  // a pipe or the like
    in.clear();
    std::ostringstream all;
    all << in.rdbuf();
    bytes = all.str();
  }
  if (in.bad() || (size >= 0 && in.gcount() != size)) {
    why = "read failed";
    return "";
  }
  return bytes;
}

}  // namespace mc
