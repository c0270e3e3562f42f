"""PATTERN (Dwivedi et al., "Benchmarking Graph Neural Networks"), generated offline.

Each graph is a stochastic block model with a planted pattern, following the reference
notebook ``data/SBMs/generate_SBM_PATTERN.ipynb`` of graphdeeplearning/benchmarking-gnns:

- ``num_communities = 5`` communities, each of ``numpy.random.randint(5, 35)`` nodes (5 to 34;
  ``community_max`` is exclusive, as in the notebook); edges with probability ``p = 0.5``
  inside a community and ``q = 0.35`` across (the paper's value; PyG's ``PATTERN_v2`` has
  ~6,099 directed edges on ~119 nodes, which matches q = 0.35 and not the q = 0.2 left in
  one version of the notebook);
- node features uniform over ``vocab_size = 3`` values;
- ``num_patterns = 100`` patterns, each a random graph on ``pattern_size = 20`` nodes (edge
  probability ``p_pattern = 0.5``) with its own fixed node features; graph ``i`` of a split
  carries pattern ``i % num_patterns``, joined to every other node with probability
  ``q_pattern = 0.5``. The patterns are shared by the three splits, as in the reference
  (each pattern has 100 train, 20 validation and 20 test graphs);
- the nodes are shuffled; the label of a node is 1 if it belongs to the pattern, else 0.

Splits: 10,000 / 2,000 / 2,000 graphs with 45 to 190 nodes (5 x 5 + 20 to 5 x 34 + 20; the
often-quoted "44-188" is the range observed in the published files).

Node features are returned as PyG's ``GNNBenchmarkDataset("PATTERN")`` has them: ``x`` is a
float32 one-hot ``(N, 3)`` of the feature value (the DGL version stores the integer).

Randomness: graph ``i`` of split ``s`` is drawn from ``numpy.random.default_rng([seed, s,
i])`` and pattern ``j`` from ``default_rng([seed, 100, j])``, so a split is reproducible, its
first ``n`` graphs do not depend on how many are generated, and splits are independent.
Each graph is built with whole-array numpy operations (one ``random`` call per block of the
adjacency); generating all 14,000 graphs takes a few seconds.

Cache: ``<root>/pattern_<split>_<hash>.npz`` (``hash``: the first 12 hex digits of the
sha256 of the parameters) with a JSON sidecar holding the parameters and the sha256 of the
``.npz``; written atomically (temporary file, then ``os.replace``) and read with
``allow_pickle=False``. ``root`` defaults to ``$LPS_DATA_DIR/pattern``, else
``~/.cache/lps/pattern``. A file whose checksum, parameters or arrays do not match is
regenerated (``regenerate=True``) or reported with :class:`PatternCacheError`.

The official files can be used instead with :func:`load_pattern_official`
(:mod:`lps.data.pattern_pyg`); :class:`PatternDataset` records batch fast with
:class:`PatternCollate` (:mod:`lps.data.collate`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch_geometric.data import Data

from lps.data.cache import cached_npz, read_npz_cache

# The generator (lps.data.pattern_gen), PyG's form and official files (lps.data.pattern_pyg)
# and the fast collate (lps.data.collate) live in sibling modules; their names stay
# importable from here.
from lps.data.collate import PatternCollate
from lps.data.pattern_gen import (  # noqa: F401
    _PATTERN_CODE,
    _SPLIT_CODE,
    DEFAULT_PARAMS,
    PATTERN_SPLITS,
    PatternParams,
    _check_split,
    _make_patterns,
    _one_graph,
    _random_graph,
    _triu,
    generate_pattern_split,
)
from lps.data.pattern_pyg import _official_to_data, load_pattern_official, pattern_x  # noqa: F401

__all__ = [
    "DEFAULT_PARAMS",
    "PATTERN_SPLITS",
    "PatternCacheError",
    "PatternCollate",
    "PatternDataset",
    "PatternItem",
    "PatternParams",
    "default_root",
    "generate_pattern_split",
    "load_pattern",
    "load_pattern_official",
    "load_pattern_split",
    "pattern_graph_to_data",
    "pattern_x",
]

PathLike = str | os.PathLike[str]

CACHE_FORMAT_VERSION = 1
_ARRAYS = ("num_nodes", "pattern_id", "block", "feat", "adj_bits")


class PatternCacheError(RuntimeError):
    """A cached PATTERN split is missing pieces, corrupted, or has other parameters."""


def default_root() -> Path:
    """Cache directory: ``$LPS_DATA_DIR/pattern`` if set, else ``~/.cache/lps/pattern``."""
    env = os.environ.get("LPS_DATA_DIR")
    if env:
        return Path(env).expanduser() / "pattern"
    return Path.home() / ".cache" / "lps" / "pattern"


def _offsets(num_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = num_nodes.astype(np.int64)
    node_off = np.concatenate([[0], np.cumsum(n)])
    byte_off = np.concatenate([[0], np.cumsum((n * (n - 1) // 2 + 7) // 8)])
    return node_off, byte_off


def pattern_graph_to_data(
    arrays: dict[str, np.ndarray], index: int, params: PatternParams | None = None
) -> Data:
    """Graph ``index`` of packed arrays as a ``Data``.

    ``x`` float32 one-hot (N, vocab_size), ``edge_index`` long (2, E) with both directions,
    sorted by (source, target), ``y`` long (N,) (1 = pattern node).
    """
    params = DEFAULT_PARAMS if params is None else params
    node_off, byte_off = _offsets(arrays["num_nodes"])
    return _to_data(arrays, index, node_off, byte_off, params)


def _item(arrays, index, node_off, byte_off, params) -> PatternItem:
    """Graph ``index`` of packed arrays as a :class:`PatternItem` (``feat``, ``bits``: views)."""
    a, b = node_off[index], node_off[index + 1]
    label = (arrays["block"][a:b] == params.num_communities).astype(np.uint8)
    bits = arrays["adj_bits"][byte_off[index] : byte_off[index + 1]]
    return PatternItem(arrays["feat"][a:b], label, bits)


def _to_data(arrays, index, node_off, byte_off, params) -> Data:
    return _item(arrays, index, node_off, byte_off, params).to_data(params.vocab_size)


def arrays_to_data(
    arrays: dict[str, np.ndarray], params: PatternParams | None = None
) -> list[Data]:
    """Every graph of packed arrays as a list of ``Data`` (see :func:`pattern_graph_to_data`)."""
    params = DEFAULT_PARAMS if params is None else params
    node_off, byte_off = _offsets(arrays["num_nodes"])
    return [
        _to_data(arrays, i, node_off, byte_off, params) for i in range(len(arrays["num_nodes"]))
    ]


# --------------------------------------------------------------------------- cache


def cache_paths(split: str, root: PathLike | None, params: PatternParams) -> tuple[Path, Path]:
    """``(npz, json)`` paths of a cached split."""
    _check_split(split)
    root_path = Path(root).expanduser() if root is not None else default_root()
    stem = f"pattern_{split}_{params.digest()}"
    return root_path / f"{stem}.npz", root_path / f"{stem}.json"


def _validate(arrays: dict[str, np.ndarray], params: PatternParams, count: int, where: str):
    nn_ = arrays["num_nodes"]
    if nn_.shape != (count,) or arrays["pattern_id"].shape != (count,):
        raise PatternCacheError(f"{where}: expected {count} graphs, got {nn_.shape}")
    if count and (nn_.min() < params.min_nodes or nn_.max() > params.max_nodes):
        raise PatternCacheError(
            f"{where}: graph sizes {nn_.min()}..{nn_.max()} outside the possible "
            f"{params.min_nodes}..{params.max_nodes}"
        )
    node_off, byte_off = _offsets(nn_)
    for key, size in (("block", node_off[-1]), ("feat", node_off[-1]), ("adj_bits", byte_off[-1])):
        if arrays[key].shape != (size,):
            raise PatternCacheError(f"{where}: {key} has shape {arrays[key].shape}, want ({size},)")


def _read_cache(npz: Path, meta_path: Path, split: str, params: PatternParams):
    expected = {"format_version": CACHE_FORMAT_VERSION, "split": split, "params": params.as_dict()}
    arrays = read_npz_cache(npz, meta_path, expected, _ARRAYS, PatternCacheError)
    _validate(arrays, params, params.split_size(split), str(npz))
    return arrays


def load_pattern_arrays(
    split: str,
    root: PathLike | None = None,
    params: PatternParams | None = None,
    regenerate: bool = True,
) -> dict[str, np.ndarray]:
    """The packed arrays of a whole split (:func:`generate_pattern_split`), cached on disk.

    A missing cache is generated and written. A cache whose checksum, parameters or arrays
    do not match is regenerated when ``regenerate`` is true, else :class:`PatternCacheError`
    is raised.
    """
    params = DEFAULT_PARAMS if params is None else params
    npz, meta_path = cache_paths(split, root, params)
    meta = {
        "format_version": CACHE_FORMAT_VERSION,
        "generator": "lps.data.pattern.generate_pattern_split",
        "split": split,
        "num_graphs": params.split_size(split),
        "params": params.as_dict(),
    }
    return cached_npz(
        npz,
        meta_path,
        lambda: _read_cache(npz, meta_path, split, params),
        lambda: generate_pattern_split(split, params),
        meta,
        PatternCacheError,
        regenerate,
    )


def load_pattern_split(
    split: str,
    root: PathLike | None = None,
    params: PatternParams | None = None,
    num_graphs: int | None = None,
    regenerate: bool = True,
) -> list[Data]:
    """The graphs of one split as ``Data`` (the first ``num_graphs`` if given), cached."""
    params = DEFAULT_PARAMS if params is None else params
    arrays = load_pattern_arrays(split, root, params, regenerate)
    if num_graphs is not None:
        arrays = _head(arrays, int(num_graphs))
    return arrays_to_data(arrays, params)


def _head(arrays: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    if count < 0:
        raise ValueError(f"num_graphs must be >= 0, got {count}")
    count = min(count, len(arrays["num_nodes"]))
    node_off, byte_off = _offsets(arrays["num_nodes"])
    return {
        "num_nodes": arrays["num_nodes"][:count],
        "pattern_id": arrays["pattern_id"][:count],
        "block": arrays["block"][: node_off[count]],
        "feat": arrays["feat"][: node_off[count]],
        "adj_bits": arrays["adj_bits"][: byte_off[count]],
    }


def load_pattern(
    root: PathLike | None = None,
    params: PatternParams | None = None,
    num_train: int | None = None,
    regenerate: bool = True,
) -> dict[str, list[Data]]:
    """``{"train", "val", "test"}`` lists of ``Data`` (10,000 / 2,000 / 2,000 by default).

    ``num_train`` keeps only the first training graphs (they cover every pattern when
    ``num_train >= num_patterns``). See the module docstring for the format and the cache.
    """
    params = DEFAULT_PARAMS if params is None else params
    return {
        split: load_pattern_split(
            split, root, params, num_train if split == "train" else None, regenerate
        )
        for split in ("train", "val", "test")
    }


# --------------------------------------------------------------------------- fast batches


class PatternItem(NamedTuple):
    """One graph in packed form: ``feat`` uint8 (N,) feature values, ``label`` uint8 (N,),
    ``bits`` uint8: the packed strict upper triangle of the adjacency (``triu_indices``)."""

    feat: np.ndarray
    label: np.ndarray
    bits: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.feat.shape[0])

    @classmethod
    def from_data(cls, data: Data) -> PatternItem:
        """Pack a ``Data`` with one-hot (or integer) ``x``, ``edge_index`` and node ``y``."""
        n = int(data.num_nodes)
        x = data.x
        feat = x.argmax(-1) if x.is_floating_point() and x.dim() == 2 and x.shape[1] > 1 else x
        adj = np.zeros((n, n), dtype=bool)
        ei = data.edge_index.numpy()
        adj[ei[0], ei[1]] = True
        adj |= adj.T
        return cls(
            feat=np.asarray(feat.reshape(-1), dtype=np.uint8),
            label=np.asarray(data.y.reshape(-1), dtype=np.uint8),
            bits=np.packbits(adj[_triu(n)]),
        )

    def to_data(self, vocab_size: int = 3) -> Data:
        n = self.num_nodes
        adj = np.zeros((n, n), dtype=bool)
        adj[_triu(n)] = np.unpackbits(self.bits, count=n * (n - 1) // 2).view(bool)
        adj |= adj.T
        return Data(
            x=pattern_x(self.feat, vocab_size),
            edge_index=torch.from_numpy(np.stack(np.nonzero(adj)).astype(np.int64)),
            y=torch.from_numpy(self.label.astype(np.int64)),
        )


class PatternDataset(torch.utils.data.Dataset):
    """A split as :class:`PatternItem` records, for :class:`PatternCollate` (fast batches).

    Build it from packed arrays (:func:`load_pattern_arrays`) or from ``Data`` graphs (the
    official files) with :meth:`from_data`. ``dataset.data(i)`` gives graph ``i`` as ``Data``.
    """

    def __init__(self, items: list[PatternItem], vocab_size: int = 3):
        self.items, self.vocab_size = items, vocab_size

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], params: PatternParams | None = None
    ) -> PatternDataset:
        params = DEFAULT_PARAMS if params is None else params
        node_off, byte_off = _offsets(arrays["num_nodes"])
        items = [
            _item(arrays, i, node_off, byte_off, params) for i in range(len(arrays["num_nodes"]))
        ]
        return cls(items, params.vocab_size)

    @classmethod
    def from_data(cls, graphs: list[Data], vocab_size: int = 3) -> PatternDataset:
        return cls([PatternItem.from_data(g) for g in graphs], vocab_size)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> PatternItem:
        return self.items[index]

    def data(self, index: int) -> Data:
        return self.items[index].to_data(self.vocab_size)
