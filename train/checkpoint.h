// checkpoint.h — safetensors files: read, validate, and write atomically.
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

#include "tensor/tensor.h"

namespace mc {

// A file that is not a valid checkpoint: the message names the file and the problem.
struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TensorFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;
  const Tensor& at(const std::string& name) const;       // throws CheckpointError
  const std::string& meta(const std::string& key) const; // throws CheckpointError
};

// Writes to PATH.tmp, flushes and fsyncs it, then renames it over PATH: a crash or a
// full disk leaves the previous file intact. Throws std::runtime_error on failure.
void save_safetensors(const std::string& path, const TensorFile& file);
// Reads and validates every offset, dtype and shape; throws CheckpointError.
TensorFile load_safetensors(const std::string& path);

}  // namespace mc
