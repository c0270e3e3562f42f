"""The PATTERN graph generator (stochastic block model with planted patterns).

Bit-identical to what ``lps.data.pattern`` always generated: graph i of split s is drawn
from ``numpy.random.default_rng([seed, s, i])``. The datasets, caches and loaders are in
:mod:`lps.data.pattern`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

#: Split names, their codes in the seeds, and the standard sizes.
PATTERN_SPLITS: dict[str, int] = {"train": 10_000, "val": 2_000, "test": 2_000}
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
_PATTERN_CODE = 100


@dataclass(frozen=True)
class PatternParams:
    """Generation parameters (defaults: the Benchmarking-GNNs PATTERN recipe)."""

    num_communities: int = 5
    community_min: int = 5
    community_max: int = 35  # exclusive: sizes are randint(community_min, community_max)
    p: float = 0.5  # edge probability inside a community
    q: float = 0.35  # edge probability across communities
    pattern_size: int = 20
    p_pattern: float = 0.5  # edge probability inside the pattern
    q_pattern: float = 0.5  # probability of an edge between a pattern node and another node
    vocab_size: int = 3
    num_patterns: int = 100
    num_train: int = PATTERN_SPLITS["train"]
    num_val: int = PATTERN_SPLITS["val"]
    num_test: int = PATTERN_SPLITS["test"]
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.community_min < self.community_max:
            raise ValueError(
                f"PatternParams: need 1 <= community_min < community_max, got "
                f"{self.community_min}, {self.community_max}"
            )
        for name in ("num_communities", "pattern_size", "vocab_size", "num_patterns"):
            if getattr(self, name) < 1:
                raise ValueError(f"PatternParams: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("p", "q", "p_pattern", "q_pattern"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"PatternParams: {name} must be in [0, 1]")
        if self.max_nodes > 65_535:
            raise ValueError("PatternParams: graphs of more than 65,535 nodes are not supported")

    def split_size(self, split: str) -> int:
        _check_split(split)
        return {"train": self.num_train, "val": self.num_val, "test": self.num_test}[split]

    @property
    def min_nodes(self) -> int:
        """The smallest possible graph."""
        return self.num_communities * self.community_min + self.pattern_size

    @property
    def max_nodes(self) -> int:
        """The largest possible graph (190 for the standard recipe)."""
        return self.num_communities * (self.community_max - 1) + self.pattern_size

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """The first 12 hex digits of the sha256 of the parameters (names the cache files)."""
        text = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


#: The parameters used when none are given (tests may replace this module attribute).
DEFAULT_PARAMS = PatternParams()


def _check_split(split: str) -> None:
    if split not in _SPLIT_CODE:
        raise ValueError(f"PATTERN: unknown split {split!r}; expected one of train, val, test")


# --------------------------------------------------------------------------- generation


def _random_graph(rng: np.random.Generator, n: int, prob: float) -> np.ndarray:
    """Symmetric (n, n) bool adjacency of G(n, prob), no self-loops."""
    upper = np.triu(rng.random((n, n)) < prob, 1)
    return upper | upper.T


def _make_patterns(params: PatternParams) -> tuple[np.ndarray, np.ndarray]:
    """(P, S, S) bool pattern adjacencies and (P, S) node features, S = pattern_size."""
    s = params.pattern_size
    adj = np.zeros((params.num_patterns, s, s), dtype=bool)
    feat = np.zeros((params.num_patterns, s), dtype=np.uint8)
    for j in range(params.num_patterns):
        rng = np.random.default_rng([params.seed, _PATTERN_CODE, j])
        adj[j] = _random_graph(rng, s, params.p_pattern)
        feat[j] = rng.integers(params.vocab_size, size=s)
    return adj, feat


@lru_cache(maxsize=512)
def _triu(n: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n, 1)
    return i.astype(np.int64), j.astype(np.int64)


def _one_graph(
    rng: np.random.Generator, params: PatternParams, w0: np.ndarray, u0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacency (N, N) bool, block ids (N,) (``num_communities`` marks the pattern) and
    node features (N,) of one graph, nodes shuffled."""
    k = params.num_communities
    sizes = rng.integers(params.community_min, params.community_max, size=k)
    block = np.repeat(np.arange(k, dtype=np.uint8), sizes)
    n0 = block.size
    same = block[:, None] == block[None, :]
    upper = np.triu(rng.random((n0, n0)) < np.where(same, params.p, params.q), 1)
    feat = rng.integers(params.vocab_size, size=n0).astype(np.uint8)
    link = rng.random((params.pattern_size, n0)) < params.q_pattern  # pattern -> rest
    n = n0 + params.pattern_size
    adj = np.zeros((n, n), dtype=bool)
    adj[:n0, :n0] = upper | upper.T
    adj[n0:, :n0] = link
    adj[:n0, n0:] = link.T
    adj[n0:, n0:] = w0
    block = np.concatenate([block, np.full(params.pattern_size, k, dtype=np.uint8)])
    feat = np.concatenate([feat, u0])
    perm = rng.permutation(n)
    return adj[np.ix_(perm, perm)], block[perm], feat[perm]


def generate_pattern_split(
    split: str, params: PatternParams | None = None, num_graphs: int | None = None
) -> dict[str, np.ndarray]:
    """Generate the first ``num_graphs`` (default: all) graphs of a split, packed.

    Returns numpy arrays: ``num_nodes`` uint16 (G,), ``pattern_id`` uint16 (G,), ``block``
    uint8 (sum N,) community of each node (``num_communities`` for pattern nodes), ``feat``
    uint8 (sum N,) node feature values, and ``adj_bits`` uint8: for each graph the strict
    upper triangle of its adjacency in ``numpy.triu_indices`` order, ``numpy.packbits``-ed
    (``ceil(N (N - 1) / 16)`` bytes per graph, concatenated).
    """
    params = DEFAULT_PARAMS if params is None else params
    count = params.split_size(split) if num_graphs is None else int(num_graphs)
    if count < 0:
        raise ValueError(f"num_graphs must be >= 0, got {num_graphs}")
    patterns, pattern_feat = _make_patterns(params)
    code = _SPLIT_CODE[split]
    num_nodes = np.zeros(count, dtype=np.uint16)
    pattern_id = (np.arange(count) % params.num_patterns).astype(np.uint16)
    blocks, feats, bits = [], [], []
    for i in range(count):
        rng = np.random.default_rng([params.seed, code, i])
        j = int(pattern_id[i])
        adj, block, feat = _one_graph(rng, params, patterns[j], pattern_feat[j])
        num_nodes[i] = block.size
        blocks.append(block)
        feats.append(feat)
        bits.append(np.packbits(adj[_triu(block.size)]))
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dtype=dt)  # noqa: E731
    return {
        "num_nodes": num_nodes,
        "pattern_id": pattern_id,
        "block": cat(blocks, np.uint8),
        "feat": cat(feats, np.uint8),
        "adj_bits": cat(bits, np.uint8),
    }
