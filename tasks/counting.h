// counting.h — the Counting task's data files: the official JSONL format.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mc {

// The official counting format: one JSON object per line with string fields context,
// question and answer. Throws FileError "FILE:LINE: ..." on a bad line.
struct CountingRecord {
  std::string context, question, answer;
  int64_t line = 0;  // where it was read, for messages
};
std::vector<CountingRecord> read_counting_jsonl(const std::string& path);
// The same from the file's text; `path` names it in messages.
std::vector<CountingRecord> parse_counting_jsonl(const std::string& text, const std::string& path);

}  // namespace mc
