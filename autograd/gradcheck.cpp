// gradcheck.cpp — the finite-difference gradient checker (see gradcheck.h).
#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace mc {

namespace {

double l2(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

std::string sci(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2e", v);
  return b;
}

// The index into `shape` of row-major element j.
std::vector<int64_t> unravel(const Shape& shape, size_t j) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = int64_t(j) % shape[d];
    j /= size_t(shape[d]);
  }
  return index;
}

std::string index_str(const std::vector<int64_t>& index) {
  std::string s = "[";
  for (size_t d = 0; d < index.size(); ++d) {
    if (d) s += ',';
    s += std::to_string(index[d]);
  }
  s += ']';
  return s;
}

// L = sum(f(xs) * r), with every input a fresh f64 leaf.
struct Scalarised {
  const VarFunction& f;
  Tensor r;  // the projection, fixed once the output shape is known
  Var loss(const std::vector<Var>& xs) const { return sum(mul(f(xs), Var(r))); }
};

}  // namespace

GradcheckResult gradcheck(const VarFunction& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  GradcheckResult res;
  Generator gen(opt.seed);
  std::vector<Tensor> xs;
  for (const Tensor& t : inputs) xs.push_back(t.to(DType::f64));

  auto leaves = [&](const std::vector<Tensor>& values) {
    std::vector<Var> vs;
    for (const Tensor& t : values) vs.emplace_back(t, true);
    return vs;
  };

  // 1-2. Analytic gradient.
  std::vector<Var> vars = leaves(xs);
  Var y = f(vars);
  if (y.dtype() != DType::f64) {
    res.message = "the function returned " + std::string(dtype_name(y.dtype())) + " for f64 inputs";
    return res;
  }
  Scalarised s{f, Tensor::normal(y.shape(), 0.0, 1.0, gen, DType::f64)};
  Var L = sum(mul(y, Var(s.r)));
  for (VarImpl* v : topological_order(L))
    if (v->node) res.ops.emplace_back(v->node->op);
  std::sort(res.ops.begin(), res.ops.end());
  res.ops.erase(std::unique(res.ops.begin(), res.ops.end()), res.ops.end());
  if (L.requires_grad()) L.backward();
  std::vector<std::vector<double>> analytic;
  for (const Var& v : vars)
    analytic.push_back(v.grad().defined() ? v.grad().to_vector() : std::vector<double>(size_t(v.numel()), 0.0));

  // 3. Numeric gradient, one element at a time.
  std::vector<std::vector<double>> numeric(xs.size());
  double numeric_sq = 0.0;  // squared norm of the whole numeric gradient
  for (size_t k = 0; k < xs.size(); ++k) {
    numeric[k].resize(size_t(xs[k].numel()));
    for (int64_t j = 0; j < xs[k].numel(); ++j) {
      double* p = xs[k].data<double>() + j;
      const double saved = *p;
      NoGradGuard no_grad;
      std::vector<Var> probe;
      for (const Tensor& t : xs) probe.emplace_back(t, false);
      *p = saved + opt.step;
      const double up = s.loss(probe).item();
      *p = saved - opt.step;
      const double down = s.loss(probe).item();
      *p = saved;
      numeric[k][size_t(j)] = (up - down) / (2 * opt.step);
      numeric_sq += numeric[k][size_t(j)] * numeric[k][size_t(j)];
    }
  }
  // An input whose true gradient is zero (a key bias: softmax ignores a constant added
  // to a row of logits) is judged against a thousandth of the whole gradient's scale.
  const double floor = opt.floor * std::max(1.0, std::sqrt(numeric_sq));
  res.tolerance = opt.tolerance;
  for (size_t k = 0; k < xs.size(); ++k) {
    GradcheckInput in;
    in.name = k < opt.names.size() ? opt.names[k] : "input " + std::to_string(k);
    in.shape = xs[k].shape();
    std::vector<double> diff(numeric[k].size());
    for (size_t j = 0; j < diff.size(); ++j) diff[j] = analytic[k][j] - numeric[k][j];
    in.rel_err = l2(diff) / std::max({l2(analytic[k]), l2(numeric[k]), floor});
    res.rel_err.push_back(in.rel_err);
    res.max_rel_err = std::max(res.max_rel_err, std::isnan(in.rel_err) ? INFINITY : in.rel_err);
    if (!(in.rel_err <= opt.tolerance)) {
      in.faults.push_back("wrong value");
      std::vector<size_t> order(diff.size());
      for (size_t j = 0; j < order.size(); ++j) order[j] = j;
      const size_t n = std::min(order.size(), size_t(std::max(opt.worst, 0)));
      auto size_of = [&](size_t j) { return std::isnan(diff[j]) ? INFINITY : std::fabs(diff[j]); };
      std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(n), order.end(),
                        [&](size_t a, size_t b) { return size_of(a) > size_of(b); });
      for (size_t i = 0; i < n; ++i)
        in.worst.push_back({unravel(in.shape, order[i]), analytic[k][order[i]], numeric[k][order[i]]});
    }
    res.inputs.push_back(std::move(in));
  }

  // 4. Accumulation: preset gradients G, backward again, expect G + analytic.
  std::vector<Var> again = leaves(xs);
  std::vector<Tensor> preset;
  for (Var& v : again) {
    preset.push_back(Tensor::normal(v.shape(), 0.0, 1.0, gen, DType::f64));
    v.grad() = preset.back().clone();
  }
  Var L2 = s.loss(again);
  if (L2.requires_grad()) L2.backward();
  for (size_t k = 0; k < again.size(); ++k) {
    GradcheckInput& in = res.inputs[k];
    const auto got = again[k].grad().to_vector(), base = preset[k].to_vector();
    double overwrite_err = 0.0;  // how far the result is from the gradient alone (G lost)
    size_t at = 0;
    for (size_t j = 0; j < got.size(); ++j) {
      double e = std::fabs(got[j] - (base[j] + analytic[k][j]));
      if (std::isnan(e)) e = INFINITY;  // a NaN is the worst error there is
      if (e > in.accumulate_err) {
        in.accumulate_err = e;
        at = j;
      }
      overwrite_err = std::max(overwrite_err, std::fabs(got[j] - analytic[k][j]));
    }
    res.accumulate_err = std::max(res.accumulate_err, in.accumulate_err);
    if (!(in.accumulate_err <= 1e-10)) {
      in.faults.push_back(overwrite_err <= 1e-10 ? "overwritten" : "wrong accumulation");
      in.accumulate_index = unravel(in.shape, at);
      in.preset = base[at];
      in.expected = base[at] + analytic[k][at];
      in.accumulated = got[at];
    }
  }
  res.pass = true;
  for (const GradcheckInput& in : res.inputs) {
    if (in.pass()) continue;
    if (res.pass) {
      res.message = in.name + " " + shape_str(in.shape) + ": " + in.faults.front();
      if (in.faults.front() == "wrong value")
        res.message += " (relative error " + sci(in.rel_err) + ", tolerance " + sci(opt.tolerance) + ")";
      else
        res.message += " (backward " + std::string(in.faults.front() == "overwritten" ? "replaced" : "did not add to") +
                       " the gradient already there; error " + sci(in.accumulate_err) + ")";
    }
    res.pass = false;
  }
  return res;
}

std::string gradcheck_report(const GradcheckResult& r) {
  std::string ops;
  for (const std::string& op : r.ops) ops += (ops.empty() ? "" : ", ") + op;
  size_t failing = 0;
  for (const GradcheckInput& in : r.inputs) failing += in.pass() ? 0 : 1;
  if (r.pass) return "gradcheck passed: " + std::to_string(r.inputs.size()) + " inputs, largest relative error " +
                     sci(r.max_rel_err) + " (tolerance " + sci(r.tolerance) + "), ops: " + ops + "\n";
  std::string out = "gradcheck FAILED";
  if (r.inputs.empty()) return out + ": " + r.message + "\n";
  out += " on " + std::to_string(failing) + " of " + std::to_string(r.inputs.size()) + " inputs (ops on the graph: " + ops + ")\n";
  char line[256];
  for (const GradcheckInput& in : r.inputs) {
    if (in.pass()) {
      out += "  " + in.name + " " + shape_str(in.shape) + ": ok, relative error " + sci(in.rel_err) + "\n";
      continue;
    }
    for (const std::string& fault : in.faults) {
      out += "  " + in.name + " " + shape_str(in.shape) + ": " + fault;
      if (fault == "wrong value") {
        out += ", relative error " + sci(in.rel_err) + " (tolerance " + sci(r.tolerance) + "); worst elements:\n";
        out += "      index          analytic           numeric        difference\n";
        for (const GradcheckElement& e : in.worst) {
          std::snprintf(line, sizeof line, "    %-12s % .10e % .10e % .3e\n", index_str(e.index).c_str(), e.analytic,
                        e.numeric, e.analytic - e.numeric);
          out += line;
        }
        // the worst element got no gradient at all: a term backward never sends
        if (!in.worst.empty() && in.worst[0].analytic == 0.0 && in.worst[0].numeric != 0.0)
          out += "    (backward gives exactly 0 at " + index_str(in.worst[0].index) +
                 " where the finite differences do not: a gradient never sent)\n";
      } else {
        out += fault == "overwritten"
                   ? ": a second backward replaced the gradient already there instead of adding to it (= where += belongs)\n"
                   : ": a second backward did not add its gradient to the one already there\n";
        std::snprintf(line, sizeof line, "    at %s: held %.6e before; expected %.6e + %.6e = %.6e, got %.6e\n",
                      index_str(in.accumulate_index).c_str(), in.preset, in.preset, in.expected - in.preset,
                      in.expected, in.accumulated);
        out += line;
      }
    }
  }
  return out;
}

}  // namespace mc
