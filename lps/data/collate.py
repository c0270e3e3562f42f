"""``collate_fn`` classes that turn lists of graphs into dense batches."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LRGBCollate"]


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
