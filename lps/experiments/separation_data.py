"""Graph data of the separation experiment: GRAPH8c and EXP as dense tensors, their pairs.

See :mod:`lps.experiments.separation` for the protocol. ``pairs`` is None for GRAPH8c (every
pair ``i < j`` of graphs counts) and ``(2i, 2i + 1)`` for EXP; :func:`relabel` gives the
isomorphic copies that a correct model must judge the same.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor

from lps.data.graphs import dense_graph_batch, load_exp, load_graph8c
from lps.fields import FieldType
from lps.groups import Permutation

__all__ = ["DATASETS", "load_separation_data", "relabel"]

DATASETS = ("graph8c", "exp")


@functools.lru_cache(maxsize=4)
def _dense(dataset: str) -> dict[str, Tensor]:
    graphs = load_graph8c() if dataset == "graph8c" else load_exp()
    max_nodes = max(int(g.num_nodes) for g in graphs)
    batch = dense_graph_batch(graphs, max_nodes)
    return {"x": batch["x"], "adj": batch["adj"][..., :1], "mask": batch["mask"]}


def load_separation_data(dataset: str, subset: int | None = None) -> dict[str, Any]:
    """Dense tensors of a separation data set, and its non-isomorphic pairs.

    Returns ``{"x": (G, N, 1), "adj": (G, N, N, 1), "mask": (G, N), "pairs": (P, 2) long or
    None}``. ``pairs`` is None for GRAPH8c (every pair ``i < j`` counts) and the rows
    ``(2i, 2i + 1)`` for EXP. ``subset`` keeps the first ``subset`` graphs of GRAPH8c or the
    first ``subset`` pairs of EXP. The tensors are shared (cached): do not modify them.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset: unknown {dataset!r}; expected one of {', '.join(DATASETS)}")
    data = dict(_dense(dataset))
    count = data["x"].shape[0]
    if dataset == "exp":
        num_pairs = count // 2 if subset is None else min(subset, count // 2)
        count = 2 * num_pairs
        pairs = torch.arange(count).view(-1, 2)
    else:
        count = count if subset is None else min(subset, count)
        pairs = None
    out: dict[str, Any] = {k: v[:count] for k, v in data.items()}
    used = int(out["mask"].sum(1).max())  # drop padding columns nobody uses
    out = {k: v[:, :used] if k != "adj" else v[:, :used, :used] for k, v in out.items()}
    out["pairs"] = pairs
    return out


def relabel(data: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
    """Each graph relabelled by its own uniform permutation of the real nodes."""
    group = Permutation()
    h = group.haar(data["x"].shape[0], mask=data["mask"], generator=generator)
    return {
        "x": group.act(h, data["x"], FieldType.NODE),
        "adj": group.act(h, data["adj"], FieldType.PAIR),
        "mask": data["mask"],
    }
