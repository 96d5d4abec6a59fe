// safetensors.cpp — the safetensors reader and writer (safetensors.h).
#include "io/safetensors.h"
#include "io/files.h"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

namespace mc {

namespace {

const char* dtype_tag(DType d) { return d == DType::f32 ? "F32" : d == DType::f64 ? "F64" : "I64"; }

// Writes all of buf to fd, or throws naming the path.
void write_all(int fd, const char* buf, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw FileError(path, path + ": write failed: " + std::strerror(errno));
    }
    buf += w;
    n -= size_t(w);
  }
}

std::string hex64(uint64_t h) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

// The checksum of the metadata: every entry but the checksums, in key order.
std::string metadata_checksum(const std::map<std::string, std::string>& meta) {
  uint64_t h = fnv1a64(nullptr, 0);
  for (const auto& [k, v] : meta) {
    if (k == kChecksumsKey) continue;
    h = fnv1a64(k.data(), k.size() + 1, h);  // with the string's NUL
    h = fnv1a64(v.data(), v.size() + 1, h);
  }
  return hex64(h);
}

}  // namespace

const Tensor& TensorFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw CheckpointError(source, "the checkpoint has no tensor '" + name + "'");
}

const std::string& TensorFile::meta(const std::string& key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) throw CheckpointError(source, "the checkpoint's metadata has no '" + key + "'");
  return it->second;
}

namespace {

// Writes PATH.tmp and renames it over PATH (see save_safetensors).
void save_unchecked(const std::string& path, const TensorFile& file) {
  nlohmann::ordered_json header;
  uint64_t offset = 0;
  for (const auto& [name, t] : file.tensors) {
    header[name] = {{"dtype", dtype_tag(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : file.metadata)
    if (k != kChecksumsKey) meta[k] = v;
  nlohmann::ordered_json sums = nlohmann::ordered_json::object();
  for (const auto& [name, t] : file.tensors) sums[name] = hex64(fnv1a64(t.raw(), t.nbytes()));
  sums["__metadata__"] = metadata_checksum(file.metadata);
  meta[kChecksumsKey] = sums.dump();
  header["__metadata__"] = meta;
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // align the data to 8 bytes
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw FileError(tmp, tmp + ": cannot create: " + std::strerror(errno));
  try {
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t((uint64_t(text.size()) >> (8 * i)) & 0xff);
    write_all(fd, reinterpret_cast<const char*>(len), 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const auto& [name, t] : file.tensors) write_all(fd, static_cast<const char*>(t.raw()), t.nbytes(), tmp);
    if (::fsync(fd) != 0) throw FileError(tmp, tmp + ": fsync failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    std::remove(tmp.c_str());
    throw FileError(tmp, tmp + ": close failed: " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw FileError(path, path + ": rename failed: " + std::strerror(errno));
  }
  // make the rename itself durable
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

void save_safetensors(const std::string& path, const TensorFile& file) {
  try {
    save_unchecked(path, file);
  } catch (const std::runtime_error& e) {
    throw FileError(path, std::string(e.what()) + " (" + path + " was left as it was)");
  }
}


namespace {

template <class Fail>
void verify_checksums(TensorFile& file, const Fail& fail) {
  const auto it = file.metadata.find(kChecksumsKey);
  if (it == file.metadata.end()) return;  // a file from elsewhere: nothing to verify
  nlohmann::json sums;
  try {
    sums = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception&) {
    throw fail("corrupt: the checksums are not valid JSON");
  }
  if (!sums.is_object()) throw fail("corrupt: the checksums are not a JSON object");
  const auto expect = [&](const std::string& name, const std::string& have) {
    const auto s = sums.find(name);
    if (s == sums.end() || !s->is_string()) throw fail("corrupt: no checksum for '" + name + "'");
    if (s->get<std::string>() != have)
      throw fail(name == "__metadata__" ? "damaged: the metadata does not match its checksum"
                                        : "damaged: tensor '" + name + "' does not match its checksum");
  };
  expect("__metadata__", metadata_checksum(file.metadata));
  for (const auto& [name, t] : file.tensors) expect(name, hex64(fnv1a64(t.raw(), t.nbytes())));
  if (sums.size() != file.tensors.size() + 1) throw fail("corrupt: checksums of tensors the file does not hold");
  file.checksummed = true;
}

}  // namespace

TensorFile load_safetensors(const std::string& path) {
  return parse_safetensors(read_whole_file<CheckpointError>(path, "a .safetensors file"), path);
}

TensorFile parse_safetensors(const std::string& bytes, const std::string& path) {
  auto fail = [&](const std::string& why) -> CheckpointError { return CheckpointError(path, path + ": " + why); };
  const uint64_t size = bytes.size();
  if (size < 8) throw fail("truncated: " + std::to_string(size) + " bytes, not even a header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[size_t(i)])) << (8 * i);
  if (n > size - 8) throw fail("truncated or corrupt: the header claims " + std::to_string(n) + " bytes, the file has " + std::to_string(size - 8) + " after the length");
  if (n > (uint64_t(100) << 20)) throw fail("corrupt: a header of " + std::to_string(n) + " bytes");
  const std::string text = bytes.substr(8, size_t(n));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    throw fail("corrupt: the header is not valid JSON");
  }
  if (!header.is_object()) throw fail("corrupt: the header is not a JSON object");
  const uint64_t data_size = size - 8 - n;
  TensorFile file;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  std::vector<std::pair<uint64_t, size_t>> order;  // (begin, index) to read in file order
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) throw fail("corrupt: __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) throw fail("corrupt: metadata '" + m.key() + "' is not a string");
        file.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const auto& e = *it;
    const std::string where = "tensor '" + it.key() + "': ";
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw fail(where + "needs dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) throw fail(where + "dtype is not a string");
    const std::string dt = e["dtype"];
    DType dtype;
    if (dt == "F32") dtype = DType::f32;
    else if (dt == "F64") dtype = DType::f64;
    else if (dt == "I64") dtype = DType::i64;
    else throw fail(where + "unsupported dtype " + dt + " (minicope reads F32, F64, I64)");
    Shape shape;
    if (!e["shape"].is_array()) throw fail(where + "shape is not a list");
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t(1) << 40)) throw fail(where + "bad dimension in shape");
      shape.push_back(int64_t(d.get<uint64_t>()));
      numel *= d.get<uint64_t>();
      if (numel > (uint64_t(1) << 40)) throw fail(where + "shape too large");
    }
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw fail(where + "data_offsets must be two non-negative integers");
    const uint64_t b = off[0], end = off[1];
    if (b > end || end > data_size)
      throw fail(where + "data_offsets [" + std::to_string(b) + ", " + std::to_string(end) + ") point past the " +
                 std::to_string(data_size) + " data bytes (truncated file?)");
    if (end - b != numel * dtype_size(dtype))
      throw fail(where + "data_offsets span " + std::to_string(end - b) + " bytes, the shape needs " +
                 std::to_string(numel * dtype_size(dtype)));
    spans.emplace_back(b, end);
    order.emplace_back(b, file.tensors.size());
    file.tensors.emplace_back(it.key(), Tensor(shape, dtype));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second) throw fail("corrupt: two tensors' data overlap");
  const uint64_t data_start = 8 + n;
  for (auto& [b, idx] : order) {  // every span lies inside the file: checked above
    Tensor& t = file.tensors[idx].second;
    if (t.nbytes() > 0) std::memcpy(t.raw(), bytes.data() + data_start + b, t.nbytes());
  }
  verify_checksums(file, fail);
  file.source = path;
  return file;
}

}  // namespace mc
