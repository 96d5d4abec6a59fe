#!/usr/bin/env python3
"""The model of `minicope bench` in PyTorch, written the fastest honest way we found.

Same model as docs/model.md: pre-norm decoder, q/k/v/out projections with biases,
GELU (tanh form) MLP of width 4C, final LayerNorm, untied output head without bias,
and the position encodings none / abs / rel / rope / cope / cope+rel / cope+rope, with
minicope's math (c = 1/sqrt(D)): logits c (q.k + q.r[i-j] + pe), CoPE gates
sigmoid(c q.k) on the unrotated q and k, positions p_ij = sum_{t=j..i} g_it clamped at
npos-1 = seq, pe = the CoPE table's q.e interpolated between floor p and ceil p.
A step is forward, cross-entropy, backward, clip_grad_norm_(1.0) and AdamW (betas
0.9/0.99, weight decay 0.1 on the matrices), on fixed random tokens; the median of
--steps timed steps after --warmup-steps untimed ones is reported, with the process's
peak resident memory (getrusage: everything the process ever held, PyTorch included).

Only stock PyTorch 1.13 ops with autograd: no custom backward, no private flags. What
was chosen (measured against the alternatives in bench/torch_variants.py, alternating
in one process; the figures are in docs/torch_reference_notes.md):
- one Linear(C, 3C) for q, k, v, split by view/permute (one copy per tensor, made by
  the reshape to [B*H, L, D] that bmm needs);
- the causal mask and the 1/sqrt(D) scale folded into the score product:
  baddbmm(cached additive -inf mask, q, k^T, alpha=c);
- CoPE (the official formulation of facebookresearch/RAM projects/cope, with the
  gates taken from the same scaled, masked logits instead of a second product):
  sigmoid(-inf) = 0 masks the gates; the keys and values are held in reverse order, so
  the reverse cumulative sum over keys is a plain cumsum (no flips; softmax and the
  value product do not care about the order of the keys; the sum runs in the same
  order as flip-cumsum-flip, so it gives the same bits); one gather index
  (floor p = p.long(), p >= 0) and the table of differences z[n+1] - z[n]:
  pe = z[lo] + frac(p) (z[lo+1] - z[lo]), i.e. torch.addcmul of two gathers;
  the clamp at npos-1 is applied only when it can bind (npos <= L: p <= L always);
- rel: the skew of Huang et al. 2018 (Music Transformer) instead of a gather: the
  [L, L] product q.r with the table's columns in reverse order, padded by one column
  and read back with a row stride of L, puts q_i.r[i-j] at (i, j) (capped distances
  by repeating the table's last column); under cope+rel (keys reversed) a gather;
- rope: precomputed cos/sin, q and k rotated together in one set of ops on the
  fused projection's output, rotate-half by cat;
- torch.set_num_threads(--threads); AdamW's default (for-loop) implementation.

bench/trajectory.py also uses this model to replay minicope's training runs: for that
it takes minicope's other options too (nodiv, tied, post-norm, ReLU or erf GELU) and
packed rows (a starts table: block-causal masks, positions within each example); the
benchmark uses none of them.

--self-check compares the attention of every encoding in float64 against the plain
formulation of the earlier script (separate gate product, flip-cumsum-flip, ceil and
floor gathers, a gather for rel, mask.log()), outputs and gradients, and exits.

Prints one JSON object with ms_per_step, tokens_per_s, gflops, peak_rss_mb (the same
keys and FLOP formula as `minicope bench --json`).
"""
import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        C, H = a.dim, a.heads
        self.H, self.D, self.c = H, C // H, 1.0 / math.sqrt(C // H)
        self.qkv, self.out = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.cope = a.pe.startswith("cope")
        self.rel = a.pe in ("rel", "cope+rel")
        self.rope = a.pe in ("rope", "cope+rope")
        self.nodiv = getattr(a, "nodiv", False)  # CoPE's q.e after the 1/sqrt(D) scale
        L = a.seq
        if self.cope:
            self.npos = getattr(a, "npos", None) or a.seq + 1
            self.cope_e = nn.Parameter(torch.zeros(self.D, self.npos))  # 0 at the start, as the official code
        if self.rel:
            self.nrel = getattr(a, "nrel", None) or a.seq
            self.rel_r = nn.Parameter(torch.randn(self.D, self.nrel) / math.sqrt(self.D))
            d = torch.arange(L)[:, None] - torch.arange(L)[None, :]  # i - j
            self.register_buffer("rel_idx_rev", d.flip(-1).clamp(0, self.nrel - 1), persistent=False)
            # the skew's columns: column m holds distance L-1-m (capped at nrel-1)
            self.register_buffer("skew_cols", (L - 1 - torch.arange(L)).clamp(max=self.nrel - 1), persistent=False)
        if self.rope:
            half = self.D // 2
            t = torch.arange(L, dtype=torch.float32)[:, None]
            theta = t * (10000.0 ** (-2.0 * torch.arange(half, dtype=torch.float32) / self.D))[None, :]
            self.register_buffer("cos", theta.cos()[:, None, None, :], persistent=False)  # [L, 1, 1, D/2]
            self.register_buffer("sin", theta.sin()[:, None, None, :], persistent=False)
        mask = torch.zeros(L, L).masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
        self.register_buffer("mask", mask, persistent=False)  # 0 on keys j <= i, -inf after
        self.register_buffer("mask_rev", mask.flip(-1).contiguous(), persistent=False)  # the same, keys reversed

    def rotate(self, qk, pos=None):
        """rope on q and k together: qk [B, L, 2, H, D], pairs (d, d + D/2); pos [B, L]:
        each token's position in its example (packed rows), or None: 0..L-1."""
        half, L = self.D // 2, qk.shape[1]
        cos, sin = (self.cos[:L], self.sin[:L]) if pos is None else (self.cos[pos], self.sin[pos])
        x1, x2 = qk[..., :half], qk[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)

    def heads(self, qkv, pos=None):
        """qkv [B, L, 3, H, D] -> q, k, v and the rotated qr, kr, each [B*H, L, D]."""
        B, L, _, H, D = qkv.shape
        q, k, v = qkv.permute(2, 0, 3, 1, 4).reshape(3, B * H, L, D)
        qr, kr = q, k
        if self.rope:
            qr, kr = self.rotate(qkv[:, :, :2], pos).permute(2, 0, 3, 1, 4).reshape(2, B * H, L, D)
        return q, k, v, qr, kr

    def core(self, q, k, v, qr, kr, mask=None):
        """softmax(logits) v for [B*H, L, D] inputs in token order; mask: an additive
        [B*H, L, L] mask (packed rows: 0 on the keys of the query's example up to it,
        -inf elsewhere), or None: the causal mask."""
        L, c = q.shape[1], self.c
        if not self.cope:
            att = torch.baddbmm(self.mask[:L, :L] if mask is None else mask, qr, kr.transpose(1, 2), alpha=c)
            if self.rel:
                att = att + self.rel_skew(q)
            return torch.bmm(torch.softmax(att, -1), v)
        # CoPE: keys and values in reverse order, key m is token L-1-m
        k, v = k.flip(1), v.flip(1)
        # (columns -L: are the reversed keys of the first L tokens)
        mask = self.mask_rev[:L, -L:] if mask is None else mask.flip(-1)
        content = torch.baddbmm(mask, q, k.transpose(1, 2), alpha=c)  # c q.k, -inf at later keys
        att = content if not self.rope else torch.baddbmm(mask, qr, kr.flip(1).transpose(1, 2), alpha=c)
        if self.rel:
            z = q @ (c * self.rel_r)
            att = att + z.gather(-1, self.rel_idx_rev[:L, -L:].expand(q.shape[0], L, L))
        pos = torch.sigmoid(content).cumsum(-1)  # gates 0 at later keys; sum from key j to query i
        if self.npos <= L:  # p <= L always, so the clamp can only bind when npos <= L
            pos = pos.clamp(max=self.npos - 1)
        z = q @ (self.cope_e if self.nodiv else c * self.cope_e)  # [B*H, L, npos]: c q_i.e_n (nodiv: q_i.e_n)
        dz = F.pad(z[..., 1:] - z[..., :-1], (0, 1))  # z[n+1] - z[n], 0 at the last position
        lo = pos.long()  # floor: p >= 0
        att = att + torch.addcmul(z.gather(-1, lo), pos.frac(), dz.gather(-1, lo))
        return torch.bmm(torch.softmax(att, -1), v)

    def rel_skew(self, q):
        """[B*H, L, L] with c q_i.r[min(i-j, nrel-1)] at (i, j <= i), finite junk above."""
        BH, L, _ = q.shape
        z = q @ (self.c * self.rel_r[:, self.skew_cols[-L:]])  # column m: distance L-1-m
        return F.pad(z, (0, 1)).view(BH, L * (L + 1))[:, L - 1: L - 1 + L * L].view(BH, L, L)

    def forward(self, x, mask=None, pos=None):
        B, L, C = x.shape
        y = self.core(*self.heads(self.qkv(x).view(B, L, 3, self.H, self.D), pos), mask)
        return self.out(y.view(B, self.H, L, self.D).transpose(1, 2).reshape(B, L, C))


class Block(nn.Module):
    """Pre-norm by default; a.post_norm: x = ln1(x + attn(x)), x = ln2(x + mlp(x)).
    a.activation "relu" or GELU (a.gelu "tanh", the default, or "erf")."""

    def __init__(self, a):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(a.dim), nn.LayerNorm(a.dim)
        self.attn = Attention(a)
        self.fc1, self.fc2 = nn.Linear(a.dim, 4 * a.dim), nn.Linear(4 * a.dim, a.dim)
        self.post = getattr(a, "post_norm", False)
        act, form = getattr(a, "activation", "gelu"), getattr(a, "gelu", "tanh")
        self.act = F.relu if act == "relu" else (lambda h: F.gelu(h, approximate="tanh" if form == "tanh" else "none"))

    def forward(self, x, mask=None, pos=None):
        if self.post:
            x = self.ln1(x + self.attn(x, mask, pos))
            return self.ln2(x + self.fc2(self.act(self.fc1(x))))
        x = x + self.attn(self.ln1(x), mask, pos)
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class Model(nn.Module):
    """a.tied: logits x . tok^T, no head; post-norm has no final LayerNorm (docs/model.md)."""

    def __init__(self, a):
        super().__init__()
        self.H = a.heads
        self.tok = nn.Embedding(a.vocab, a.dim)
        self.pos = nn.Embedding(a.seq, a.dim) if a.pe == "abs" else None
        self.blocks = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.ln_f = None if getattr(a, "post_norm", False) else nn.LayerNorm(a.dim)
        self.head = None if getattr(a, "tied", False) else nn.Linear(a.dim, a.vocab, bias=False)

    def forward(self, ids, starts=None):
        """ids [B, L]; starts [B, L] (packed rows, docs/model.md): starts[b, t] is the first
        column of token t's example, which sees keys starts[b, t]..t at positions t - starts."""
        B, L = ids.shape
        mask = pos = None
        if starts is not None:
            t = torch.arange(L)
            pos = t[None, :] - starts
            keep = (t[None, None, :] >= starts[:, :, None]) & (t[None, None, :] <= t[None, :, None])
            mask = torch.zeros(B, L, L).masked_fill(~keep, float("-inf")).repeat_interleave(self.H, 0)
        x = self.tok(ids)
        if self.pos is not None:
            x = x + (self.pos.weight[:L] if pos is None else self.pos.weight[pos])
        for b in self.blocks:
            x = b(x, mask, pos)
        if self.ln_f is not None:
            x = self.ln_f(x)
        return x @ self.tok.weight.t() if self.head is None else self.head(x)


def step_flops_per_token(a):
    per_layer = 4 * a.dim * a.dim + 8 * a.dim * a.dim
    return 6 * (a.layers * per_layer + a.vocab * a.dim) + 6 * a.layers * a.seq * a.dim


def plain_attention(m, q, k, v):
    """The earlier script's formulation, the reference of --self-check: q, k, v [B*H, L, D]."""
    L, D = q.shape[1], m.D
    qs, ks = q, k
    if m.rope:
        half = D // 2
        cos, sin = m.cos[:L, 0, 0], m.sin[:L, 0, 0]
        rot = lambda x: torch.cat([x[..., :half] * cos - x[..., half:] * sin,
                                   x[..., :half] * sin + x[..., half:] * cos], -1)
        qs, ks = rot(q), rot(k)
    att = torch.bmm(qs, ks.transpose(1, 2))
    mask = torch.ones(L, L, dtype=q.dtype).tril()
    i, j = torch.arange(L)[:, None], torch.arange(L)[None, :]
    if m.rel:
        att = att + torch.gather(q @ m.rel_r, -1, (i - j).clamp(0, m.nrel - 1).expand(q.shape[0], L, L))
    if m.cope:
        gates = torch.sigmoid(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(D)) * mask
        pos = gates.flip(-1).cumsum(-1).flip(-1).clamp(max=m.npos - 1)
        z = torch.matmul(q, m.cope_e)
        pc, pf = pos.ceil().long(), pos.floor().long()
        w = pos - pf
        att = att + z.gather(-1, pc) * w + z.gather(-1, pf) * (1 - w)
    att = att / math.sqrt(D) + mask.log()
    return torch.bmm(torch.softmax(att, -1), v)


def self_check():
    """float64: the fast attention against plain_attention, outputs and all gradients."""
    torch.manual_seed(3)
    worst = 0.0
    for pe in ["none", "abs", "rel", "rope", "cope", "cope+rel", "cope+rope"]:
        for caps in [{}, {"npos": 5, "nrel": 5}]:  # default tables, and ones whose caps bind
            a = argparse.Namespace(pe=pe, dim=16, heads=2, seq=13, **caps)
            m = Attention(a).double()
            for p in m.parameters():
                p.data.normal_()
            B, L, H, D = 3, 11, m.H, m.D
            qkv = (torch.randn(B, L, 3, H, D, dtype=torch.float64) * 1.5).requires_grad_()
            dy = torch.randn(B * H, L, D, dtype=torch.float64)
            results = []
            for fn in (lambda: m.core(*m.heads(qkv)),
                       lambda: plain_attention(m, *qkv.permute(2, 0, 3, 1, 4).reshape(3, B * H, L, D))):
                y = fn()
                grads = torch.autograd.grad(y, [qkv] + list(m.parameters()), dy, allow_unused=True)
                results.append([y] + [g if g is not None else torch.zeros(1, dtype=y.dtype) for g in grads])
            err = max(((f - p).abs().max() / p.abs().max().clamp(min=1e-300)).item()
                      for f, p in zip(*results))
            worst = err if math.isnan(err) else max(worst, err)
            print(f"self-check {pe:10} {'capped' if caps else 'default':8} "
                  f"max relative difference (output, d qkv, d tables) {err:.2e}")
    ok = worst < 1e-12  # False for nan
    print(f"self-check: {'PASS' if ok else 'FAIL'} (worst {worst:.2e}, bound 1e-12)")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pe", default="cope", choices=["none", "abs", "rel", "rope", "cope", "cope+rel", "cope+rope"])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--self-check", action="store_true", help="check the attention against the plain formulation")
    a = p.parse_args()
    if a.self_check:
        sys.exit(0 if self_check() else 1)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = Model(a)
    is_decay = lambda n, p: p.dim() >= 2 and n.endswith(".weight") and n != "pos.weight"
    decay = [p for n, p in model.named_parameters() if is_decay(n, p)]
    other = [p for n, p in model.named_parameters() if not is_decay(n, p)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(a.vocab, (a.batch, a.seq), generator=g)
    tgt = torch.randint(a.vocab, (a.batch, a.seq), generator=g)
    times = []
    for s in range(a.warmup_steps + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(ids).view(-1, a.vocab), tgt.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = (time.perf_counter() - t0) * 1000
        if s >= a.warmup_steps:
            times.append(dt)
    med = statistics.median(times)
    tokens = a.batch * a.seq
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "pe": a.pe,
        "layers": a.layers, "dim": a.dim, "heads": a.heads, "seq": a.seq, "batch": a.batch, "vocab": a.vocab,
        "steps": a.steps, "ms_per_step": med, "min_ms": min(times), "max_ms": max(times),
        "tokens_per_s": tokens / (med / 1000), "gflops": step_flops_per_token(a) * tokens / (med / 1000) / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()
