"""Graph data sets (EXP, GRAPH8c) and dense collation of graph batches.

The raw files ship inside the package (``lps/data/files``) and are read with
:mod:`importlib.resources`, so loading works from an installed wheel. Every load checks
the file's SHA-256 digest against the published one.

Shapes below use ``N`` for a graph's node count, ``E`` for its directed edge count,
``B`` for the batch size, ``Nmax`` for ``max_num_nodes`` and ``C``/``F`` for node/edge
feature widths.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import networkx as nx
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_dense_adj, to_dense_batch

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "EXP_FILE",
    "EXP_NUM_GRAPHS",
    "EXP_SHA256",
    "EXP_SPLIT",
    "GRAPH8C_FILE",
    "GRAPH8C_NUM_GRAPHS",
    "GRAPH8C_SHA256",
    "DenseGraphCollate",
    "dense_graph_batch",
    "exp_split",
    "load_exp",
    "load_graph8c",
    "make_dense_collate",
    "packaged_file",
    "verify_checksum",
]

PathLike = str | os.PathLike[str]

EXP_FILE = "exp.json.gz"
EXP_SHA256 = "fa98573d3f31c738a7a27bfa311b377874c04f9270ffdd32643332a42b70ea64"
EXP_NUM_GRAPHS = 1200

GRAPH8C_FILE = "graph8c.g6"
GRAPH8C_SHA256 = "0002354f1ab3344a2706626a037ad15367bf23a2163aa68f552c3a169ca9a036"
GRAPH8C_NUM_GRAPHS = 11117

#: Standard EXP-classify split (Abboud et al., 2021): graph indices of each part.
EXP_SPLIT: dict[str, range] = {
    "train": range(400, 1200),
    "val": range(0, 200),
    "test": range(200, 400),
}


# --------------------------------------------------------------------------- files


def packaged_file(name: str) -> Traversable:
    """Return the packaged raw file ``lps/data/files/<name>`` as a resource handle."""
    return files("lps.data").joinpath("files").joinpath(name)


def _read_bytes(path: PathLike | Traversable) -> bytes:
    if isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()  # importlib.resources handle (works inside a wheel/zip)


def _check_digest(data: bytes, expected_sha256: str, name: str) -> None:
    seen = hashlib.sha256(data).hexdigest()
    if seen != expected_sha256.lower():
        raise ValueError(
            f"checksum mismatch for {name}: expected sha256 {expected_sha256.lower()}, "
            f"got {seen}; the file is corrupted or is not the expected data set"
        )


def verify_checksum(path: PathLike | Traversable, expected_sha256: str) -> None:
    """Check that the file at ``path`` has SHA-256 digest ``expected_sha256``.

    Raises ``ValueError`` naming the file, the expected and the seen digest on mismatch.
    """
    _check_digest(_read_bytes(path), expected_sha256, str(path))


def _load_raw(
    path: PathLike | None, default_name: str, expected_sha256: str, verify: bool
) -> tuple[bytes, str]:
    source: PathLike | Traversable = packaged_file(default_name) if path is None else path
    data = _read_bytes(source)
    name = str(source)
    if verify:
        _check_digest(data, expected_sha256, name)
    return data, name


# --------------------------------------------------------------------------- EXP


def _exp_item_to_data(item: Any, index: int, name: str) -> Data:
    where = f"{name}: graph {index}"
    if not isinstance(item, dict) or not {"x", "edge_index", "y"} <= item.keys():
        raise ValueError(f"{where}: expected an object with keys 'x', 'edge_index', 'y'")
    try:
        x = torch.tensor(item["x"], dtype=torch.float32)
        edge_index = torch.tensor(item["edge_index"], dtype=torch.long)
        y = torch.tensor([item["y"]], dtype=torch.long)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: malformed field ({err})") from err
    if x.dim() == 1:
        x = x.unsqueeze(-1)
    if x.dim() != 2 or x.size(0) == 0:
        raise ValueError(f"{where}: 'x' must be a non-empty (N, C) list, got {tuple(x.shape)}")
    num_nodes = x.size(0)
    if edge_index.numel() == 0:
        edge_index = edge_index.reshape(2, 0)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{where}: 'edge_index' must be 2 x E, got {tuple(edge_index.shape)}")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise ValueError(
            f"{where}: edge index out of range [0, {num_nodes}) "
            f"(min {int(edge_index.min())}, max {int(edge_index.max())})"
        )
    return Data(x=x, edge_index=edge_index, y=y, pair_id=torch.tensor([index // 2]))


def load_exp(path: PathLike | None = None, verify: bool = True) -> list[Data]:
    """Load EXP: 1,200 graphs, pairs ``(2i, 2i+1)`` non-isomorphic but 1-WL equivalent.

    Each ``Data`` has ``x`` float32 (N, 1) in {0, 1}, ``edge_index`` long (2, E) with
    both directions, ``y`` long (1,) (1 = satisfiable) and ``pair_id`` long (1,) = i // 2.
    ``path`` defaults to the packaged file; the checksum is verified unless
    ``verify=False``.
    """
    raw, name = _load_raw(path, EXP_FILE, EXP_SHA256, verify)
    try:
        items = json.loads(gzip.decompress(raw))
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"{name}: not a gzip-compressed JSON file ({err})") from err
    if not isinstance(items, list):
        raise ValueError(f"{name}: expected a JSON list of graphs, got {type(items).__name__}")
    return [_exp_item_to_data(item, i, name) for i, item in enumerate(items)]


def exp_split(graphs: Sequence[Data]) -> dict[str, list[Data]]:
    """Split the 1,200 EXP graphs into ``train`` (800), ``val`` (200), ``test`` (200)."""
    if len(graphs) != EXP_NUM_GRAPHS:
        raise ValueError(f"exp_split expects {EXP_NUM_GRAPHS} EXP graphs, got {len(graphs)}")
    return {key: [graphs[i] for i in idx] for key, idx in EXP_SPLIT.items()}


# --------------------------------------------------------------------------- GRAPH8c


def load_graph8c(path: PathLike | None = None, verify: bool = True) -> list[Data]:
    """Load GRAPH8c: all 11,117 connected non-isomorphic simple graphs on 8 nodes.

    Each ``Data`` has ``x`` = ones float32 (8, 1) and ``edge_index`` long (2, E) with
    both directions, sorted. ``path`` defaults to the packaged graph6 file; the checksum
    is verified unless ``verify=False``.
    """
    raw, name = _load_raw(path, GRAPH8C_FILE, GRAPH8C_SHA256, verify)
    graphs: list[Data] = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            g = nx.from_graph6_bytes(line)
        except (nx.NetworkXError, ValueError, IndexError) as err:
            raise ValueError(f"{name}: line {lineno} is not a valid graph6 string") from err
        n = g.number_of_nodes()
        pairs = sorted([(u, v) for u, v in g.edges()] + [(v, u) for u, v in g.edges()])
        ei = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t().contiguous()
        graphs.append(Data(x=torch.ones(n, 1), edge_index=ei, num_nodes=n))
    return graphs


# --------------------------------------------------------------------------- dense batch


def _edge_shape_str(shape: tuple[int, ...]) -> str:
    return f"(E, {shape[0]})" if shape else "(E,)"


def _check_graphs(graphs: Sequence[Data], max_num_nodes: int) -> None:
    if len(graphs) == 0:
        raise ValueError("dense_graph_batch needs at least one graph")
    if max_num_nodes < 1:
        raise ValueError(f"max_num_nodes must be >= 1, got {max_num_nodes}")
    has_attr = [getattr(g, "edge_attr", None) is not None for g in graphs]
    keys0 = set(graphs[0].keys())
    edge_shape = None
    for i, g in enumerate(graphs):
        if g.x is None:
            raise ValueError(f"graph {i} has no node features 'x'")
        n = int(g.num_nodes)
        if n > max_num_nodes:
            raise ValueError(f"graph {i} has {n} nodes, more than max_num_nodes={max_num_nodes}")
        keys = set(g.keys())
        if keys != keys0 and has_attr[i] == has_attr[0]:
            raise ValueError(
                f"graph {i} has attributes {sorted(keys)} but graph 0 has {sorted(keys0)}; "
                "all graphs in a batch must carry the same attributes"
            )
        ei = g.edge_index
        if ei is None or ei.dim() != 2 or ei.size(0) != 2:
            raise ValueError(f"graph {i}: edge_index must be a (2, E) tensor")
        if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n):
            raise ValueError(f"graph {i}: edge index out of range [0, {n}) for {n} nodes")
        if has_attr[i] != has_attr[0]:
            raise ValueError(
                f"graph {i} {'has' if has_attr[i] else 'lacks'} edge_attr but graph 0 "
                f"{'has' if has_attr[0] else 'lacks'} it; all graphs must agree"
            )
        if has_attr[i]:
            ea = g.edge_attr
            shape = tuple(ea.shape[1:]) if ea.dim() > 1 else ()
            if ea.size(0) != ei.size(1):
                raise ValueError(
                    f"graph {i}: edge_attr has {ea.size(0)} rows for {ei.size(1)} edges"
                )
            if len(shape) > 1:
                raise ValueError(f"graph {i}: edge_attr must be (E,) or (E, F), got {ea.shape}")
            if edge_shape is None:
                edge_shape = shape
            elif shape != edge_shape:
                raise ValueError(
                    f"edge feature width mismatch: graph {i} has edge_attr of shape "
                    f"{_edge_shape_str(shape)}, graph 0 has {_edge_shape_str(edge_shape)}"
                )


def dense_graph_batch(graphs: Sequence[Data], max_num_nodes: int) -> dict[str, Tensor]:
    """Collate graphs into padded dense tensors.

    Returns a dict with
      ``x``: (B, Nmax, C) float node features (zero padded),
      ``adj``: (B, Nmax, Nmax, 1 + F) float; channel 0 is the 0/1 adjacency (duplicate
      edges count once, self-loops sit on the diagonal), channels 1: hold ``edge_attr``
      when the graphs have it (duplicate edges are averaged),
      ``mask``: (B, Nmax) bool, True on real nodes,
      ``edge_index``: (2, E_total) long into the flat layout, node j of graph b -> b*Nmax+j,
      ``y``: the stacked targets (e.g. (B,)), present when the graphs have ``y``.
    Raises ``ValueError`` if a graph has more than ``max_num_nodes`` nodes.
    """
    _check_graphs(graphs, max_num_nodes)
    batch = Batch.from_data_list(list(graphs))
    num_graphs = len(graphs)
    x = batch.x if batch.x.dim() > 1 else batch.x.unsqueeze(-1)
    if not x.is_floating_point():
        x = x.float()
    x_dense, mask = to_dense_batch(
        x, batch.batch, max_num_nodes=max_num_nodes, batch_size=num_graphs
    )
    edge_index = batch.edge_index
    adj = to_dense_adj(
        edge_index,
        batch.batch,
        edge_attr=None,
        max_num_nodes=max_num_nodes,
        batch_size=num_graphs,
    )  # (B, Nmax, Nmax), edge multiplicities
    channels = [adj.clamp(max=1).to(x_dense.dtype).unsqueeze(-1)]
    edge_attr = getattr(batch, "edge_attr", None)
    if edge_attr is not None:
        ea = edge_attr if edge_attr.dim() > 1 else edge_attr.unsqueeze(-1)
        ea = ea.to(x_dense.dtype)
        ea_dense = to_dense_adj(
            edge_index,
            batch.batch,
            edge_attr=ea,
            max_num_nodes=max_num_nodes,
            batch_size=num_graphs,
        )  # (B, Nmax, Nmax, F), summed over duplicates
        channels.append(ea_dense / adj.clamp(min=1).unsqueeze(-1).to(ea_dense.dtype))
    out: dict[str, Tensor] = {
        "x": x_dense,
        "adj": torch.cat(channels, dim=-1),
        "mask": mask,
    }
    graph_of_edge = batch.batch[edge_index[0]]  # (E_total,)
    out["edge_index"] = edge_index - batch.ptr[graph_of_edge] + graph_of_edge * max_num_nodes
    y = getattr(batch, "y", None)
    if y is not None:
        out["y"] = y
    return out


class DenseGraphCollate:
    """Picklable ``collate_fn`` calling :func:`dense_graph_batch` with a fixed size."""

    def __init__(self, max_num_nodes: int) -> None:
        self.max_num_nodes = max_num_nodes

    def __call__(self, graphs: Sequence[Data]) -> dict[str, Tensor]:
        return dense_graph_batch(graphs, self.max_num_nodes)

    def __repr__(self) -> str:
        return f"DenseGraphCollate(max_num_nodes={self.max_num_nodes})"


def make_dense_collate(max_num_nodes: int) -> Callable[[Sequence[Data]], dict[str, Tensor]]:
    """Return a ``DataLoader(collate_fn=...)`` callable producing :func:`dense_graph_batch`."""
    return DenseGraphCollate(max_num_nodes)
