#!/usr/bin/env python3
"""How often the variable-blind shortcut answers a Counting program right.

The shortcut counts every "++;" after the last "=" of the program, whichever variable
it belongs to (docs/tasks.md, "The shortcut, and the binding subset"). This script is
an independent check of that figure, outside minicope:

  scripts/counting_shortcut.py                  simulate the generator's rules (the
                                                table of docs/tasks.md)
  scripts/counting_shortcut.py FILE.jsonl ...   the shortcut's error on files in the
                                                official format (context, question, answer)

minicope computes the same on every evaluation set (tasks/counting.cpp) and prints it
with `minicope eval`.
"""
import json
import random
import sys


def shortcut(words):
    count = 0
    for w in words:
        count = 0 if w == "=" else count + (w == "++;")
    return count


def generate(rng, nvars, max_steps, with_variable=False):
    """One program, drawn as minicope's generator (and the official one) draws it: its
    words and the printed variable's value (and, with_variable, the variable's name)."""
    while True:
        steps = 3 + rng.randrange(max_steps - 2)
        value, words, ok = {}, [], True
        for _ in range(steps):
            stmt = None
            for _ in range(100):
                u = rng.randrange(58)  # weights: set 1, pass 50, increment 7
                if u < 1:
                    v = rng.randrange(nvars)
                    value[v] = 0
                    stmt = [chr(97 + v), "=", "0", ";"]
                elif u < 51:
                    stmt = ["pass;"]
                elif value:
                    k = sorted(value)[rng.randrange(len(value))]
                    if value[k] + 1 <= 10:
                        value[k] += 1
                        stmt = [chr(97 + k), "++;"]
                if stmt:
                    break
            if not stmt:
                ok = False
                break
            words += stmt
        if ok and value:
            k = sorted(value)[rng.randrange(len(value))]
            return (words, chr(97 + k), value[k]) if with_variable else (words, value[k])


def main(paths):
    if paths:
        for path in paths:
            n = wrong = 0
            with open(path) as f:
                for line in f:
                    if line.strip():
                        r = json.loads(line)
                        n += 1
                        wrong += str(shortcut(r["context"].split())) != r["answer"].strip()
            print(f"{path}: {n} programs, shortcut error {100 * wrong / n:.1f}%")
        return
    print("shortcut error, 4000 simulated programs per cell (seed 1)")
    print("vars " + "".join(f"{m:>8}" for m in (16, 64, 128, 256, 512)))
    for nvars in (3, 5):
        cells = []
        for max_steps in (16, 64, 128, 256, 512):
            rng = random.Random(1)
            wrong = 0
            for _ in range(4000):
                words, answer = generate(rng, nvars, max_steps)
                wrong += shortcut(words) != answer
            cells.append(f"{100 * wrong / 4000:7.1f}%")
        print(f"{nvars:4} " + "".join(cells))


if __name__ == "__main__":
    main(sys.argv[1:])
