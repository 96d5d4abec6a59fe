#!/usr/bin/env python3
"""Write Counting data files in the official format, for `minicope train --data DIR`.

  scripts/counting_data.py --out DIR [--vars 3] [--max-steps 512] [--train 10000]
                           [--test 1000] [--seed 1]

DIR gets train.jsonl (--train programs), valid.jsonl and test.jsonl (--test programs
each), one JSON object per line with string fields "context", "question" and
"answer" -- the layout of the official generator's files (facebookresearch/RAM,
projects/cope/scripts/count_data_gen.py; its defaults: 10,000 / 1,000 / 1,000
programs of at most 512 statements), drawn by the same rules (counting_shortcut.py's
`generate`, which is minicope's generator too). The official script has no seed; this
one does, so a folder can be made again exactly. An existing DIR is never written
into: the script refuses it.
"""
import argparse
import json
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from counting_shortcut import generate  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder to create (must not exist)")
    p.add_argument("--vars", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=512)
    p.add_argument("--train", type=int, default=10000)
    p.add_argument("--test", type=int, default=1000, help="programs in valid.jsonl and in test.jsonl")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if not 1 <= a.vars <= 26 or a.max_steps < 3 or a.train < 1 or a.test < 1:
        sys.exit("counting_data.py: error: need 1 <= --vars <= 26, --max-steps >= 3, --train and --test >= 1")
    out = os.path.normpath(a.out)  # "DIR/" is DIR: the partial folder goes beside it
    if os.path.exists(out):
        sys.exit(f"counting_data.py: error: {out} exists; give a new folder")
    rng = random.Random(a.seed)
    tmp = out + ".partial"
    try:
        shutil.rmtree(tmp, ignore_errors=True)  # left by an earlier, interrupted call
        os.makedirs(tmp)
        for split, n in (("train", a.train), ("valid", a.test), ("test", a.test)):
            with open(os.path.join(tmp, split + ".jsonl"), "w") as f:
                for _ in range(n):
                    words, var, answer = generate(rng, a.vars, a.max_steps, with_variable=True)
                    f.write(json.dumps({"context": " ".join(words), "question": "print " + var, "answer": str(answer)}) + "\n")
        os.rename(tmp, out)  # the folder appears whole or not at all
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(f"counting_data.py: error: cannot write {out}: {e.strerror or e}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"{out}: {a.train} / {a.test} / {a.test} programs of at most {a.max_steps} statements, {a.vars} variables")


if __name__ == "__main__":
    main()
