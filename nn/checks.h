// checks.h — gradient checks for nn: the fused attention kernel under every position
// encoding and CoPE option, and whole transformers. register_nn_checks() adds them to
// the registry that `minicope gradcheck` and the tests run.
#pragma once
#include "autograd/gradcheck.h"
#include "nn/attention.h"
#include "nn/config.h"

namespace mc {

void register_nn_checks();  // idempotent

// Random attention inputs (f64) for `spec`, [B,L,heads*D] (rows packed as `starts` says,
// if given), whose CoPE positions all lie
// at least `margin` from an integer and from the clamp npos-1 (unless allow_clamp), so
// finite differences never straddle a kink. Seeds are tried from `seed` upward until
// the inputs qualify; the same arguments always give the same inputs.
struct AttentionCase {
  std::vector<Tensor> tensors;          // q, k, v, then those of gate_k, e, r that the spec uses
  int gate_k = -1, e = -1, r = -1;      // their positions in tensors (-1: not used)
  Tensor starts;                        // [B,L] packed examples (AttentionInputs::starts), or undefined
  double dropout = 0.0;                 // attention dropout, with a fixed mask (AttentionInputs::dropout)
  uint64_t dropout_seed = 0;
  AttentionInputs as_inputs(const std::vector<Var>& vars) const;  // vars in tensors' order
};
AttentionCase make_attention_case(const AttentionSpec& spec, int64_t B, int64_t L, int64_t D, uint64_t seed,
                                  double margin = 1e-3, bool allow_clamp = false, const Tensor& starts = {});

// One AttentionSpec per position encoding and CoPE option (none, rel, rope, cope,
// cope+rel, cope+rope, cope with sep_key / val_gates / nodiv), with `heads` and `npos`.
struct AttentionVariant { std::string name; AttentionSpec spec; };
std::vector<AttentionVariant> attention_variants(int64_t heads, int64_t npos);

// A small model config for checks: 2 layers, width 8, 2 heads, context 6, vocabulary 5.
ModelConfig small_check_config(const std::string& pe);

}  // namespace mc
