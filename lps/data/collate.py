"""``collate_fn`` classes that turn lists of graphs into dense batches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from lps.data.pattern_gen import _triu

if TYPE_CHECKING:
    from lps.data.pattern import PatternItem

__all__ = ["LRGBCollate", "PatternCollate"]


class LRGBCollate:
    """``collate_fn`` for LRGB graphs: :func:`lps.data.graphs.dense_graph_batch` plus, for
    PCQM-Contact, ``pair_label`` (B, Nmax, Nmax) long (``edge_label`` on labelled pairs, -1
    elsewhere) and ``pair_target`` (B, Nmax, Nmax) long (1 on positive pairs, 0 on other
    pairs of real nodes, -1 on padding)."""

    def __init__(self, max_num_nodes: int, link: bool = False):
        self.max_num_nodes, self.link = max_num_nodes, link

    def __call__(self, graphs) -> dict[str, Tensor]:
        from torch_geometric.data import Data

        from lps.data.graphs import dense_graph_batch

        keep = ("x", "edge_index", "edge_attr", "y")
        plain = [Data(**{k: g[k] for k in keep if k in g}, num_nodes=g.num_nodes) for g in graphs]
        batch = dense_graph_batch(plain, self.max_num_nodes)
        if self.link:
            n, b = self.max_num_nodes, len(graphs)
            label = torch.full((b, n, n), -1, dtype=torch.long)
            target = torch.full((b, n, n), -1, dtype=torch.long)
            for i, g in enumerate(graphs):
                k = int(g.num_nodes)
                target[i, :k, :k] = 0
                li, lab = g.edge_label_index.long(), g.edge_label.long()
                label[i, li[0], li[1]] = lab
                pos = li[:, lab == 1]
                target[i, pos[0], pos[1]] = 1
            batch["pair_label"], batch["pair_target"] = label, target
        return batch

    def __repr__(self) -> str:
        return f"LRGBCollate(max_num_nodes={self.max_num_nodes}, link={self.link})"


class PatternCollate:
    """``collate_fn`` turning :class:`PatternItem` records into padded dense tensors.

    Returns the keys of :func:`lps.data.graphs.dense_graph_batch` (``x`` (B, Nmax, vocab)
    float one-hot, ``adj`` (B, Nmax, Nmax, 1), ``mask`` (B, Nmax) bool, ``edge_index``
    (2, E) in the flat layout ``b * Nmax + i``, sorted) plus ``node_y`` (B, Nmax) long, the
    node labels with -1 on padding. ``adj`` is **bool** (a quarter of the float bytes to
    copy to the device; cast it with ``.float()`` there). Built with whole-batch numpy
    operations: about 0.1 s for 128 PATTERN graphs on a loaded 2-core CPU, where the
    generic ``dense_graph_batch`` takes about 0.5 s.
    """

    def __init__(self, max_num_nodes: int, vocab_size: int = 3):
        self.max_num_nodes, self.vocab_size = max_num_nodes, vocab_size

    def __call__(self, items: list[PatternItem]) -> dict[str, Tensor]:
        nmax, b = self.max_num_nodes, len(items)
        if b == 0:
            raise ValueError("PatternCollate: empty batch")
        adj = np.zeros((b, nmax, nmax), dtype=bool)
        feat = np.zeros((b, nmax), dtype=np.int64)
        node_y = np.full((b, nmax), -1, dtype=np.int64)
        mask = np.zeros((b, nmax), dtype=bool)
        for g, item in enumerate(items):
            n = item.num_nodes
            if n > nmax:
                raise ValueError(f"graph {g} has {n} nodes, more than max_num_nodes={nmax}")
            rows, cols = _triu(n)
            adj[g, rows, cols] = np.unpackbits(item.bits, count=n * (n - 1) // 2).view(bool)
            feat[g, :n] = item.feat
            node_y[g, :n] = item.label
            mask[g, :n] = True
        adj |= adj.transpose(0, 2, 1)
        gi, src, dst = np.nonzero(adj)
        edge_index = np.stack([gi * nmax + src, gi * nmax + dst])
        x = np.eye(self.vocab_size, dtype=np.float32)[feat] * mask[..., None]
        return {
            "x": torch.from_numpy(x),
            "adj": torch.from_numpy(adj).unsqueeze(-1),
            "mask": torch.from_numpy(mask),
            "edge_index": torch.from_numpy(edge_index),
            "node_y": torch.from_numpy(node_y),
        }

    def __repr__(self) -> str:
        return f"PatternCollate(max_num_nodes={self.max_num_nodes})"
