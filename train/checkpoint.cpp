#include "train/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
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
      throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
    }
    buf += w;
    n -= size_t(w);
  }
}

}  // namespace

const Tensor& TensorFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw CheckpointError("the checkpoint has no tensor '" + name + "'");
}

const std::string& TensorFile::meta(const std::string& key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) throw CheckpointError("the checkpoint's metadata has no '" + key + "'");
  return it->second;
}

void save_safetensors(const std::string& path, const TensorFile& file) {
  nlohmann::ordered_json header;
  uint64_t offset = 0;
  for (const auto& [name, t] : file.tensors) {
    header[name] = {{"dtype", dtype_tag(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : file.metadata) meta[k] = v;
  header["__metadata__"] = meta;
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // align the data to 8 bytes
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(tmp + ": cannot create: " + std::strerror(errno));
  try {
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t((uint64_t(text.size()) >> (8 * i)) & 0xff);
    write_all(fd, reinterpret_cast<const char*>(len), 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const auto& [name, t] : file.tensors) write_all(fd, static_cast<const char*>(t.raw()), t.nbytes(), tmp);
    if (::fsync(fd) != 0) throw std::runtime_error(tmp + ": fsync failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(tmp + ": close failed: " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": rename failed: " + std::strerror(errno));
  }
  // make the rename itself durable
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

TensorFile load_safetensors(const std::string& path) {
  auto fail = [&](const std::string& why) -> CheckpointError { return CheckpointError(path + ": " + why); };
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) throw fail("is a folder, expected a .safetensors file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot be read (missing or no permission)");
  in.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(in.tellg());
  in.seekg(0);
  if (size < 8) throw fail("truncated: " + std::to_string(size) + " bytes, not even a header length");
  uint8_t len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(len[i]) << (8 * i);
  if (n > size - 8) throw fail("truncated or corrupt: the header claims " + std::to_string(n) + " bytes, the file has " + std::to_string(size - 8) + " after the length");
  if (n > (uint64_t(100) << 20)) throw fail("corrupt: a header of " + std::to_string(n) + " bytes");
  std::string text(n, '\0');
  in.read(text.data(), std::streamsize(n));
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
  for (auto& [b, idx] : order) {
    Tensor& t = file.tensors[idx].second;
    in.seekg(std::streamoff(data_start + b));
    in.read(static_cast<char*>(t.raw()), std::streamsize(t.nbytes()));
    if (!in) throw fail("truncated while reading tensor '" + file.tensors[idx].first + "'");
  }
  return file;
}

}  // namespace mc
