"""Part 1 table of docs/images.md: a timm ViT on digits rotated over the full circle, plain vs
rotation augmentation vs haar vs the learned image sampler (and canonical) at the same k.

    python scripts/images_vit_table.py --epochs 15 --seeds 0 --out runs/images_vit

One process, one thread (the shared 2-core CPU). Writes ``OUT.json`` (every run) and
``OUT.md`` (test accuracy per method, mean over seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from lps.experiments.images import METHODS, ViTSettings, run
from lps.io import atomic_write_text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--embed-dim", type=int, default=96)
    p.add_argument("--k-train", type=int, default=1)
    p.add_argument("--k-eval", type=int, default=4)
    p.add_argument("--out", default="runs/images_vit")
    a = p.parse_args()
    torch.set_num_threads(1)
    s = ViTSettings(
        epochs=a.epochs, depth=a.depth, embed_dim=a.embed_dim, k_train=a.k_train, k_eval=a.k_eval
    )
    rows = []
    for seed in [int(x) for x in a.seeds.split(",")]:
        for method in a.methods.split(","):
            row = run(method, s, seed)
            print(json.dumps({k: v for k, v in row.items() if k != "settings"}), flush=True)
            rows.append(row)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".json"), json.dumps(rows, indent=2) + "\n")
    lines = [
        f"ViT (timm, random init, width {s.embed_dim}, depth {s.depth}, heads {s.num_heads}, "
        f"patch {s.patch_size}) on digits rotated over the full circle; {s.epochs} epochs, "
        f"k = {s.k_train} in training, {s.k_eval} at test; 2-core CPU, shared, one thread.",
        "",
        "| method | test acc. | val acc. | seeds | train s |",
        "|---|---|---|---|---|",
    ]
    for method in a.methods.split(","):
        rs = [r for r in rows if r["method"] == method]
        test = [r["test_acc"] for r in rs]
        sd = f" ± {statistics.stdev(test):.3f}" if len(test) > 1 else ""
        val = statistics.mean(r["val_acc"] for r in rs)
        sec = statistics.mean(r["train_seconds"] for r in rs)
        lines.append(
            f"| {method} | {statistics.mean(test):.3f}{sd} | {val:.3f} | {len(rs)} | {sec:.0f} |"
        )
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
