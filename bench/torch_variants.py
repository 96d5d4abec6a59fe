#!/usr/bin/env python3
"""Ways to write bench/torch_reference.py's model in PyTorch, timed against each other.

The variants explored for docs/torch_reference_notes.md. Each `--variant` is a set of
options (see VARIANTS and the Attention class); all variants are built in one process
and timed alternating, one training step each per round (A, B, C, A, B, C, ...), so
that they see the same machine load; the medians over --rounds are printed, with the
ratio to the first variant. The model and the step are bench/torch_reference.py's
(docs/model.md); only the way it is written changes. Example:

  /usr/bin/python3 bench/torch_variants.py --pe cope --rounds 8 \
      --variants old fused_badd cope_flip cope_tot cope_rev cope_rev_ceil

This is exploration code: bench/torch_reference.py holds the variant that won.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Options: qkv sep|fused; split permute|chunk|4d; mask log|fill|fill_step|badd;
# cope old|flip|tot|rev; interp ceil|diff; rel gather|skew; rope old|joint.
BASE = dict(qkv="fused", split="permute", mask="badd", cope="rev", interp="diff", rel="skew",
            rope="joint", foreach=False)
VARIANTS = {
    # the old script: separate projections, a second product for the gates, flip-cumsum-flip,
    # mask.log() added, the scale as a division
    "old": dict(qkv="sep", split="permute", mask="log", cope="old", interp="ceil", rel="gather",
                rope="old"),
    "fused_log": dict(mask="log", cope="old", interp="ceil", rel="gather", rope="old"),
    "fused_fill": dict(mask="fill", cope="flip", interp="ceil", rel="gather", rope="old"),
    "fused_fill_step": dict(mask="fill_step", cope="flip", interp="ceil", rel="gather", rope="old"),
    "fused_badd": dict(mask="badd", cope="flip", interp="ceil", rel="gather", rope="old"),
    "chunk_badd": dict(split="chunk", mask="badd", cope="flip", interp="ceil"),
    "4d_fill": dict(split="4d", mask="fill"),
    "cope_flip": dict(cope="flip", interp="ceil"),
    "cope_tot": dict(cope="tot", interp="ceil"),
    "cope_rev_ceil": dict(cope="rev", interp="ceil"),
    "cope_rev": dict(cope="rev", interp="diff"),
    "rel_gather": dict(rel="gather"),
    "rel_skew": dict(rel="skew"),
    "rope_old": dict(rope="old"),
    "rope_joint": dict(rope="joint"),
    "best": dict(),
    "best_foreach": dict(foreach=True),
}


class Attention(nn.Module):
    def __init__(self, a, o):
        super().__init__()
        C, H = a.dim, a.heads
        self.o, self.H, self.D, self.c = o, H, C // H, 1.0 / math.sqrt(C // H)
        if o["qkv"] == "sep":
            self.q, self.k, self.v = (nn.Linear(C, C) for _ in range(3))
        else:
            self.qkv = nn.Linear(C, 3 * C)
        self.out = nn.Linear(C, C)
        self.cope = a.pe.startswith("cope")
        self.rel = a.pe in ("rel", "cope+rel")
        self.rope = a.pe in ("rope", "cope+rope")
        L = a.seq
        if self.cope:
            self.npos = a.seq + 1
            self.pos_emb = nn.Parameter(torch.randn(1, self.D, self.npos) * 0.02)
        if self.rel:
            self.nrel = a.seq
            self.rel_emb = nn.Parameter(torch.randn(self.D, self.nrel) / math.sqrt(self.D))
            i, j = torch.arange(L)[:, None], torch.arange(L)[None, :]
            self.register_buffer("rel_idx", (i - j).clamp(0, self.nrel - 1), persistent=False)
            self.register_buffer("rel_idx_rev", (i - (L - 1 - j)).clamp(0, self.nrel - 1), persistent=False)
        if self.rope:
            half = self.D // 2
            t = torch.arange(a.seq, dtype=torch.float32)[:, None]
            theta = t * (10000.0 ** (-2.0 * torch.arange(half, dtype=torch.float32) / self.D))[None, :]
            self.register_buffer("cos", theta.cos(), persistent=False)
            self.register_buffer("sin", theta.sin(), persistent=False)
        tril = torch.ones(L, L, dtype=torch.bool).tril()
        self.register_buffer("mask_f", tril.float(), persistent=False)
        self.register_buffer("keep", tril, persistent=False)
        self.register_buffer("drop", ~tril, persistent=False)
        add = torch.zeros(L, L).masked_fill(~tril, float("-inf"))
        self.register_buffer("mask_add", add, persistent=False)
        self.register_buffer("mask_add_rev", add.flip(-1).contiguous(), persistent=False)
        self.register_buffer("drop_rev", (~tril).flip(-1).contiguous(), persistent=False)

    # rope on q, k laid out [..., L, ..., D] with L at dim `ldim`
    def rotate_old(self, x):  # x [BH, L, D]
        half = self.D // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * self.cos - x2 * self.sin, x1 * self.sin + x2 * self.cos], -1)

    def rotate_joint(self, qk):  # qk [B, L, 2, H, D]: q and k rotated together
        half = self.D // 2
        L = qk.shape[1]
        cos, sin = self.cos[:L, None, None, :], self.sin[:L, None, None, :]
        x1, x2 = qk[..., :half], qk[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)

    def forward(self, x):
        o = self.o
        B, L, C = x.shape
        H, D, c = self.H, self.D, self.c
        rev = self.cope and o["cope"] == "rev"
        qr = kr = None
        if o["qkv"] == "sep":
            split = lambda t: t.view(B, L, H, D).transpose(1, 2).reshape(B * H, L, D)
            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        elif o["split"] == "chunk":
            q, k, v = (t.view(B, L, H, D).transpose(1, 2).reshape(B * H, L, D) for t in self.qkv(x).chunk(3, -1))
        elif o["split"] == "4d":
            q, k, v = self.qkv(x).view(B, L, 3, H, D).permute(2, 0, 3, 1, 4)
        else:
            qkv = self.qkv(x).view(B, L, 3, H, D)
            if self.rope and o["rope"] == "joint":
                qkr = self.rotate_joint(qkv[:, :, :2])  # [B, L, 2, H, D]
                qr, kr = qkr.permute(2, 0, 3, 1, 4).reshape(2, B * H, L, D)
            qkv = qkv.permute(2, 0, 3, 1, 4)  # [3, B, H, L, D], a view
            if rev:  # keys and values in reverse order
                q, k, v = qkv[0].reshape(B * H, L, D), qkv[1].reshape(B * H, L, D).flip(1), qkv[2].reshape(B * H, L, D).flip(1)
                if kr is not None:
                    kr = kr.flip(1)
            else:
                q, k, v = (t.reshape(B * H, L, D) for t in qkv)
        if self.rope and qr is None:
            qr, kr = self.rotate_old(q), (self.rotate_old(k) if not rev else self.rotate_old(k.flip(1)).flip(1))
        if not self.rope:
            qr, kr = q, k
        if o["split"] == "4d":
            att = (qr * c) @ kr.transpose(-2, -1)
            att = att.masked_fill(self.drop[:L, :L], float("-inf"))
            y = torch.softmax(att, -1) @ v  # [B, H, L, D]
            return self.out(y.transpose(1, 2).reshape(B, L, C))
        if o["mask"] == "log":  # the old script: everything unscaled, then / sqrt(D) + log(mask)
            att = torch.bmm(qr, kr.transpose(1, 2))
            if self.rel:
                att = att + torch.gather(q @ self.rel_emb, -1, self.rel_idx[:L, :L].expand(B * H, L, L))
            if self.cope:
                att = att + self.cope_old(q, k, self.mask_f[:L, :L])
            att = att / math.sqrt(D) + self.mask_f[:L, :L].log()
        else:
            mask_add = (self.mask_add_rev if rev else self.mask_add)[:L, :L]
            if o["mask"] == "badd":
                att = torch.baddbmm(mask_add, qr, kr.transpose(1, 2), alpha=c)
            else:
                att = torch.bmm(qr, kr.transpose(1, 2)).mul(c)
                drop = (self.drop_rev if rev else self.drop)[:L, :L]
                if o["mask"] == "fill_step":
                    drop = torch.ones(L, L, dtype=torch.bool, device=x.device).tril().logical_not()
                    if rev:
                        drop = drop.flip(-1)
                att = att.masked_fill(drop, float("-inf"))
            # att = c q.k (rotated under rope) with -inf at masked keys
            content = att
            if self.rope and self.cope:
                content = torch.baddbmm(mask_add, q, k.transpose(1, 2), alpha=c)
            if self.rel:
                att = att + self.rel_term(q, B, L, rev)
            if self.cope:
                att = att + self.cope_term(q, content, L, rev)
        y = torch.bmm(torch.softmax(att, -1), v)
        return self.out(y.view(B, H, L, D).transpose(1, 2).reshape(B, L, C))

    def rel_term(self, q, B, L, rev):  # c q_i . r[i-j]
        o, H = self.o, self.H
        if rev or o["rel"] == "gather":
            idx = (self.rel_idx_rev if rev else self.rel_idx)[:L, :L]
            return torch.gather(q @ (self.c * self.rel_emb), -1, idx.expand(B * H, L, L))
        # skew (Huang et al. 2018): z[i, m] = c q_i . r[L-1-m]; row i shifted left by L-1-i
        BH = q.shape[0]
        cols = (L - 1 - torch.arange(L, device=q.device)).clamp(max=self.nrel - 1)
        z = q @ (self.c * self.rel_emb[:, cols])  # [BH, L, L]
        return F.pad(z, (0, 1)).view(BH, L * (L + 1))[:, L - 1: L - 1 + L * L].view(BH, L, L)

    def cope_old(self, q, k, mask):  # the old script's CoPE term, unscaled
        gates = torch.sigmoid(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(self.D)) * mask
        pos = gates.flip(-1).cumsum(-1).flip(-1).clamp(max=self.npos - 1)
        z = torch.matmul(q, self.pos_emb)
        pc, pf = pos.ceil().long(), pos.floor().long()
        w = pos - pf
        return z.gather(-1, pc) * w + z.gather(-1, pf) * (1 - w)

    def cope_term(self, q, content, L, rev):  # c q_i . e[p_ij], from content = c q.k masked -inf
        o = self.o
        g = torch.sigmoid(content)  # 0 at masked keys
        if rev:
            pos = g.cumsum(-1)
        elif o["cope"] == "tot":
            cs = g.cumsum(-1)
            pos = cs[..., -1:] - cs + g
        else:
            pos = g.flip(-1).cumsum(-1).flip(-1)
        if self.npos <= L:  # positions never exceed L, so the clamp only binds when npos <= L
            pos = pos.clamp(max=self.npos - 1)
        z = q @ (self.c * self.pos_emb[0])  # [BH, L, npos]
        if o["interp"] == "ceil":
            lo, hi = pos.floor(), pos.ceil()
            w = pos - lo
            return torch.lerp(z.gather(-1, lo.long()), z.gather(-1, hi.long()), w)
        lo = pos.long()  # floor: positions are >= 0
        dz = F.pad(z[..., 1:] - z[..., :-1], (0, 1))  # z[n+1] - z[n], 0 past the end
        return torch.addcmul(z.gather(-1, lo), pos.frac(), dz.gather(-1, lo))


class Block(nn.Module):
    def __init__(self, a, o):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(a.dim), nn.LayerNorm(a.dim)
        self.attn = Attention(a, o)
        self.fc1, self.fc2 = nn.Linear(a.dim, 4 * a.dim), nn.Linear(4 * a.dim, a.dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class Model(nn.Module):
    def __init__(self, a, o):
        super().__init__()
        self.tok = nn.Embedding(a.vocab, a.dim)
        self.pos = nn.Embedding(a.seq, a.dim) if a.pe == "abs" else None
        self.blocks = nn.ModuleList(Block(a, o) for _ in range(a.layers))
        self.ln_f = nn.LayerNorm(a.dim)
        self.head = nn.Linear(a.dim, a.vocab, bias=False)

    def forward(self, ids):
        x = self.tok(ids)
        if self.pos is not None:
            x = x + self.pos.weight[: ids.shape[1]]
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


def make(a, name):
    o = dict(BASE, **VARIANTS[name])
    torch.manual_seed(1)
    model = Model(a, o)
    is_decay = lambda n, p: p.dim() >= 2 and "pos" not in n and "rel_emb" not in n
    decay = [p for n, p in model.named_parameters() if is_decay(n, p)]
    other = [p for n, p in model.named_parameters() if not is_decay(n, p)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.99), foreach=o["foreach"])
    return model, opt


def step(a, model, opt, ids, tgt):
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(ids).view(-1, a.vocab), tgt.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pe", default="cope", choices=["none", "abs", "rel", "rope", "cope", "cope+rel", "cope+rope"])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--warmup-steps", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--flush-denormal", action="store_true")
    p.add_argument("--no-mkldnn", action="store_true")
    p.add_argument("--variants", nargs="+", default=["old", "best"], choices=sorted(VARIANTS))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.flush_denormal:
        torch.set_flush_denormal(True)
    if a.no_mkldnn:
        torch.backends.mkldnn.enabled = False
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(a.vocab, (a.batch, a.seq), generator=g)
    tgt = torch.randint(a.vocab, (a.batch, a.seq), generator=g)
    runs = {n: make(a, n) for n in a.variants}
    losses = {}
    for n, (m, o) in runs.items():
        for _ in range(a.warmup_steps):
            losses[n] = step(a, m, o, ids, tgt)
    wall, cpu = {n: [] for n in runs}, {n: [] for n in runs}
    for r in range(a.rounds):
        for n, (m, o) in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            step(a, m, o, ids, tgt)
            wall[n].append((time.perf_counter() - t0) * 1000)
            cpu[n].append((time.process_time() - c0) * 1000)
    base_w, base_c = statistics.median(wall[a.variants[0]]), statistics.median(cpu[a.variants[0]])
    print(f"pe {a.pe}, {a.rounds} alternating rounds, {torch.get_num_threads()} threads"
          f"{', flush_denormal' if a.flush_denormal else ''}{', mkldnn off' if a.no_mkldnn else ''}"
          f" (wall: elapsed ms per step; cpu: the process's CPU ms per step, all threads)")
    for n in runs:
        w, c = statistics.median(wall[n]), statistics.median(cpu[n])
        print(f"  {n:16} wall {w:8.1f} ms ({w / base_w:5.3f}, min {min(wall[n]):7.1f})"
              f"  cpu {c:8.1f} ms ({c / base_c:5.3f}, min {min(cpu[n]):7.1f})  first loss {losses[n]:.4f}")


if __name__ == "__main__":
    main()
