#!/usr/bin/env python3
"""Replays a minicope training run in PyTorch, step by step, and compares the losses.

  minicope train --task flipflop --length 128 --steps 40 --trace --out runs/traj
  /usr/bin/python3 bench/trajectory.py runs/traj [--double] [--tol 1e-4]

`train --trace` writes the run's initial weights (init.safetensors) and, for every
step, the batch it trained on, its loss, the gradient norm before clipping and the
learning rate (trace.jsonl; train/trace.h). This script loads the same weights into
bench/torch_reference.py's model (docs/model.md, written independently in PyTorch),
trains it on the same batches with torch.optim.AdamW set as minicope's AdamW (betas,
eps 1e-8, decoupled decay on the matrices and the token embedding, clipping of the
global gradient norm, the trace's learning rate at each step), and prints, per step,
both losses and gradient norms and their relative differences.

The two trajectories are computed independently (each from its own weights after the
previous step), so a difference in the gradient or the optimizer shows as a drift that
grows; f32 rounding alone (the order of sums differs between the two) stays small.
--double runs PyTorch in float64: the distance of minicope's f32 run from the exact
trajectory. --noise replays in both and prints how far torch's own f32 run drifts from
its f64 one over the same steps: what rounding alone does. The step of a chaotic
trajectory amplifies rounding, so after ~100 steps at a full learning rate that drift
reaches 1e-4..1e-3; --noise then holds minicope to 4x torch's f32 drift (or --tol,
whichever is larger). Exit status 0 when every step's loss agrees to that bound, 1 when
one does not, 2 on a run it cannot replay (dropout, options torch_reference lacks).
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import Model  # noqa: E402

UNSUPPORTED = {"dropout": 0.0, "attn-dropout": 0.0, "sep-key": False, "val-gates": False, "shared": False, "every": 1}


def fail(msg):
    print(f"trajectory.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_safetensors(path):
    """{name: float tensor} of a safetensors file (F32 or F64), and its metadata."""
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            data = f.read()
    except (OSError, struct.error, ValueError) as e:
        fail(f"{path}: cannot be read as safetensors ({e})")
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": torch.float32, "F64": torch.float64}.get(t["dtype"])
        if dtype is None:
            continue  # (ids and the like: not weights)
        lo, hi = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[lo:hi]), dtype=dtype).reshape(t["shape"]).clone()
    return out, header.get("__metadata__", {})


def model_args(cfg, weights):
    """torch_reference's arguments from a run's config.json."""
    for k, v in UNSUPPORTED.items():
        if cfg.get(k, v) != v:
            fail(f"the run has --{k} {cfg[k]}; the replay supports only {k} = {v}")
    seq = cfg["seq"]
    return argparse.Namespace(
        pe=cfg["pe"], dim=cfg["dim"], heads=cfg["heads"], layers=cfg["layers"], seq=seq,
        vocab=weights["tok_emb.weight"].shape[0], npos=cfg.get("npos") or seq + 1,
        nrel=cfg.get("rel-cap") or seq, nodiv=cfg.get("nodiv", False), tied=cfg.get("tied", False),
        post_norm=cfg.get("post-norm", False), activation=cfg.get("activation", "gelu"),
        gelu=cfg.get("gelu", "tanh"))


def load_weights(model, weights, layers):
    """minicope's tensors (docs/model.md, "Parameter names") into the torch model; q, k
    and v go into the fused qkv projection. Every tensor on both sides is used once."""
    src = {k: v for k, v in weights.items() if not k.startswith("optim.")}
    mapped = {"tok_emb.weight": "tok.weight", "pos_emb.weight": "pos.weight"}
    for l in range(layers):
        b, t = f"blocks.{l}.", f"blocks.{l}."
        for n in ("ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "attn.out.weight", "attn.out.bias",
                  "attn.cope_e", "attn.rel_r"):
            mapped[b + n] = t + n
        for n in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
            mapped[b + "mlp." + n] = t + n
        for part in ("weight", "bias"):
            names = [f"{b}attn.{x}.{part}" for x in "qkv"]
            if all(n in src for n in names):
                src[f"{b}attn.qkv.{part}"] = torch.cat([src.pop(n) for n in names], 0)
                mapped[f"{b}attn.qkv.{part}"] = f"{t}attn.qkv.{part}"
    mapped.update({"ln_f.weight": "ln_f.weight", "ln_f.bias": "ln_f.bias", "head.weight": "head.weight"})
    params = dict(model.named_parameters())
    used = set()
    with torch.no_grad():
        for name, w in src.items():
            target = mapped.get(name)
            if target not in params:
                fail(f"init.safetensors holds '{name}', which the torch model has no place for")
            if tuple(params[target].shape) != tuple(w.shape):
                fail(f"'{name}' is {list(w.shape)} in minicope and {list(params[target].shape)} in torch")
            params[target].copy_(w)
            used.add(target)
    missing = sorted(set(params) - used)
    if missing:
        fail(f"the torch model's {missing} have no tensor in init.safetensors")


def decays(name, p):
    """minicope's weight-decay marks (nn/layers.cpp, nn/transformer.cpp): Linear weights and
    the token embedding; not biases, LayerNorm, position tables or embeddings."""
    return p.dim() >= 2 and name.endswith(".weight") and name != "pos.weight"


def replay(run, cfg, weights, margs, steps, dtype):
    """Trains the torch model from the run's initial weights on its traced batches:
    [(loss, grad norm)] per step."""
    torch.set_default_dtype(dtype)  # the masks and buffers too
    model = Model(margs).to(dtype)
    load_weights(model, weights, margs.layers)
    named = list(model.named_parameters())
    opt = torch.optim.AdamW(
        [{"params": [q for n, q in named if decays(n, q)], "weight_decay": cfg["weight-decay"]},
         {"params": [q for n, q in named if not decays(n, q)], "weight_decay": 0.0}],
        lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=1e-8)
    clip = cfg.get("clip", 0.0) or 0.0
    out = []
    for s in steps:
        R, L = s["rows"], s["cols"]
        ids = torch.tensor(s["inputs"]).view(R, L)
        tgt = torch.tensor(s["targets"]).view(R, L)
        m = torch.tensor(s["mask"], dtype=dtype).view(R, L)
        starts = None if s["starts"] is None else torch.tensor(s["starts"]).view(R, L)
        for g in opt.param_groups:
            g["lr"] = s["lr"]
        opt.zero_grad(set_to_none=True)
        logits = model(ids, starts)
        nll = F.cross_entropy(logits.view(R * L, -1), tgt.view(-1), reduction="none")
        loss = (nll * m.view(-1)).sum() / m.sum()
        loss.backward()
        if clip > 0:
            gn = torch.nn.utils.clip_grad_norm_([q for _, q in named], clip).item()
        else:
            gn = math.sqrt(sum(float((q.grad.double() ** 2).sum()) for _, q in named if q.grad is not None))
        opt.step()
        out.append((loss.item(), gn))
    return out


def rel(a, b):
    d = abs(a - b) / max(abs(b), 1e-30)
    return float("inf") if math.isnan(d) else d


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run folder written by minicope train --trace")
    p.add_argument("--double", action="store_true", help="train the torch model in float64")
    p.add_argument("--noise", action="store_true",
                   help="also replay in float32 and float64 and print how far those two drift apart: "
                        "the size of f32 rounding's drift, beside minicope's distance from float64")
    p.add_argument("--tol", type=float, default=1e-4, help="largest relative loss difference accepted")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the per-step rows as JSON lines")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for f in ("config.json", "init.safetensors", "trace.jsonl"):
        if not os.path.isfile(os.path.join(a.run, f)):
            fail(f"{a.run} has no {f}: train it with minicope train --trace --out {a.run}")
    try:
        cfg = json.load(open(os.path.join(a.run, "config.json")))
        steps = [json.loads(line) for line in open(os.path.join(a.run, "trace.jsonl")) if line.strip()]
    except ValueError as e:
        fail(f"{a.run}: config.json or trace.jsonl is not JSON ({e})")
    if not steps:
        fail(f"{a.run}/trace.jsonl has no steps")
    weights, _ = read_safetensors(os.path.join(a.run, "init.safetensors"))
    margs = model_args(cfg, weights)
    main_dtype = torch.float64 if a.double or a.noise else torch.float32
    ours = replay(a.run, cfg, weights, margs, steps, main_dtype)
    f32 = replay(a.run, cfg, weights, margs, steps, torch.float32) if a.noise else None

    rows = []
    for i, (s, (loss, gn)) in enumerate(zip(steps, ours)):
        r = {"step": s["step"], "minicope_loss": s["loss"], "torch_loss": loss, "rel_diff_loss": rel(s["loss"], loss),
             "minicope_grad_norm": s["grad_norm"], "torch_grad_norm": gn, "rel_diff_grad_norm": rel(s["grad_norm"], gn)}
        if f32:
            r["torch_f32_loss"] = f32[i][0]
            r["rel_diff_torch_f32_f64"] = rel(f32[i][0], loss)
        rows.append(r)
    worst = max(rows, key=lambda r: r["rel_diff_loss"])
    if a.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print(f"{a.run}: {cfg['pe']}{' --nodiv' if cfg.get('nodiv') else ''} on {cfg['task']}, "
              f"{margs.layers}x{margs.dim}, torch {torch.__version__} in {'f64' if main_dtype == torch.float64 else 'f32'}")
        print(f"{'step':>5} {'minicope loss':>14} {'torch loss':>14} {'rel diff':>9} "
              f"{'mc grad norm':>13} {'torch':>13} {'rel diff':>9}" + (f" {'torch f32-f64':>13}" if f32 else ""))
        for r in rows:
            print(f"{r['step']:5d} {r['minicope_loss']:14.8f} {r['torch_loss']:14.8f} {r['rel_diff_loss']:9.1e} "
                  f"{r['minicope_grad_norm']:13.6f} {r['torch_grad_norm']:13.6f} {r['rel_diff_grad_norm']:9.1e}" +
                  (f" {r['rel_diff_torch_f32_f64']:13.1e}" if f32 else ""))
    say = sys.stderr if a.json else sys.stdout
    bound, why = a.tol, f"--tol {a.tol:g}"
    if f32:
        noise = max(r["rel_diff_torch_f32_f64"] for r in rows)
        print(f"noise: torch f32 against torch f64 drifts to {noise:.2e} (relative loss) over the same steps; "
              f"minicope f32 against torch f64 to {worst['rel_diff_loss']:.2e}", file=say)
        if 4 * noise > bound:  # long runs: rounding's drift grows; hold minicope to 4x torch's own
            bound, why = 4 * noise, f"4x the f32 drift, {4 * noise:.2e}"
    ok = worst["rel_diff_loss"] <= bound
    print(f"trajectory: {len(rows)} steps, largest relative loss difference {worst['rel_diff_loss']:.2e} "
          f"(step {worst['step']}); {'PASS' if ok else 'FAIL'} at {why}", file=say)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
