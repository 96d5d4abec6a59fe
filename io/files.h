// files.h — reading a whole input file, with the error every reader reports the same
// way; and JSON as minicope's inputs take it.
#pragma once
#include <nlohmann/json.hpp>

#include "io/errors.h"
#include <stdexcept>
#include <string>

namespace mc {

// The bytes of the regular file at `path`; on failure, "" with `why` set to what is
// wrong: "cannot be read (no such file)", "is a folder, expected KIND", "is not a
// regular file (a FIFO), expected KIND" or "read failed (...)". `why` is empty on
// success. A FIFO, device or socket is refused without reading from it, so a FIFO with
// no writer cannot hang the program, nor /dev/zero fill its memory.
std::string read_file_or_why(const std::string& path, const std::string& kind, std::string& why);

// The same, throwing Error(path, prefix + path + ": " + why) on failure: a FileError, or
// the reader's own kind of it (CheckpointError).
template <class Error = FileError>
std::string read_whole_file(const std::string& path, const std::string& kind, const std::string& prefix = "") {
  std::string why;
  std::string bytes = read_file_or_why(path, kind, why);
  if (!why.empty()) throw Error(path, prefix + path + ": " + why);
  return bytes;
}

// Writes `text` to a new file beside `path` (PATH.XXXXXX) and renames it over `path`: a
// failure (runtime_error naming the path) leaves any earlier file whole, and no other
// file is touched. Whether `path` may be replaced is the caller's decision.
void write_file_atomically(const std::string& path, const std::string& text);

// 's' for a message: in single quotes, with control bytes (a NUL would cut the
// message short) written as \xNN.
std::string quoted(const std::string& s);

// A key given twice in one JSON object. JSON lets the last one win; in a config file or
// a data line that is a mistake, refused everywhere.
struct DuplicateKey : std::runtime_error {
  explicit DuplicateKey(const std::string& k) : std::runtime_error("the key '" + k + "' is given twice"), key(k) {}
  std::string key;
};

// nlohmann::json::parse (whole text, no trailing garbage), refusing duplicate keys:
// throws DuplicateKey, or nlohmann::json::exception as parse does.
nlohmann::json parse_json_no_duplicates(const std::string& text);

}  // namespace mc
