// test_transformer.cpp — the model: configuration errors, parameters, the fused and
// composed attention giving the same model, cached decoding against forward(),
// train/eval, position-encoding limits, packed batches against padded ones.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <tuple>

#include "nn/checks.h"
#include "nn/transformer.h"
#include "tasks/task.h"

using namespace mc;

namespace {
Tensor tokens(int64_t B, int64_t L, int64_t V, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> ids(size_t(B * L));
  for (auto& id : ids) id = int64_t(g.below(uint64_t(V)));
  return Tensor::indices(ids, {B, L});
}
void expect_config_error(const ModelConfig& cfg, const std::string& text) {
  CHECK_THROWS_WITH_AS(cfg.validate(), doctest::Contains(text.c_str()), ConfigError);
}
}  // namespace

TEST_CASE("bad configurations are refused with the field named") {
  ModelConfig c = small_check_config("cope");
  CHECK_NOTHROW(c.validate());
  { auto b = c; b.dim = 10; b.heads = 3; expect_config_error(b, "config: dim: 10 is not divisible by heads (3)"); }
  { auto b = c; b.npos = 0; expect_config_error(b, "config: npos: must be at least 1, got 0"); }
  { auto b = c; b.pe = "alibi"; expect_config_error(b, "config: pe: unknown position encoding 'alibi'"); }
  { auto b = c; b.pe = "abs"; b.sep_key = true; expect_config_error(b, "config: sep_key: is a CoPE option"); }
  { auto b = c; b.pe = "rope"; b.npos = 4; expect_config_error(b, "config: npos: is a CoPE option"); }
  { auto b = c; b.every = 2; expect_config_error(b, "config: every: CoPE every K layers needs pe cope+rel"); }
  { auto b = c; b.sep_key = b.val_gates = true; expect_config_error(b, "config: val_gates: cannot be combined with sep_key"); }
  { auto b = c; b.pe = "rope"; b.dim = 6; b.heads = 2; expect_config_error(b, "config: heads: rope needs an even head size"); }
  { auto b = c; b.vocab = 0; expect_config_error(b, "config: vocab:"); }
  { auto b = c; b.layers = 0; expect_config_error(b, "config: layers:"); }
  { auto b = c; b.dropout = 1.0; expect_config_error(b, "config: dropout:"); }
  { auto b = c; b.gelu = "relu"; expect_config_error(b, "config: gelu:"); }
  { auto b = c; b.activation = "tanh"; expect_config_error(b, "config: activation: must be gelu or relu"); }
  { auto b = c; b.attn_dropout = -0.1; expect_config_error(b, "config: attn_dropout:"); }
  { auto b = c; b.pe = "cope"; b.rel_cap = 3; expect_config_error(b, "config: rel_cap: needs pe rel or cope+rel"); }
  { auto b = c; b.pe = "cope+rel"; b.every = 3; expect_config_error(b, "config: every: 3 is more than layers (2)"); }
  CHECK_THROWS_AS(Transformer(ModelConfig{}, 1), ConfigError);  // vocab unset
}

TEST_CASE("parameters: names, counts, sharing") {
  ModelConfig c = small_check_config("cope");
  Transformer m(c, 1);
  const auto named = m.named_parameters();
  auto has = [&](const std::string& n) {
    return std::any_of(named.begin(), named.end(), [&](const auto& p) { return p.first == n; });
  };
  CHECK(has("tok_emb.weight"));
  CHECK(has("blocks.0.attn.q.weight"));
  CHECK(has("blocks.1.attn.cope_e"));
  CHECK(has("blocks.1.mlp.fc2.bias"));
  CHECK(has("ln_f.weight"));
  CHECK(has("head.weight"));
  // By hand: C = 8, V = 5, D = 4, npos = 7. Per layer: 4 linears (8*8+8) = 288, two norms 32,
  // MLP 8*32+32+32*8+8 = 552, CoPE table 4*7 = 28 -> 900. Embedding 40, ln_f 16, head 40.
  CHECK(m.parameter_count() == 2 * 900 + 40 + 16 + 40);
  for (const auto& [name, p] : named)
    if (name.find("cope_e") != std::string::npos) CHECK(max_abs_diff(p.value(), Tensor::zeros(p.shape())) == 0.0);

  ModelConfig s = c;
  s.shared = true;
  s.tied = true;
  Transformer shared(s, 1);
  CHECK(shared.parameter_count() == 2 * 900 + 40 + 16 - 28);  // one CoPE table, no head
  ModelConfig e = small_check_config("cope+rel");
  e.every = 2;
  Transformer every(e, 1);
  const auto en = every.named_parameters();
  auto count = [&](const std::string& part) {
    return std::count_if(en.begin(), en.end(), [&](const auto& p) { return p.first.find(part) != std::string::npos; });
  };
  CHECK(count("cope_e") == 1);  // CoPE on layer 1 only
  CHECK(count("rel_r") == 2);   // rel on both
}

TEST_CASE("init_scheme pytorch draws what stock nn.Linear and nn.Embedding draw") {
  // A wider model than the checks' so that the statistics are sharp: C = 64, V = 40.
  auto stats = [](const Var& p) {
    const std::vector<double> v = p.value().to_vector();
    double sum = 0, sq = 0, top = 0;
    for (double x : v) sum += x, sq += x * x, top = std::max(top, std::abs(x));
    const double n = static_cast<double>(v.size()), mean = sum / n;
    return std::tuple{mean, std::sqrt(sq / n - mean * mean), top};
  };
  for (const std::string scheme : {"gpt2", "pytorch"}) {
    CAPTURE(scheme);
    ModelConfig c = small_check_config("abs");
    c.dim = 64, c.heads = 4, c.vocab = 40, c.seq = 16, c.init_scheme = scheme;
    Transformer m(c, 3);
    const bool torch = scheme == "pytorch";
    for (const auto& [name, p] : m.named_parameters()) {
      CAPTURE(name);
      const auto [mean, sd, top] = stats(p);
      const bool ln = name.find(".ln") != std::string::npos || name.rfind("ln_f", 0) == 0;
      const bool emb = name == "tok_emb.weight" || name == "pos_emb.weight";
      const bool bias = !ln && name.size() > 5 && name.substr(name.size() - 5) == ".bias";
      if (ln) {
        CHECK(sd == 0.0);  // ones and zeros in both schemes
      } else if (emb) {
        CHECK(sd == doctest::Approx(torch ? 1.0 : 0.02).epsilon(0.08));
      } else {
        const double in = static_cast<double>(p.shape().size() == 2 ? p.size(1) : name.find("fc2") != std::string::npos ? 4 * c.dim : c.dim);
        if (torch) {  // uniform(+-1/sqrt(in)): sd 1/sqrt(3 in), nothing past the bound
          CHECK(top <= 1.0 / std::sqrt(in));
          CHECK(sd == doctest::Approx(1.0 / std::sqrt(3.0 * in)).epsilon(bias ? 0.35 : 0.1));
        } else if (bias) {
          CHECK(top == 0.0);
        } else {  // N(0, 0.02), the residual projections N(0, 0.02 / sqrt(2 layers))
          const bool resid = name.find("attn.out") != std::string::npos || name.find("fc2") != std::string::npos;
          CHECK(sd == doctest::Approx(resid ? 0.01 : 0.02).epsilon(0.1));
        }
      }
    }
  }
  ModelConfig b = small_check_config("cope");
  b.init_scheme = "kaiming";
  CHECK_THROWS_WITH_AS(b.validate(), doctest::Contains("config: init_scheme: must be gpt2 or pytorch"), ConfigError);
}

TEST_CASE("weight decay: the modules mark their parameters, matrices but not positions") {
  // The marks each module gives, against the rule they replace: 2-D parameters decay,
  // except the position tables (absolute, CoPE, relative); vectors never do.
  for (const std::string& pe : position_encodings())
    for (bool tied : {false, true}) {
      ModelConfig c = small_check_config(pe);
      c.tied = tied;
      c.shared = std::string(pe).rfind("cope", 0) == 0 && tied;
      Transformer m(c, 1);
      const auto named = m.named_parameters();
      const std::vector<bool> decays = m.decay_flags();
      REQUIRE(decays.size() == named.size());
      int64_t decaying = 0;
      for (size_t k = 0; k < named.size(); ++k) {
        const std::string& name = named[k].first;
        const bool position = name.find("pos_emb") != std::string::npos || name.find("cope_e") != std::string::npos ||
                              name.find("rel_r") != std::string::npos;
        INFO(pe << " " << name);
        CHECK(decays[k] == (named[k].second.value().dim() >= 2 && !position));
        decaying += decays[k];
      }
      CHECK(decaying >= 6 * c.layers);  // q, k, v, out, fc1, fc2 of every layer at least
    }
}

TEST_CASE("the same weights give the same model with fused and composed attention") {
  for (const std::string& pe : position_encodings()) {
    ModelConfig c = small_check_config(pe);
    Transformer m(c, 3, DType::f64);
    Generator g(4);
    std::vector<Var> ps;
    for (const Var& p : m.parameters()) ps.emplace_back(Tensor::normal(p.shape(), 0, 0.5, g, DType::f64), true);
    m.set_parameters(ps);
    const Tensor ids = tokens(2, 6, 5, 8);
    Var fused = m.forward(ids);
    sum(fused).backward();
    std::vector<Tensor> gf;
    for (Var& p : ps) gf.push_back(p.grad()), p.zero_grad();
    m.use_composed_attention(true);
    Var composed = m.forward(ids);
    sum(composed).backward();
    INFO(pe);
    CHECK(max_abs_diff(fused.value(), composed.value()) < 1e-12);
    for (size_t i = 0; i < ps.size(); ++i) CHECK(max_abs_diff(gf[i], ps[i].grad()) < 1e-11);
  }
}

TEST_CASE("context limits: abs refuses past its table; rel, rope and cope run longer") {
  for (const char* pe : {"abs", "rel", "rope", "cope", "cope+rel", "none"}) {
    Transformer m(small_check_config(pe), 1);
    CHECK(m.forward(tokens(1, 6, 5, 1)).shape() == Shape{1, 6, 5});
    if (std::string(pe) == "abs")
      CHECK_THROWS_WITH_AS(m.forward(tokens(1, 12, 5, 1)), doctest::Contains("abs position embeddings cover 6 positions"),
                           ShapeError);
    else
      CHECK(all_finite(m.forward(tokens(1, 12, 5, 1)).value()));
  }
}

TEST_CASE("dropout acts in training mode only, and is seeded") {
  ModelConfig c = small_check_config("rope");
  c.dropout = 0.5;
  Transformer a(c, 1), b(c, 1);
  const Tensor ids = tokens(2, 6, 5, 2);
  CHECK(bitwise_equal(a.forward(ids).value(), b.forward(ids).value()));  // same seed, same masks
  const Tensor t1 = a.forward(ids).value(), t2 = a.forward(ids).value();
  CHECK_FALSE(bitwise_equal(t1, t2));  // the stream moves on
  a.eval();
  CHECK_FALSE(a.training());
  CHECK(bitwise_equal(a.forward(ids).value(), a.forward(ids).value()));
}

TEST_CASE("attention dropout acts in training mode only and is seeded; relu is an activation") {
  for (const char* pe : {"cope", "rope", "abs"}) {
    INFO(pe);
    ModelConfig c = small_check_config(pe);
    Transformer plain(c, 1);
    c.attn_dropout = 0.5;
    Transformer a(c, 1), b(c, 1);
    const Tensor ids = tokens(2, 6, 5, 2);
    CHECK(bitwise_equal(a.forward(ids).value(), b.forward(ids).value()));  // same seed, same masks
    const Tensor t1 = a.forward(ids).value(), t2 = a.forward(ids).value();
    CHECK_FALSE(bitwise_equal(t1, t2));                                    // a new mask each call
    a.eval();
    plain.eval();
    CHECK(bitwise_equal(a.forward(ids).value(), plain.forward(ids).value()));  // none in evaluation
  }
  // ReLU replaces GELU in the MLP
  ModelConfig r = small_check_config("cope");
  Transformer g(r, 1);
  r.activation = "relu";
  Transformer u(r, 1);
  const Tensor ids = tokens(2, 6, 5, 2);
  CHECK_FALSE(bitwise_equal(g.forward(ids).value(), u.forward(ids).value()));
}

TEST_CASE("a causal model: changing a later token leaves earlier logits alone") {
  for (const char* pe : {"abs", "rel", "rope", "cope", "cope+rope"}) {
    Transformer m(small_check_config(pe), 5);
    Tensor ids = tokens(1, 6, 5, 3);
    const Tensor before = m.forward(ids).value();
    ids.data<int64_t>()[4] = (ids.data<int64_t>()[4] + 1) % 5;
    const Tensor after = m.forward(ids).value();
    INFO(pe);
    CHECK(max_abs_diff(slice(before, 1, 0, 4), slice(after, 1, 0, 4)) == 0.0);
    CHECK(max_abs_diff(slice(before, 1, 4, 6), slice(after, 1, 4, 6)) > 0.0);
  }
}

namespace {
// The model configurations of the cached-decoding and packing tests: every pe, and each
// CoPE option (sep_key, val_gates, nodiv, shared, every, a small npos that clamps, a rel cap).
std::vector<std::pair<std::string, ModelConfig>> cached_variants() {
  std::vector<std::pair<std::string, ModelConfig>> out;
  auto add = [&](const std::string& name, const std::string& pe, auto tweak) {
    ModelConfig c = small_check_config(pe);
    c.seq = 9;
    tweak(c);
    out.emplace_back(name, c);
  };
  for (const std::string& pe : position_encodings()) add(pe, pe, [](ModelConfig&) {});
  add("cope,sep_key", "cope", [](ModelConfig& c) { c.sep_key = true; });
  add("cope,val_gates", "cope", [](ModelConfig& c) { c.val_gates = true; });
  add("cope,nodiv", "cope", [](ModelConfig& c) { c.nodiv = true; });
  add("cope,npos=3", "cope", [](ModelConfig& c) { c.npos = 3; });
  add("cope,shared", "cope", [](ModelConfig& c) { c.shared = true; });
  add("cope+rel,every=2,rel_cap=4", "cope+rel", [](ModelConfig& c) { c.every = 2, c.rel_cap = 4; });
  add("cope+rope,sep_key,nodiv,post_norm", "cope+rope", [](ModelConfig& c) { c.sep_key = c.nodiv = c.post_norm = true; });
  return out;
}
}  // namespace

// Cached logits against forward(): held to the bound nn/transformer.h states, and the
// largest difference seen printed (f32 and f64).
TEST_CASE("cached decoding agrees with forward() for every pe and CoPE option, in f32 and f64") {
  for (DType dt : {DType::f64, DType::f32}) {
    double worst_abs = 0, worst_rel = 0;
    std::string worst;
    for (const auto& [name, cfg] : cached_variants()) {
      Transformer m(cfg, 2, dt);
      Generator g(5);
      std::vector<Var> ps;  // random weights, so CoPE's table is not zero and the gates vary
      for (const Var& p : m.parameters()) ps.emplace_back(Tensor::normal(p.shape(), 0, 0.5, g, dt));
      m.set_parameters(ps);
      m.eval();
      const int64_t B = 2, L = 9;
      const Tensor ids = tokens(B, L, 5, 11);
      const Tensor full = m.forward(ids).value().to(DType::f64);  // [B,L,V]
      double scale = 1.0;
      for (double x : full.to_vector()) scale = std::max(scale, std::fabs(x));
      KVCache cache;
      // a 3-token prompt, then one token at a time
      std::vector<Tensor> steps{m.forward_cached(slice(ids, 1, 0, 3), cache)};
      for (int64_t t = 3; t < L; ++t) steps.push_back(m.forward_cached(slice(ids, 1, t, t + 1), cache));
      CHECK(cache.len == L);
      const Tensor cached = concat(steps, 1).to(DType::f64);
      const double diff = max_abs_diff(cached, full);
      worst_abs = std::max(worst_abs, diff);
      if (diff / scale > worst_rel) worst_rel = diff / scale, worst = name;
      INFO(name << " " << dtype_name(dt) << ": max |cached - forward| = " << diff << ", logits up to " << scale);
      CHECK(diff / scale < (dt == DType::f64 ? 1e-12 : 2e-6));
    }
    std::printf("cached vs forward, %s: max |diff| %.3g; relative to the largest logit %.3g (%s)\n", dtype_name(dt),
                worst_abs, worst_rel, worst.c_str());
  }
}

namespace {
// Examples of 3, 7, 5, 2, 9 and 4 inputs over vocabulary 5, some predictions scored. In
// rows of 12, first fit makes row 0 = {3, 7, 2} (full), row 1 = {5, 4} and a tail of 3,
// row 2 = {9} and a tail of 3; padded, they are 6 rows of 9.
std::vector<Example> uneven_examples() {
  Generator g(21);
  std::vector<Example> xs;
  for (int64_t n : {3, 7, 5, 2, 9, 4}) {
    Example e;
    for (int64_t t = 0; t <= n; ++t) e.tokens.push_back(int64_t(g.below(5)));
    for (int64_t t = 0; t < n; ++t) e.scored.push_back(t == n - 1 || g.below(2) == 0);
    xs.push_back(e);
  }
  return xs;
}

struct LossAndGrads {
  double loss = 0;
  Tensor logits;  // [R,L,V]
  std::vector<Tensor> grads;  // of every parameter
};

LossAndGrads loss_and_grads(Transformer& m, std::vector<Var>& ps, const TokenBatch& b, const Tensor& starts) {
  for (Var& p : ps) p.zero_grad();
  Var logits = m.forward(b.inputs, starts);
  Var loss = cross_entropy(logits, b.targets, b.mask.to(DType::f64));
  loss.backward();
  LossAndGrads r{loss.item(), logits.value(), {}};
  for (Var& p : ps) r.grads.push_back(p.grad());
  return r;
}
}  // namespace

// The contract of packing (tasks/task.h): with starts, each example of a packed batch is
// computed as if alone, so the loss and every gradient are the padded batch's.
TEST_CASE("a packed batch gives the padded batch's loss, logits and gradients, for every pe (f64, 1e-10)") {
  const std::vector<Example> xs = uneven_examples();
  const TokenBatch padded = make_batch(xs), packed = pack_batch(xs, 12);
  REQUIRE(packed.inputs.shape() == Shape{3, 12});
  for (auto [name, cfg] : cached_variants()) {
    cfg.seq = 12;  // abs: positions for the rows of 12
    Transformer m(cfg, 3, DType::f64);
    Generator g(4);
    std::vector<Var> ps;  // random weights, so CoPE's table is not zero and the gates vary
    for (const Var& p : m.parameters()) ps.emplace_back(Tensor::normal(p.shape(), 0, 0.5, g, DType::f64), true);
    m.set_parameters(ps);
    const LossAndGrads a = loss_and_grads(m, ps, padded, Tensor()), b = loss_and_grads(m, ps, packed, packed.starts);
    INFO(name);
    CHECK(std::fabs(a.loss - b.loss) < 1e-10);
    double worst = 0;
    for (size_t i = 0; i < ps.size(); ++i) worst = std::max(worst, max_abs_diff(a.grads[i], b.grads[i]));
    CHECK(worst < 1e-10);
    // each example's logits, at its place in either batch
    const int64_t V = cfg.vocab;
    const std::vector<double> la = a.logits.to_vector(), lb = b.logits.to_vector();
    double logit_diff = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const TokenBatch::Place &pa = padded.places[i], &pb = packed.places[i];
      for (int64_t t = 0; t < pa.length * V; ++t)
        logit_diff = std::max(logit_diff, std::fabs(la[size_t((pa.row * 9 + pa.offset) * V + t)] -
                                                    lb[size_t((pb.row * 12 + pb.offset) * V + t)]));
    }
    CHECK(logit_diff < 1e-10);
    // without its starts the packed batch is a different batch: the test can tell
    CHECK(std::fabs(loss_and_grads(m, ps, packed, Tensor()).loss - a.loss) > 1e-6);
  }
}

TEST_CASE("starts that do not fit the ids are refused before any layer runs") {
  Transformer m(small_check_config("abs"), 1);
  const Tensor ids = tokens(2, 6, 5, 1);
  CHECK_THROWS_WITH_AS(m.forward(ids, Tensor::zeros({2, 5}, DType::i64)), doctest::Contains("starts must be [2,6] i64"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(m.forward(ids, Tensor::zeros({2, 6})), doctest::Contains("starts must be [2,6] i64"), ShapeError);
  Tensor late = Tensor::zeros({2, 6}, DType::i64);
  late.data<int64_t>()[3] = 4;  // row 0, token 3 cannot belong to an example starting at 4
  CHECK_THROWS_WITH_AS(m.forward(ids, late), doctest::Contains("starts[0,3] is 4"), ShapeError);
  CHECK(m.forward(ids, Tensor::zeros({2, 6}, DType::i64)).shape() == Shape{2, 6, 5});
}
