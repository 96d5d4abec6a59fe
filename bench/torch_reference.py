#!/usr/bin/env python3
"""The model of `minicope bench` in PyTorch, timed the same way.

Same architecture (docs/model.md): pre-norm decoder, separate q/k/v projections with
biases, GELU (tanh form) MLP of width 4C, final LayerNorm, untied output head without
bias, and the position encodings none / abs / rel / rope / cope / cope+rel / cope+rope.
CoPE follows the paper's official code (facebookresearch/RAM, projects/cope): gates
sigmoid(q.k/sqrt(D)) masked, a reverse cumulative sum by flip-cumsum-flip, a clamp at
npos-1, floor/ceil gathers from q.e and a linear interpolation, all as plain PyTorch
ops with autograd. A step is forward, cross-entropy, backward, clip_grad_norm_(1.0)
and AdamW (betas 0.9/0.99, weight decay 0.1), on fixed random tokens; the median of
--steps timed steps after --warmup-steps untimed ones is reported.

Prints one JSON object with ms_per_step, tokens_per_s, gflops, peak_rss_mb (the same
keys and FLOP formula as `minicope bench --json`).
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, a, layer):
        super().__init__()
        C, H = a.dim, a.heads
        self.H, self.D, self.pe = H, C // H, a.pe
        self.q, self.k, self.v, self.out = (nn.Linear(C, C) for _ in range(4))
        self.cope = a.pe.startswith("cope")
        self.rel = a.pe in ("rel", "cope+rel")
        self.rope = a.pe in ("rope", "cope+rope")
        if self.cope:
            self.npos = a.seq + 1
            self.pos_emb = nn.Parameter(torch.zeros(1, self.D, self.npos))
        if self.rel:
            self.nrel = a.seq
            self.rel_emb = nn.Parameter(torch.randn(self.D, self.nrel) / math.sqrt(self.D))
        if self.rope:
            half = self.D // 2
            t = torch.arange(a.seq, dtype=torch.float32)[:, None]
            theta = t * (10000.0 ** (-2.0 * torch.arange(half, dtype=torch.float32) / self.D))[None, :]
            self.register_buffer("cos", theta.cos(), persistent=False)
            self.register_buffer("sin", theta.sin(), persistent=False)
        L = a.seq
        self.register_buffer("mask", torch.ones(L, L).tril(), persistent=False)
        i = torch.arange(L)[:, None]
        j = torch.arange(L)[None, :]
        if self.rel:
            self.register_buffer("rel_idx", (i - j).clamp(0, self.nrel - 1), persistent=False)

    def rotate(self, x):
        half = self.D // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * self.cos - x2 * self.sin, x1 * self.sin + x2 * self.cos], -1)

    def forward(self, x):
        B, L, C = x.shape
        split = lambda t: t.view(B, L, self.H, self.D).transpose(1, 2).reshape(B * self.H, L, self.D)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        qs, ks = (self.rotate(q), self.rotate(k)) if self.rope else (q, k)
        att = torch.bmm(qs, ks.transpose(1, 2))
        mask = self.mask[:L, :L]
        if self.rel:
            att = att + torch.gather(q @ self.rel_emb, -1, self.rel_idx[:L, :L].expand(B * self.H, L, L))
        if self.cope:
            gates = torch.sigmoid(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(self.D)) * mask
            pos = gates.flip(-1).cumsum(-1).flip(-1).clamp(max=self.npos - 1)
            z = torch.matmul(q, self.pos_emb)
            pc, pf = pos.ceil().long(), pos.floor().long()
            w = pos - pf
            att = att + z.gather(-1, pc) * w + z.gather(-1, pf) * (1 - w)
        att = att / math.sqrt(self.D) + mask.log()
        y = torch.bmm(torch.softmax(att, -1), v)
        return self.out(y.view(B, self.H, L, self.D).transpose(1, 2).reshape(B, L, C))


class Block(nn.Module):
    def __init__(self, a, layer):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(a.dim), nn.LayerNorm(a.dim)
        self.attn = Attention(a, layer)
        self.fc1, self.fc2 = nn.Linear(a.dim, 4 * a.dim), nn.Linear(4 * a.dim, a.dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.tok = nn.Embedding(a.vocab, a.dim)
        self.pos = nn.Embedding(a.seq, a.dim) if a.pe == "abs" else None
        self.blocks = nn.ModuleList(Block(a, l) for l in range(a.layers))
        self.ln_f = nn.LayerNorm(a.dim)
        self.head = nn.Linear(a.dim, a.vocab, bias=False)

    def forward(self, ids):
        x = self.tok(ids)
        if self.pos is not None:
            x = x + self.pos.weight[: ids.shape[1]]
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


def step_flops_per_token(a):
    per_layer = 4 * a.dim * a.dim + 8 * a.dim * a.dim
    return 6 * (a.layers * per_layer + a.vocab * a.dim) + 6 * a.layers * a.seq * a.dim


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
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = Model(a)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "pos" not in n and "rel_emb" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "pos" not in n and "rel_emb" not in n)]
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
