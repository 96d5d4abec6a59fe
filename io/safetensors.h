// safetensors.h — safetensors files: read, validate, and write atomically.
//
// Layout (the format PyTorch and Hugging Face read): 8 bytes little-endian N, then N
// bytes of JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
// ..., "__metadata__": {"key": "string", ...}}, then the tensor bytes. docs/checkpoint.md
// lists minicope's tensor names and metadata keys.
#pragma once
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "io/errors.h"
#include "io/hash.h"
#include "tensor/tensor.h"

namespace mc {


struct TensorFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;
  bool checksummed = false;  // loaded: the file carried checksums, and they matched
  std::string source;        // loaded: the path it was read from (named by at and meta)
  const Tensor& at(const std::string& name) const;       // throws CheckpointError
  const std::string& meta(const std::string& key) const; // throws CheckpointError
};

// The metadata key of the checksums: a JSON object mapping each tensor's name, and
// "__metadata__" (the other metadata entries, sorted, as key NUL value NUL), to the
// 64-bit FNV-1a hash of its bytes in hex. Other programs ignore it.
constexpr const char* kChecksumsKey = "checksums";


// Writes to PATH.tmp, flushes and fsyncs it, then renames it over PATH: a crash or a
// full disk leaves the previous file intact. Adds the checksums to the metadata.
// Throws FileError on failure.
void save_safetensors(const std::string& path, const TensorFile& file);
// Reads and validates every offset, dtype and shape, and the checksums when the file
// has them; throws CheckpointError naming the file and what is wrong.
TensorFile load_safetensors(const std::string& path);
// The same from the file's bytes; `path` names it in messages.
TensorFile parse_safetensors(const std::string& bytes, const std::string& path);

}  // namespace mc
