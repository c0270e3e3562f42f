"""Train the soft-regularized MLP on one generated variant and write its JSON (and PNG).

    python scripts/soft_variant.py --data inertia --eps 0.9 --axis z --groups "O(3),SO(3)" \
        --out runs/soft_inertia_0.9_z.json

Reports the test MSE, the discovered strengths, the ground-truth relative equivariance error
of the true target under each candidate group, and the evaluation log (strengths, penalties,
sampled relative equivariance errors of the model); draws the levels next to the JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from lps.experiments.soft import run_soft_variant
from lps.io import atomic_write_text
from lps.soft import plot_strengths


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="inertia", choices=["inertia", "cossim"])
    p.add_argument("--eps", type=float, default=0.9)
    p.add_argument("--axis", default="z", choices=["x", "y", "z"])
    p.add_argument("--breaks", default="none", choices=["none", "scale", "rotation", "both"])
    p.add_argument("--groups", default="O(3),SO(3)", help="comma-separated candidate groups")
    p.add_argument("--pin", default="", help="comma-separated GROUP=STRENGTH (0 switches off)")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--adjust-at", type=int, default=75, help="adjustment epoch T")
    p.add_argument("--init", type=float, default=100.0)
    p.add_argument("--power", type=float, default=2.0)
    p.add_argument("--hidden", default="16x0e + 8x1o@1 + 4x0e@2 + 4x1e@2 + 4x2e@2")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sizes", default="1000,1000,1000")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/soft_variant.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pinned = {}
    for item in filter(None, args.pin.split(",")):
        name, _, value = item.rpartition("=")
        pinned[name.strip()] = float(value)
    result = run_soft_variant(
        data=args.data,
        eps=args.eps,
        axis=args.axis,
        breaks=args.breaks,
        groups=tuple(g.strip() for g in args.groups.split(",") if g.strip()),
        epochs=args.epochs,
        adjust_at=args.adjust_at,
        init=args.init,
        power=args.power,
        pinned=pinned,
        hidden=args.hidden,
        layers=args.layers,
        lr=args.lr,
        seed=args.seed,
        sizes=tuple(int(s) for s in args.sizes.split(",")),
    )
    result["device"] = f"{platform.processor() or platform.machine()}, {args.threads} thread(s)"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2))
    plot_strengths(result["strengths"], out.with_suffix(".png"),
                   reference=result["true_rel_equiv_error"])  # fmt: skip
    summary = {k: result[k] for k in ("test_mse", "strengths", "true_rel_equiv_error")}
    print(json.dumps({**summary, "seconds": round(result["seconds"], 1)}, indent=2))
    return result


if __name__ == "__main__":
    main()
