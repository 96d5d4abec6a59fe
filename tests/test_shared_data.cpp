// test_shared_data.cpp — what needs the files of ../shared: the official formulation's
// CoPE outputs and gradients (testdata/cope_reference.json, f64) and a run on Tiny
// Shakespeare, trained and sampled. Where ../shared is absent the cases are skipped,
// and CTest shows the executable as skipped (tests/skip.h), not passed.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/attention.h"
#include "tests/cli_util.h"
#include "tests/skip.h"

using namespace mc;
namespace fs = std::filesystem;

namespace {
using Run = CliRun;
fs::path temp(const std::string& name) { return fs::temp_directory_path() / ("minicope_shared_" + name); }
const fs::path kShakespeare = fs::path(MINICOPE_SOURCE_DIR) / ".." / "shared" / "data" / "tinyshakespeare.txt";
}  // namespace

TEST_CASE("the fused kernel matches the official formulation's reference values") {
  const auto path = std::filesystem::path(MINICOPE_SOURCE_DIR) / ".." / "shared" / "testdata" / "cope_reference.json";
  if (!std::filesystem::exists(path)) return skip_test(path.string() + " is absent");
  std::ifstream in(path);
  const auto doc = nlohmann::json::parse(in);
  int cases = 0;
  for (const auto& cs : doc.at("cases")) {
    const int64_t B = cs["B"], H = cs["H"], L = cs["T"], D = cs["D"], npos = cs["npos"];
    AttentionSpec spec;
    spec.heads = H;
    spec.cope = true;
    spec.npos = npos;
    spec.nodiv = cs["nodiv"];
    const std::string from = cs["gates_from"];
    spec.gates = from == "sep_key" ? GateSource::sep_key : from == "value" ? GateSource::value : GateSource::key;
    // The reference is [B,H,T,D]; minicope's attention reads [B,T,H*D].
    auto bhtd = [&](const char* f) { return Tensor::from(cs[f].get<std::vector<double>>(), {B, H, L, D}, DType::f64); };
    auto to_btc = [&](const Tensor& t) { return transpose(t, 1, 2).reshape({B, L, H * D}); };
    Var q(to_btc(bhtd("q")), true), k(to_btc(bhtd("k")), true), v(to_btc(bhtd("v")), true),
        gk(to_btc(bhtd("gate_k")), true), e(Tensor::from(cs["e"].get<std::vector<double>>(), {D, npos}, DType::f64), true);
    AttentionTrace trace;
    for (bool fused : {true, false}) {
      for (Var* x : {&q, &k, &v, &gk, &e}) x->zero_grad();
      AttentionInputs ins{q, k, v, gk, e, Var()};
      Var y = fused ? attention_fused(ins, spec, &trace) : attention_composed(ins, spec);
      sum(mul(y, Var(to_btc(bhtd("dy"))))).backward();
      INFO(cs["name"].get<std::string>() << (fused ? " fused" : " composed"));
      CHECK(max_abs_diff(y.value(), to_btc(bhtd("y"))) < 1e-12);
      CHECK(max_abs_diff(q.grad(), to_btc(bhtd("dq"))) < 1e-12);
      CHECK(max_abs_diff(k.grad(), to_btc(bhtd("dk"))) < 1e-12);
      CHECK(max_abs_diff(v.grad(), to_btc(bhtd("dv"))) < 1e-12);
      CHECK(max_abs_diff(e.grad(), Tensor::from(cs["de"].get<std::vector<double>>(), {D, npos}, DType::f64)) < 1e-12);
      const Tensor dgk = to_btc(bhtd("dgate_k"));
      if (gk.grad().defined()) CHECK(max_abs_diff(gk.grad(), dgk) < 1e-12);
      else CHECK(max_abs_diff(Tensor::zeros(dgk.shape(), DType::f64), dgk) == 0.0);  // unused: zero gradient
      if (fused)
        CHECK(max_abs_diff(trace.positions, Tensor::from(cs["positions"].get<std::vector<double>>(), {B, H, L, L}, DType::f64)) < 1e-12);
    }
    ++cases;
  }
  CHECK(cases == 7);
}

TEST_CASE("a text run: Tiny Shakespeare, a few steps, then sampled") {
  if (!fs::exists(kShakespeare)) return skip_test(kShakespeare.string() + " is absent");
  const fs::path out = temp("shakespeare");
  fs::remove_all(out);
  const Run r = cli({"train", "--task", "text", "--data", kShakespeare.string(), "--seq", "32", "--layers", "1", "--dim", "32",
                     "--heads", "2", "--steps", "20", "--json", "--out", out.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("\"bits_per_char\"") != std::string::npos);
  const Run s = cli({"sample", "--ckpt", out.string(), "--prompt", "ROMEO:", "--tokens", "20", "--seed", "3"});
  const Run s2 = cli({"sample", "--ckpt", out.string(), "--prompt", "ROMEO:", "--tokens", "20", "--seed", "3"});
  CHECK(s.code == 0);
  CHECK(s.out == s2.out);  // the same seed gives the same text
  CHECK(s.out.rfind("ROMEO:", 0) == 0);
}
