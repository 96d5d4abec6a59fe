// trace.cpp — `train --trace` (trace.h).
#include "train/trace.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "io/errors.h"

namespace mc {

namespace {

// A [R,L] tensor of i64 (ids, starts) or f32 (mask) as one flat JSON array.
template <typename T>
void append_values(std::string& s, const Tensor& t) {
  const T* p = t.data<T>();
  s += '[';
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i) s += ',';
    if constexpr (std::is_integral_v<T>) s += std::to_string(p[i]);
    else s += nlohmann::json(p[i]).dump();  // shortest form that reads back to the same float
  }
  s += ']';
}

}  // namespace

StepTrace::StepTrace(const std::string& dir)
    : path_((std::filesystem::path(dir) / "trace.jsonl").string()), out_(path_, std::ios::trunc) {
  if (!out_) throw FileError(path_, path_ + ": cannot be written");
}

void StepTrace::write(int64_t step, const TokenBatch& b, double loss, double grad_norm, double lr) {
  std::string s = nlohmann::json{{"step", step}, {"lr", lr}, {"loss", loss}, {"grad_norm", grad_norm},
                                 {"rows", b.inputs.size(0)}, {"cols", b.inputs.size(1)}}
                      .dump();
  s.pop_back();  // the object stays open for the arrays
  s += ",\"inputs\":";
  append_values<int64_t>(s, b.inputs);
  s += ",\"targets\":";
  append_values<int64_t>(s, b.targets);
  s += ",\"mask\":";
  if (b.mask.dtype() == DType::f64) append_values<double>(s, b.mask);
  else append_values<float>(s, b.mask);
  s += ",\"starts\":";
  if (b.starts.defined()) append_values<int64_t>(s, b.starts);
  else s += "null";
  s += "}\n";
  out_ << s << std::flush;
  if (!out_) throw FileError(path_, path_ + ": cannot be written (disk full?)");
}

}  // namespace mc
