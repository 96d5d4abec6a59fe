// strings.h — joining words for a message or a help line.
#pragma once
#include <string>

namespace mc {

// The items of `items` (strings, or what a std::string can be built from) with `sep`
// between them: join({"a", "b"}, ", ") == "a, b".
template <class Range>
std::string join(const Range& items, const std::string& sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += sep;
    out += item;
    first = false;
  }
  return out;
}

}  // namespace mc
