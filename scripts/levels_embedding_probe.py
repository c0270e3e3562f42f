"""Is phi or the canonical pose the limit of the level pseudo-labels? (docs/images.md)

Fits the invariant-equivariant autoencoder on one rotation set (as ``levels_table.py``: 30
epochs, seed 0), then compares kNN neighbourhoods (k = 30, cosine) in three embeddings of the
training images: phi, the canonical images ``psi(x)^-1 . x`` themselves (pixels: invariant by
construction, no encoder), and the same 2x average-pooled. For each it reports the kNN
purity (the share of neighbours of the same class; labels are read for evaluation only) and
the class-level error of the pseudo-labels from psi's angles and from the true angles.

    PYTHONPATH=$PWD python scripts/levels_embedding_probe.py --set multiple --out runs/probe.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main(argv: list[str] | None = None) -> dict:
    from lps.data.digits import class_levels, load_digits_split
    from lps.experiments.levels import LEVEL_SETS, level_kind
    from lps.io import atomic_write_json
    from lps.levels import (
        InvariantEquivariantAE,
        encode,
        knn_indices,
        pseudo_levels,
        train_autoencoder,
    )

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", default="multiple", choices=[s for s in LEVEL_SETS if s != "c2c4"])
    p.add_argument("--ae-epochs", type=int, default=30)
    p.add_argument("--neighbours", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    train = load_digits_split(a.set, "train")
    t0 = time.perf_counter()
    ae = InvariantEquivariantAE(embed_dim=32, penalty=1.0)
    train_autoencoder(ae, train["x"], a.ae_epochs, lr=3e-3, seed=a.seed)
    z, angles = encode(ae, train["x"])
    with torch.no_grad():
        rad = torch.deg2rad(angles).float()
        canon = torch.cat(
            [ae.canonical(train["x"][i : i + 256], rad[i : i + 256]) for i in range(0, len(z), 256)]
        )
    y, kind = train["y"], level_kind(a.set)
    true = np.array([lv.value for lv in class_levels(a.set)])

    def row(emb: torch.Tensor) -> dict:
        idx = knn_indices(emb, emb, a.neighbours, exclude_self=True)
        out = {"knn_purity": float((y[idx] == y[:, None]).double().mean())}
        for name, ang in (("psi", angles), ("true", train["angle"].double())):
            est = pseudo_levels(emb, ang, kind, a.neighbours, 0.1)
            pred = np.array([float(est[y == c].mean()) for c in range(10)])
            out[f"level_mae_{name}_angles"] = float(np.abs(pred - true).mean())
        return out

    pooled = torch.nn.functional.avg_pool2d(canon, 2)
    result = {
        "set": a.set,
        "settings": vars(a),
        "phi": row(z),
        "canonical_pixels": row(canon.flatten(1).double()),
        "canonical_pixels_pooled2": row(pooled.flatten(1).double()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result, indent=1))
    if a.out:
        atomic_write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
