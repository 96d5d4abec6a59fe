// test_threads.cpp — results do not depend on the thread count: a computation run on
// 1 thread and on 2 threads gives the same bits (values and gradients).
#include <doctest/doctest.h>

#include <tbb/global_control.h>

#include "autograd/ops.h"
#include "nn/transformer.h"

using namespace mc;

namespace {

// A small network touching every parallel kernel, big enough that each one splits its
// work; returns its outputs and every gradient.
std::vector<Tensor> run_all(DType d) {
  Generator g(11);
  const int64_t B = 4, T = 64, C = 96, V = 50;
  Tensor ids = Tensor::zeros({B, T}, DType::i64);
  for (int64_t i = 0; i < ids.numel(); ++i) ids.data<int64_t>()[i] = static_cast<int64_t>(g.below(V));
  Tensor tg = Tensor::zeros({B, T}, DType::i64);
  for (int64_t i = 0; i < tg.numel(); ++i) tg.data<int64_t>()[i] = static_cast<int64_t>(g.below(V));
  Var table(Tensor::normal({V, C}, 0, 1, g, d), true);
  Var w1(Tensor::normal({C, 4 * C}, 0, 0.1, g, d), true), w2(Tensor::normal({4 * C, C}, 0, 0.1, g, d), true);
  Var gamma(Tensor::normal({C}, 1, 0.1, g, d), true), beta(Tensor::normal({C}, 0, 0.1, g, d), true);
  Var bias(Tensor::normal({4 * C}, 0, 0.1, g, d), true);
  Generator drop(5);

  Var x = embedding(table, ids);                                     // [B,T,C]
  Var h = layer_norm(x, gamma, beta);
  Var u = gelu_tanh(add(matmul(h, w1), bias));                       // [B,T,4C], shared weight
  u = dropout(u, 0.1, drop);
  Var y = add(x, matmul(u, w2));                                     // [B,T,C]
  Var att = softmax(matmul(y, y, false, true));                      // [B,T,T], batched
  Var z = matmul(att, y);
  Var logits = matmul(z, table, false, true);                        // [B,T,V], tied
  Var loss = add(cross_entropy(logits, tg), mean(sum(log_softmax(z), 1)));
  loss.backward();
  return {loss.value(), z.value(), table.grad(), w1.grad(), w2.grad(), gamma.grad(), beta.grad(), bias.grad(),
          sum(z.value(), 0), max(z.value(), 1).values};
}

std::vector<Tensor> with_threads(int n, DType d) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(n));
  return run_all(d);
}

}  // namespace

TEST_CASE("1 and 2 threads give bit-identical values and gradients") {
  for (DType d : {DType::f32, DType::f64}) {
    const auto one = with_threads(1, d), two = with_threads(2, d);
    REQUIRE(one.size() == two.size());
    for (size_t i = 0; i < one.size(); ++i) {
      INFO("tensor " << i << " in " << dtype_name(d));
      CHECK(all_finite(one[i]));
      CHECK(bitwise_equal(one[i], two[i]));
    }
  }
}

namespace {
// A CoPE transformer step (fused attention with rel, gates, positions; layer norms;
// embeddings; cross-entropy): the loss and every parameter gradient. `packed` puts two
// or three examples in each row (per-example starts), so the boundary masks run too.
std::vector<Tensor> transformer_step(int threads, const std::string& pe, bool packed) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
  ModelConfig cfg;
  cfg.vocab = 40;
  cfg.seq = 80;  // > 64: the kernel's causal row blocks split
  cfg.layers = 2;
  cfg.dim = 32;
  cfg.heads = 4;
  cfg.pe = pe;
  cfg.dropout = 0.1;
  Transformer m(cfg, 3);
  Generator g(8);
  std::vector<int64_t> ids(size_t(4 * 80)), next(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(g.below(40)), next[i] = int64_t(g.below(40));
  std::vector<int64_t> starts(ids.size());
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t t = 0; t < 80; ++t) starts[size_t(b * 80 + t)] = t < 23 + 9 * b ? 0 : t < 70 - b ? 23 + 9 * b : 70 - b;
  const Tensor st = packed ? Tensor::indices(starts, {4, 80}) : Tensor();
  Var loss = cross_entropy(m.forward(Tensor::indices(ids, {4, 80}), st), Tensor::indices(next, {4, 80}));
  loss.backward();
  std::vector<Tensor> out{loss.value()};
  for (const Var& p : m.parameters()) out.push_back(p.grad());
  return out;
}
}  // namespace

TEST_CASE("a transformer step gives the same bits on 1 and 2 threads") {
  for (const bool packed : {false, true})
    for (const char* pe : {"cope+rel", "rope", "abs"}) {
      const auto one = transformer_step(1, pe, packed), two = transformer_step(2, pe, packed);
      REQUIRE(one.size() == two.size());
      for (size_t i = 0; i < one.size(); ++i) {
        INFO(pe << (packed ? " packed" : "") << " tensor " << i);
        CHECK(all_finite(one[i]));
        CHECK(bitwise_equal(one[i], two[i]));
      }
    }
}
