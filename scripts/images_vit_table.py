"""Part 1 table of docs/images.md: a timm ViT on digits rotated over the full circle, plain vs
rotation augmentation vs haar vs the learned image sampler (and canonical) at the same k.

    python scripts/images_vit_table.py --epochs 15 --seeds 0 --out runs/images_vit

Runs go ``--jobs`` at a time (default 2), one thread each. Writes ``OUT.json`` (every run)
and ``OUT.md`` (test accuracy per method, mean over seeds) after each finished run.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from lps.experiments.images import METHODS, ViTSettings, run
from lps.experiments.pool import job_pool
from lps.io import atomic_write_text


def _job(args: tuple) -> dict:
    method, s, seed = args
    torch.set_num_threads(1)
    return run(method, s, seed)


def markdown(rows: list[dict], methods: list[str], s: ViTSettings, jobs: int) -> str:
    lines = [
        f"ViT (timm, random init, width {s.embed_dim}, depth {s.depth}, heads {s.num_heads}, "
        f"patch {s.patch_size}) on digits rotated over the full circle; {s.epochs} epochs, "
        f"k = {s.k_train} in training, {s.k_eval} at test; 2-core CPU, one thread per run, "
        f"{jobs} run(s) at a time.",
        "",
        "| method | test acc. | val acc. | seeds | train s |",
        "|---|---|---|---|---|",
    ]
    for method in methods:
        rs = [r for r in rows if r["method"] == method]
        if not rs:
            continue
        test = [r["test_acc"] for r in rs]
        sd = f" ± {statistics.stdev(test):.3f}" if len(test) > 1 else ""
        val = statistics.mean(r["val_acc"] for r in rs)
        sec = statistics.mean(r["train_seconds"] for r in rs)
        lines.append(
            f"| {method} | {statistics.mean(test):.3f}{sd} | {val:.3f} | {len(rs)} | {sec:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--embed-dim", type=int, default=96)
    p.add_argument("--k-train", type=int, default=1)
    p.add_argument("--k-eval", type=int, default=4)
    p.add_argument("--jobs", type=int, default=2, help="parallel runs (1: in this process)")
    p.add_argument("--out", default="runs/images_vit")
    a = p.parse_args()
    if a.jobs < 1:
        p.error(f"--jobs must be >= 1, got {a.jobs}")
    torch.set_num_threads(1)
    s = ViTSettings(
        epochs=a.epochs, depth=a.depth, embed_dim=a.embed_dim, k_train=a.k_train, k_eval=a.k_eval
    )
    methods = a.methods.split(",")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    jobs = [(m, s, int(seed)) for seed in a.seeds.split(",") for m in methods]
    rows = []
    with job_pool(a.jobs) as pool:
        for row in pool.map(_job, jobs):  # in order; each finished run is saved at once
            print(json.dumps({k: v for k, v in row.items() if k != "settings"}), flush=True)
            rows.append(row)
            atomic_write_text(out.with_suffix(".json"), json.dumps(rows, indent=2) + "\n")
            atomic_write_text(out.with_suffix(".md"), markdown(rows, methods, s, a.jobs))
    print(markdown(rows, methods, s, a.jobs))


if __name__ == "__main__":
    main()
