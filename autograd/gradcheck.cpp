// gradcheck.cpp — the finite-difference gradient checker (see gradcheck.h).
#include "autograd/gradcheck.h"

#include <cmath>
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
  res.pass = true;
  for (size_t k = 0; k < xs.size(); ++k) {
    std::vector<double> diff(numeric[k].size());
    for (size_t j = 0; j < diff.size(); ++j) diff[j] = analytic[k][j] - numeric[k][j];
    const double err = l2(diff) / std::max({l2(analytic[k]), l2(numeric[k]), floor});
    res.rel_err.push_back(err);
    res.max_rel_err = std::max(res.max_rel_err, std::isnan(err) ? INFINITY : err);
    if (!(err <= opt.tolerance)) {
      res.pass = false;
      if (res.message.empty())
        res.message = "input " + std::to_string(k) + " " + shape_str(xs[k].shape()) + ": relative error " +
                      std::to_string(err) + " above " + std::to_string(opt.tolerance);
    }
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
    const auto got = again[k].grad().to_vector(), base = preset[k].to_vector();
    for (size_t j = 0; j < got.size(); ++j)
      res.accumulate_err = std::max(res.accumulate_err, std::fabs(got[j] - (base[j] + analytic[k][j])));
  }
  if (!(res.accumulate_err <= 1e-10)) {
    res.pass = false;
    if (res.message.empty())
      res.message = "backward overwrote a gradient instead of adding to it (error " + std::to_string(res.accumulate_err) + ")";
  }
  return res;
}

}  // namespace mc
