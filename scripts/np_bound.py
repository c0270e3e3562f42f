"""How much can fixed inputs gain on the 1-D Gibbs tasks? The exact GP-mixture ceiling
(knows the absolute position) against the best translation-equivariant predictor (knows the
task only up to a translation), on the first ``--tasks`` tasks of the fixed test set, overall
and by context size.

    python scripts/np_bound.py --tasks 512 --shifts 21 --out docs/np_bound.json

The difference bounds what knowing the absolute position, the information fixed inputs
supply, can add to an equivariant model in the training region (for models that reach the
Bayes predictive; undertrained models may differ either way).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from lps.io import atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=512)
    ap.add_argument("--shifts", type=int, default=21)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--out", default="docs/np_bound.json")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from lps.np.gp import equivariant_ceiling, fixed_split, gp_loglik

    start = time.perf_counter()
    test = fixed_split("test", args.tasks)
    full, equi = [], []
    for i in range(0, args.tasks, args.chunk):
        part = test.slice(i, i + args.chunk)
        full.append(gp_loglik(part))
        equi.append(equivariant_ceiling(part, args.shifts))
        print(f"{i + len(part)} tasks", flush=True)
    full, equi = torch.cat(full), torch.cat(equi)
    counts = test.mask.sum(1)
    rows = {}
    for name, lo, hi in (("all", 0, 64), ("1-8", 1, 8), ("9-32", 9, 32), ("33-64", 33, 64)):
        sel = (counts >= lo) & (counts <= hi)
        rows[name] = {
            "tasks": int(sel.sum()),
            "gp_ceiling": float(full[sel].mean()),
            "equivariant_ceiling": float(equi[sel].mean()),
            "gap": float((full[sel] - equi[sel]).mean()),
        }
    out = {
        "command": f"python scripts/np_bound.py --tasks {args.tasks} --shifts {args.shifts}",
        "device": f"CPU ({os.cpu_count()} cores, shared), one thread",
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
