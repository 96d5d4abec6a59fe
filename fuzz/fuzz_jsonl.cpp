// fuzz_jsonl.cpp — the two JSON-lines readers: the official counting files and a run's
// metrics.jsonl. Any text must be read or refused with a FileError naming the file (and the line).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/errors.h"
#include "io/metrics_file.h"
#include "tasks/counting.h"
#include "tasks/task.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    for (const mc::CountingRecord& r : mc::parse_counting_jsonl(text, "fuzz.jsonl"))
      if (r.answer.find_first_not_of(" \t") == std::string::npos) std::abort();  // refused, never kept
  } catch (const mc::FileError& e) {  // the error names the file, as its message does
    if (e.path != "fuzz.jsonl" || std::string(e.what()).rfind("fuzz.jsonl:", 0) != 0) std::abort();
  }
  try {
    const mc::RunMetrics m = mc::parse_metrics(text, "metrics.jsonl");
    for (size_t i = 1; i < m.train.size(); ++i)
      if (m.train[i].step <= m.train[i - 1].step) std::abort();  // sorted, one point per step
  } catch (const mc::FileError& e) {
    if (e.path != "metrics.jsonl" || std::string(e.what()).rfind("metrics.jsonl", 0) != 0) std::abort();
  }
  return 0;
}
