#!/usr/bin/env python3
"""compare_metrics.py A B TOL [--loads] — compares two runs' metrics.jsonl
(the data-parallel tests): every loss, grad_norm and val_loss of run A and
run B must agree to relative TOL (0: bit for bit), and with --loads the MoE
expert loads must be equal. Prints the largest relative difference; exits 1
naming the first disagreement."""
import json
import sys


def lines(run):
    with open(run + "/metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def main():
    args = [a for a in sys.argv[1:] if a != "--loads"]
    if len(args) != 3:
        sys.exit(__doc__)
    a, b, tol = args[0], args[1], float(args[2])
    la, lb = lines(a), lines(b)
    if len(la) != len(lb):
        sys.exit(f"{a} has {len(la)} metrics lines, {b} {len(lb)}")
    worst = 0.0
    for x, y in zip(la, lb):
        for k in ("loss", "grad_norm", "val_loss"):
            if k in x:
                d = abs(x[k] - y[k]) / abs(x[k])
                if (tol == 0 and x[k] != y[k]) or d > tol:
                    sys.exit(f"step {x['step']}: {k} {x[k]!r} in {a}, {y[k]!r} in {b} (relative {d:.3g}, allowed {tol})")
                worst = max(worst, d)
        if "--loads" in sys.argv and x.get("expert_load") != y.get("expert_load"):
            sys.exit(f"step {x['step']}: expert loads differ: {x.get('expert_load')} / {y.get('expert_load')}")
    print(f"{a} and {b}: {len(la)} lines, largest relative difference {worst:.3g}")


main()
