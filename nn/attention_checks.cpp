// attention_checks.cpp — what every form of attention shares outside its kernel: the
// checks of its inputs (shapes, dtypes, options, packed starts) and the rope table.
#include <cmath>

#include "nn/attention.h"

namespace mc {

Tensor rope_cos_sin(int64_t L, int64_t D, double base, DType dtype, bool want_sin) {
  const int64_t half = D / 2;
  std::vector<double> v(size_t(L * half));
  for (int64_t t = 0; t < L; ++t)
    for (int64_t d = 0; d < half; ++d) {
      const double theta = static_cast<double>(t) * std::pow(base, -2.0 * static_cast<double>(d) / static_cast<double>(D));
      v[size_t(t * half + d)] = want_sin ? std::sin(theta) : std::cos(theta);
    }
  return Tensor::from(v, {L, half}, dtype);
}

void check_attention(const AttentionInputs& in, const AttentionSpec& spec) {
  auto fail = [](const std::string& why) { throw ShapeError("attention: " + why); };
  if (!in.q.defined() || !in.k.defined() || !in.v.defined()) fail("q, k and v are required");
  const Shape& s = in.q.shape();
  if (s.size() != 3) fail("q must be [B,L,C], got " + shape_str(s));
  if (in.k.shape() != s || in.v.shape() != s)
    fail("q, k, v shapes differ: " + shape_str(s) + ", " + shape_str(in.k.shape()) + ", " + shape_str(in.v.shape()));
  if (spec.heads < 1 || s[2] % spec.heads != 0)
    fail("width " + std::to_string(s[2]) + " is not divisible by " + std::to_string(spec.heads) + " heads");
  const int64_t D = s[2] / spec.heads;
  if (!(in.dropout >= 0.0 && in.dropout < 1.0)) fail("dropout must be in [0, 1), got " + std::to_string(in.dropout));
  const DType dt = in.q.dtype();
  auto same_dtype = [&](const Var& x, const char* name) {
    if (x.dtype() != dt) fail(std::string(name) + " is " + dtype_name(x.dtype()) + ", q is " + dtype_name(dt));
  };
  same_dtype(in.k, "k");
  same_dtype(in.v, "v");
  if (spec.cope) {
    if (spec.npos < 1) fail("npos must be at least 1, got " + std::to_string(spec.npos));
    if (!in.e.defined() || in.e.shape() != Shape{D, spec.npos})
      fail("cope needs e of shape [" + std::to_string(D) + "," + std::to_string(spec.npos) + "]" +
           (in.e.defined() ? ", got " + shape_str(in.e.shape()) : ""));
    same_dtype(in.e, "e");
    if (spec.gates == GateSource::sep_key) {
      if (!in.gate_k.defined() || in.gate_k.shape() != s)
        fail("gates from separate keys need gate_k of shape " + shape_str(s));
      same_dtype(in.gate_k, "gate_k");
    }
  }
  if (spec.rel) {
    if (!in.r.defined() || in.r.shape().size() != 2 || in.r.size(0) != D || in.r.size(1) < 1)
      fail("rel needs r of shape [" + std::to_string(D) + ",nrel] with nrel >= 1" +
           (in.r.defined() ? ", got " + shape_str(in.r.shape()) : ""));
    same_dtype(in.r, "r");
  }
  if (spec.rope && D % 2 != 0) fail("rope needs an even head size, got " + std::to_string(D));
  if (in.starts.defined()) check_starts(in.starts, s[0], s[1]);
}

void check_starts(const Tensor& starts, int64_t B, int64_t L) {
  if (starts.dtype() != DType::i64 || starts.shape() != Shape{B, L})
    throw ShapeError("attention: starts must be [" + std::to_string(B) + "," + std::to_string(L) + "] i64, got " +
                     dtype_name(starts.dtype()) + shape_str(starts.shape()));
  const int64_t* st = starts.data<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t) {
      const int64_t x = st[b * L + t];
      if (x != t && (t == 0 || x != st[b * L + t - 1]))
        throw ShapeError("attention: starts[" + std::to_string(b) + "," + std::to_string(t) + "] is " +
                         std::to_string(x) + "; it must be " + std::to_string(t) +
                         (t ? " or starts[" + std::to_string(b) + "," + std::to_string(t - 1) + "]" : ""));
    }
}

}  // namespace mc
