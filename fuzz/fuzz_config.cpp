// fuzz_config.cpp — the --config reader. Any text must be applied or refused with
// a FileError naming it; a configuration it accepts must survive the trip through
// the JSON a checkpoint stores (to_json, then run_config_from_json) unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  mc::RunConfig c;
  try {
    mc::apply_config_text(c, text, "fuzz.json");
  } catch (const mc::FileError& e) {  // every refusal names the file
    if (e.path != "fuzz.json") std::abort();
    return 0;
  }
  const nlohmann::json stored = mc::to_json(c);
  const mc::RunConfig back = mc::run_config_from_json(stored);  // must not throw
  if (mc::to_json(back) != stored) std::abort();
  return 0;
}
