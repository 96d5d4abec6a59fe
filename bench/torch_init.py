#!/usr/bin/env python3
"""Initial weights drawn the way stock PyTorch modules draw them, for `minicope train --init`.

  minicope train ARGS --steps 1 --trace --out runs/tmpl      # minicope's own first weights
  /usr/bin/python3 bench/torch_init.py runs/tmpl/init.safetensors --out torch-init.safetensors \
      [--parts emb,linear,bias,head] [--seed 1]
  minicope train ARGS --init torch-init.safetensors --out runs/x

minicope initialises as GPT-2 does (docs/model.md): every Linear weight and embedding
normal(0, 0.02), the residual projections 0.02 / sqrt(2 layers), biases 0. A PyTorch
model built from nn.Linear / nn.Embedding without an init function gets instead:
  emb     nn.Embedding: token (and absolute position) embeddings normal(0, 1)
  linear  nn.Linear weights: kaiming_uniform(a = sqrt 5) = uniform(+-1/sqrt(fan_in)),
          the residual projections included (no 1/sqrt(2 layers))
  bias    nn.Linear biases: uniform(+-1/sqrt(fan_in))
  head    the output head (a bias-free nn.Linear): uniform(+-1/sqrt(C))
LayerNorm (1, 0) and the position tables (CoPE's 0, rel's normal(0, 1/sqrt D)) are the
same in both and kept. --parts replaces only the named groups, so each difference can be
tried on its own; the template's other tensors are copied unchanged, and its optimizer
moments are left out.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trajectory import fail, read_safetensors  # noqa: E402

PARTS = ("emb", "linear", "bias", "head")


def group(name):
    """Which PyTorch-default group a minicope tensor belongs to, or None (kept)."""
    if name in ("tok_emb.weight", "pos_emb.weight"):
        return "emb"
    if name == "head.weight":
        return "head"
    if ".ln" in name or name.startswith("ln_f") or name.endswith(("cope_e", "rel_r")):
        return None
    if name.endswith(".weight"):
        return "linear"
    if name.endswith(".bias"):
        return "bias"
    return None


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)  # never a half-written file at path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("template", help="a minicope weights file (init.safetensors of train --trace, or a checkpoint)")
    p.add_argument("--out", required=True)
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of " + ", ".join(PARTS))
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    parts = set(a.parts.split(","))
    if not parts <= set(PARTS):
        fail(f"--parts: unknown {sorted(parts - set(PARTS))} (choose from {', '.join(PARTS)})")
    if os.path.exists(a.out):
        fail(f"--out {a.out} exists; choose a new file")
    weights, _ = read_safetensors(a.template)
    weights = {k: v for k, v in weights.items() if not k.startswith("optim.")}
    g = torch.Generator().manual_seed(a.seed)
    out, changed = {}, {q: 0 for q in PARTS}
    for name, w in weights.items():
        kind = group(name)
        if kind not in parts:
            out[name] = w
            continue
        if kind == "emb":
            out[name] = torch.randn(w.shape, generator=g, dtype=w.dtype)
        elif kind == "bias":
            fan_in = weights[name[: -len("bias")] + "weight"].shape[1]
            bound = 1 / math.sqrt(fan_in)
            out[name] = (torch.rand(w.shape, generator=g, dtype=w.dtype) * 2 - 1) * bound
        else:  # linear, head: [out, in]
            bound = 1 / math.sqrt(w.shape[1])
            out[name] = (torch.rand(w.shape, generator=g, dtype=w.dtype) * 2 - 1) * bound
        changed[kind] += 1
    write_safetensors(a.out, out)
    print(f"{a.out}: {len(out)} tensors, PyTorch's default draw for " +
          ", ".join(f"{k} ({n})" for k, n in changed.items() if k in parts))


if __name__ == "__main__":
    main()
