"""The figure of per-layer path shares from the marglik tables (layers x paths, per task).

    PYTHONPATH=$PWD python scripts/marglik_figure.py docs/marglik_A.json docs/marglik_B.json \
        docs/marglik_set.json --out docs/marglik_shares.png

Left of each row: the share of the equivariant and of the free path in every layer after
training (stacked, mean over seeds), MAP (fixed prior) next to learned precisions. Right:
the free-path share of the learned models per layer over the epochs (each seed a line;
conv + dense solid, conv + factored dashed).
"""

from __future__ import annotations

import argparse
import json
import statistics

from lps.io import atomic_write_figure


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tables", nargs="+")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for t in a.tables for r in json.load(open(t))["runs"]]
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    fig, axes = plt.subplots(len(tasks), 2, figsize=(9, 2.6 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        models = [
            m
            for m in ("residual_map", "residual_ml", "factored_ml")
            if any(r["task"] == task and r["model"] == m for r in runs)
        ]
        for i, m in enumerate(models):
            rs = [r for r in runs if r["task"] == task and r["model"] == m]
            shares = [
                statistics.mean(r["shares"][j] for r in rs) for j in range(len(rs[0]["shares"]))
            ]
            xs = [j + (i - (len(models) - 1) / 2) * 0.8 / len(models) for j in range(len(shares))]
            w = 0.8 / len(models)
            row[0].bar(
                xs, [1 - s for s in shares], w, color=f"C{i}", alpha=0.35, label=f"{m}: equivariant"
            )
            row[0].bar(
                xs, shares, w, bottom=[1 - s for s in shares], color=f"C{i}", label=f"{m}: free"
            )
        n_layers = len(rs[0]["shares"])
        row[0].set_xticks(range(n_layers), [f"layer {j + 1}" for j in range(n_layers)])
        row[0].set_ylabel(f"task {task}\npath share")
        row[0].set_ylim(0, 1)
        row[0].legend(fontsize=6, loc="lower right")
        learned = [m for m in ("residual_ml", "factored_ml") if m in models]
        for r in (r for r in runs if r["task"] == task and r["model"] in learned):
            ep = [e["epoch"] for e in r["history"]]
            style = "-" if r["model"] == "residual_ml" else "--"
            for j in range(n_layers):
                row[1].plot(
                    ep,
                    [e["layers"][j]["share"] for e in r["history"]],
                    color=f"C{j}",
                    lw=1,
                    ls=style,
                    label=f"{r['model']}, layer {j + 1}" if r["seed"] == 0 else None,
                )
        row[1].axhline(0.1, color="grey", lw=0.6, ls=":")
        row[1].axhline(0.5, color="grey", lw=0.6, ls="--")
        row[1].set_ylim(0, 1)
        row[1].set_xlabel("epoch")
        row[1].set_ylabel("free share (learned)")
        row[1].legend(fontsize=6)
    fig.tight_layout()
    atomic_write_figure(a.out, fig, dpi=110)


if __name__ == "__main__":
    main()
