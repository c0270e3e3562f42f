"""The three free-path readouts per layer (output RMS, prior RMS, effective dims per parameter)
of the learned models in marglik table JSONs, mean and per seed; markdown on stdout.

    PYTHONPATH=$PWD python scripts/marglik_readouts.py docs/marglik_long3.json \
        docs/marglik_factored100.json

The prior share is computed from the stored precisions: under weights ``N(0, 1/delta)`` the
mean square of a dense path's output is ``|x|^2 / delta`` (factored: ``|x|^2 /
(delta_U delta_V)``), that of a circular k x k conv ``k^2 |x|^2 / (HW delta)``, so
``r_free / r_conv = sqrt(HW delta_conv / (k^2 delta_free))`` whatever the data (the closed
form of ``lps.marglik.prior_rms``). Runs recorded before the reference readout existed get
it from the stored effective dims and the parameter counts.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics


def derived(run: dict) -> tuple[list[float], list[float]]:
    """``(prior_shares, neff_shares)`` of a conv + (dense | factored) run (see the module)."""
    from lps.experiments.marglik import build_model

    net = build_model(run["task"], run["model"], run["canvas"], run["channels"])
    prior, neff = [], []
    for layer, row in zip(net.layers, run["layers"]):
        d = row["precision"]
        d_free = d["free.weight"] if "free.weight" in d else d["free.U"] * d["free.V"]
        ratio = math.sqrt(layer.positions * d["conv.weight"] / (layer.conv.kernel**2 * d_free))
        prior.append(ratio / (1 + ratio))
        sizes = {p: sum(q.numel() for q in m.parameters()) for p, m in layer.paths().items()}
        n = {p: row["eff_dim"][p] / sizes[p] for p in sizes}
        neff.append(n["free"] / (n["free"] + n["conv"]))
    if "neff_shares" in run:
        assert all(abs(a - b) < 1e-9 for a, b in zip(neff, run["neff_shares"]))
    return prior, neff


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tables", nargs="+")
    a = p.parse_args()
    runs = [r for t in a.tables for r in json.load(open(t))["runs"]]
    runs = [r for r in runs if r["model"].endswith("_ml")]
    print("| task | model | layer | output RMS | prior RMS | eff. dims per parameter |")
    print("|---|---|---|---|---|---|")
    for key in dict.fromkeys((r["task"], r["model"]) for r in runs):
        rs = sorted((r for r in runs if (r["task"], r["model"]) == key), key=lambda r: r["seed"])
        cols = [[r["shares"] for r in rs], *zip(*(derived(r) for r in rs))]
        for j in range(len(rs[0]["shares"])):
            cells = []
            for col in cols:
                vals = [c[j] for c in col]
                seeds = ", ".join(f"{v:.3f}" for v in vals)
                cells.append(f"{statistics.mean(vals):.3f} ({seeds})")
            print(f"| {key[0]} | {key[1]} | {j + 1} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
