// fuzz_checkpoint.cpp — the safetensors reader and what a run checkpoint's metadata
// holds (the run's configuration, its vocabulary). Any input must end in a result or a
// CheckpointError (the reader's own); a crash, a hang, a sanitizer report or another
// exception type is a bug.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "io/safetensors.h"
#include "config/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  mc::TensorFile f;
  try {
    f = mc::parse_safetensors(bytes, "fuzz.safetensors");
  } catch (const mc::CheckpointError&) {
    return 0;
  }
  // A file that parses: its tensors are whole, and the stored configuration either reads
  // back as a valid run configuration or is refused with an exception.
  for (const auto& [name, t] : f.tensors) (void)t.nbytes();
  const auto cfg = f.metadata.find("config");
  if (cfg != f.metadata.end()) {
    try {
      mc::RunConfig c = mc::run_config_from_json(nlohmann::json::parse(cfg->second));
      c.model.validate();
    } catch (const std::invalid_argument&) {  // the stored JSON is not a configuration
    } catch (const mc::SettingError&) {       // a stored setting out of range
    } catch (const nlohmann::json::exception&) {
    }
  }
  return 0;
}
