"""Pseudo-labels of symmetry levels without labels: the k nearest neighbours of each input
in the invariant embedding (cosine similarity), their angles psi, trimmed statistics.

An input's neighbours in phi are (mostly) other poses of the same kind of object, so the
spread of their canonicalizing angles is a sample of that object's pose distribution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lps.levels.estimators import (
    discrete_level,
    gaussian_level,
    uniform_level_mean,
    uniform_level_ml,
    wrap_degrees,
)

#: Level kinds and their estimators ``f(angles_degrees, trim) -> level``.
ESTIMATORS = {
    "uniform": uniform_level_mean,
    "uniform_ml": uniform_level_ml,
    "gaussian": gaussian_level,
    "discrete": lambda a, trim: float(discrete_level(a, trim=trim)),
}


def knn_indices(query: Tensor, bank: Tensor, k: int, exclude_self: bool = False) -> Tensor:
    """(Q, k) indices of the ``k`` most cosine-similar rows of ``bank`` (N, D) for each row
    of ``query`` (Q, D); with ``exclude_self`` (query is bank) an input is not its own
    neighbour."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    limit = bank.shape[0] - int(exclude_self)
    if k > limit:
        raise ValueError(f"k={k} neighbours requested, but the bank holds only {limit}")
    sim = F.normalize(query.double(), dim=-1) @ F.normalize(bank.double(), dim=-1).T
    if exclude_self:
        sim.fill_diagonal_(-float("inf"))
    return sim.topk(k, dim=-1).indices


def pseudo_levels(
    embedding: Tensor,
    angles: Tensor,
    kind: str = "uniform",
    k: int = 30,
    trim: float = 0.1,
    query: Tensor | None = None,
) -> Tensor:
    """(Q,) pseudo-label levels (degrees; C_n order for ``discrete``).

    Args:
        embedding: (N, D) invariant embeddings phi of the bank; angles: (N,) psi, degrees.
        kind: ``uniform`` (2 mean|angle|), ``uniform_ml``, ``gaussian`` (sigma) or
            ``discrete`` (n of C_n).
        k: neighbours (the input itself included when ``query`` is None); trim: the share of
            the largest |angles| dropped as outliers.
        query: (Q, D) embeddings to label (default: the bank itself).
    """
    if kind not in ESTIMATORS:
        raise ValueError(f"unknown level kind {kind!r}; expected one of {sorted(ESTIMATORS)}")
    if embedding.shape[0] != angles.shape[0]:
        raise ValueError(
            f"embedding has {embedding.shape[0]} rows but angles {angles.shape[0]} entries"
        )
    q = embedding if query is None else query
    idx = knn_indices(q, embedding, k)
    neigh = wrap_degrees(angles.double()[idx])  # (Q, k)
    est = ESTIMATORS[kind]
    return torch.tensor([est(row, trim) for row in neigh], dtype=torch.float64)


def discrete_offsets(angles: Tensor, orders: Tensor) -> Tensor:
    """(Q,) the circular-mean offset (degrees) of rows of angles (Q, k) modulo 360 / n."""
    n = orders.double()[:, None]
    rad = torch.deg2rad(angles.double()) * n
    mean = torch.atan2(rad.sin().mean(-1), rad.cos().mean(-1))
    return torch.rad2deg(mean) / n.squeeze(-1)
