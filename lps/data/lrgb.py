"""Long Range Graph Benchmark (Dwivedi et al., 2022): Peptides-func, Peptides-struct and
PCQM-Contact through PyG's ``LRGBDataset``, from files the user already has.

Nothing is downloaded, in tests or elsewhere: :func:`load_lrgb` checks that the files
exist (and that every file PyG will read loads with ``torch.load(weights_only=True)``)
and raises a ``FileNotFoundError`` that says where to put them. Expected layout, for
``name`` in ``peptides-func``, ``peptides-struct``, ``pcqm-contact``::

    <root>/<name>/raw/{train,val,test}.pt        the unzipped official archive
    <root>/<name>/processed/{train,val,test}.pt  written by PyG on first use

What the graphs hold (as PyG stores them):

- Peptides-func / -struct: ``x`` (N, 9) long OGB atom features, ``edge_attr`` (E, 3) long
  OGB bond features, ``edge_index`` (2, E) both directions, ``y`` (1, 10) float in {0, 1}
  (10 binary tasks) or (1, 11) float (11 standardised regression targets). Up to 444 nodes.
- PCQM-Contact: ``x``, ``edge_attr``, ``edge_index`` as above, plus ``edge_label_index``
  (2, L) long and ``edge_label`` (L,) (1 = contact, 0 = negative pair). Up to 53 nodes.

:func:`synthetic_lrgb` fabricates graphs of the same shapes (a plumbing stand-in for tests
and smoke runs; its numbers mean nothing about the benchmarks).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

__all__ = [
    "ATOM_FEATURE_DIMS",
    "BOND_FEATURE_DIMS",
    "LRGB_NAMES",
    "LRGB_SPLITS",
    "load_lrgb",
    "load_lrgb_splits",
    "lrgb_name",
    "synthetic_lrgb",
]

PathLike = str | os.PathLike[str]

#: Canonical names (PyG's, lower case) and what each task predicts.
LRGB_NAMES: dict[str, str] = {
    "peptides-func": "graph classification, 10 binary tasks (AP)",
    "peptides-struct": "graph regression, 11 targets (MAE)",
    "pcqm-contact": "link ranking of atom pairs (MRR)",
}
LRGB_SPLITS = ("train", "val", "test")

#: Number of values of each OGB atom / bond feature column (``ogb.utils.features``).
ATOM_FEATURE_DIMS = (119, 5, 12, 12, 10, 6, 6, 2, 2)
BOND_FEATURE_DIMS = (5, 6, 2)

#: Value ranges seen in the real data (the reference LPS code's one-hot sizes), used by
#: :func:`synthetic_lrgb`.
_PEPTIDES_ATOM_RANGE = (17, 3, 7, 7, 5, 1, 6, 2, 2)
_PEPTIDES_BOND_RANGE = (4, 1, 2)
_PCQM_ATOM_RANGE = (35, 3, 7, 7, 2, 4, 6, 2, 2)
_PCQM_BOND_RANGE = (4, 1, 1)

#: Output sizes: graph targets for Peptides, one pair score for PCQM-Contact.
NUM_TARGETS = {"peptides-func": 10, "peptides-struct": 11, "pcqm-contact": 1}


def lrgb_name(name: str) -> str:
    """Canonical name: ``Peptides-func``, ``peptides_func`` -> ``peptides-func``."""
    key = name.strip().lower().replace("_", "-")
    if key not in LRGB_NAMES:
        raise ValueError(f"LRGB: unknown data set {name!r}; expected one of {sorted(LRGB_NAMES)}")
    return key


def load_lrgb(root: PathLike, name: str, split: str):
    """PyG's ``LRGBDataset(root, name, split)`` from local files only (see module docstring).

    Returns the PyG dataset (indexable, ``len``, items are ``Data``). Raises
    ``FileNotFoundError`` when the raw files are missing (nothing is downloaded) and
    :class:`lps.data.pyg_local.UnsafeFileError` for a file that would need unpickling.
    """
    from torch_geometric.datasets import LRGBDataset

    from lps.data.pyg_local import check_safe_torch_file, files_for_pyg, no_download

    key = lrgb_name(name)
    if split not in LRGB_SPLITS:
        raise ValueError(f"LRGB: unknown split {split!r}; expected one of {LRGB_SPLITS}")
    if root is None:
        raise FileNotFoundError(
            f"LRGB {key}: no data directory given (set data.root); nothing is downloaded"
        )
    base = Path(root).expanduser() / key
    raw = [base / "raw" / f"{s}.pt" for s in LRGB_SPLITS]
    processed = [base / "processed" / f"{s}.pt" for s in LRGB_SPLITS]
    extra = [base / "processed" / f for f in ("pre_transform.pt", "pre_filter.pt")]
    hint = (
        f"Unzip the official archive ({LRGBDataset.urls[key].split('?')[0]}) so that "
        f"{base / 'raw'} holds train.pt, val.pt and test.pt."
    )
    for path in files_for_pyg(raw, processed, extra, f"LRGB {key}", hint):
        check_safe_torch_file(path)
    return no_download(LRGBDataset)(str(Path(root).expanduser()), key, split)


def load_lrgb_splits(root: PathLike, name: str) -> dict:
    """``{"train", "val", "test"}`` -> :func:`load_lrgb` of each split."""
    return {split: load_lrgb(root, name, split) for split in LRGB_SPLITS}


def synthetic_lrgb(
    name: str, num_graphs: int, seed: int = 0, min_nodes: int = 6, max_nodes: int = 16
) -> list[Data]:
    """Fabricated graphs shaped like the LRGB data set ``name`` (for tests and smoke runs).

    Chains with random extra bonds (a molecule-like sparse graph), integer atom and bond
    features in the ranges of the real data, and targets that depend on the graph so that
    a model can fit them: Peptides-func labels from feature counts (some set to NaN to
    exercise the masking), Peptides-struct targets from size and features, PCQM-Contact
    positives between nodes 2 or 3 bonds apart and negatives among the other pairs.
    """
    key = lrgb_name(name)
    if not 2 <= min_nodes <= max_nodes:
        raise ValueError(f"need 2 <= min_nodes <= max_nodes, got {min_nodes}, {max_nodes}")
    rng = np.random.default_rng([seed, 7919])
    pcqm = key == "pcqm-contact"
    atom_range = _PCQM_ATOM_RANGE if pcqm else _PEPTIDES_ATOM_RANGE
    bond_range = _PCQM_BOND_RANGE if pcqm else _PEPTIDES_BOND_RANGE
    graphs = []
    for _ in range(num_graphs):
        n = int(rng.integers(min_nodes, max_nodes + 1))
        pairs = {(i, i + 1) for i in range(n - 1)}
        for _ in range(n // 4):
            a, b = sorted(rng.choice(n, 2, replace=False).tolist())
            pairs.add((a, b))
        und = np.array(sorted(pairs), dtype=np.int64).T  # (2, E/2)
        edge_index = np.concatenate([und, und[::-1]], 1)
        x = np.stack([rng.integers(0, r, size=n) for r in atom_range], 1)
        bond = np.stack([rng.integers(0, r, size=und.shape[1]) for r in bond_range], 1)
        data = Data(
            x=torch.from_numpy(x).long(),
            edge_index=torch.from_numpy(edge_index).long(),
            edge_attr=torch.from_numpy(np.concatenate([bond, bond], 0)).long(),
        )
        if key == "peptides-func":
            counts = np.bincount(x[:, 0] % 10, minlength=10)
            y = (counts > counts.mean()).astype(np.float32)
            y[rng.random(10) < 0.05] = np.nan
            data.y = torch.from_numpy(y).view(1, 10)
        elif key == "peptides-struct":
            base = np.array([n / max_nodes, x[:, 0].mean() / 17, und.shape[1] / n])
            y = np.concatenate([base, base[:2] * 2, base, base[:3] - 1])[:11]
            data.y = torch.from_numpy(y.astype(np.float32)).view(1, 11)
        else:
            hops = _hop_distances(n, und)
            pos = np.argwhere((hops >= 2) & (hops <= 3))
            neg = np.argwhere(hops > 3)
            if len(neg):
                neg = neg[rng.choice(len(neg), min(len(neg), len(pos) + 1), replace=False)]
            lab_index = np.concatenate([pos, neg.reshape(-1, 2)], 0).T
            label = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
            data.edge_label_index = torch.from_numpy(lab_index.astype(np.int64)).view(2, -1)
            data.edge_label = torch.from_numpy(label.astype(np.int64))
        graphs.append(data)
    return graphs


def _hop_distances(n: int, und: np.ndarray) -> np.ndarray:
    """All-pairs shortest-path lengths (hops) of a small undirected graph; inf if apart."""
    adj = np.zeros((n, n), dtype=bool)
    adj[und[0], und[1]] = adj[und[1], und[0]] = True
    dist = np.full((n, n), np.inf)
    np.fill_diagonal(dist, 0)
    frontier = np.eye(n, dtype=bool)
    reach = frontier.copy()
    for d in range(1, n):
        frontier = (frontier.astype(np.int64) @ adj.astype(np.int64) > 0) & ~reach
        if not frontier.any():
            break
        dist[frontier] = d
        reach |= frontier
    return dist
