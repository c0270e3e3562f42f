"""GIN-ID: a GIN whose node input carries each node's position in the canonical order.

Node ``i`` of a canonicalized graph gets ``[x_i, one_hot(i, max_nodes)]`` as input, so the
network can tell nodes apart (it is *not* permutation-invariant by itself); symmetrizing it
over S_n restores invariance while keeping that extra power (Puny et al. 2022, "GIN-ID-FA";
Kim et al. 2023, "GIN-ID-PS").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv, GINEConv
from torch_geometric.utils import dense_to_sparse

from lps.layers import mlp


class GINID(nn.Module):
    """A GIN on the real edges of a dense graph, with the one-hot node index as extra input.

    Call ``forward(x, adj, mask)`` with ``x`` (B, N, C) node features, ``adj`` (B, N, N, 1 + F)
    pair features (channel 0 is the adjacency: ``adj[b, i, j, 0] != 0`` is an edge ``i -> j``,
    so node ``j`` aggregates from ``i``) and ``mask`` (B, N) bool (real nodes first; None = all
    real). Edges between real nodes are read off channel 0 with
    :func:`torch_geometric.utils.dense_to_sparse` (a host sync).

    Args:
        node_dim: C, the node feature channels.
        max_nodes: the length of the one-hot index (N must not exceed it).
        out_dim: per-graph output size (pooled over real nodes, then an MLP head), or None.
        node_out_dim: per-node output size, or None. With both, ``forward`` returns
            ``{"graph": (B, out_dim), "node": (B, N, node_out_dim)}``; with one, that tensor.
        hidden, layers: GIN width and number of GIN layers.
        pool: ``"sum"`` or ``"mean"`` over the real nodes (of every layer's output,
            concatenated: jumping knowledge).
        edge_dim: F, edge feature channels ``adj[..., 1:]`` used through ``GINEConv`` (0: plain
            ``GINConv``, edge features ignored).
        use_ids: False drops the one-hot index (a plain GIN, for comparison).
    """

    def __init__(
        self,
        node_dim: int,
        max_nodes: int,
        out_dim: int | None = 1,
        node_out_dim: int | None = None,
        hidden: int = 64,
        layers: int = 3,
        pool: str = "sum",
        edge_dim: int = 0,
        use_ids: bool = True,
    ):
        super().__init__()
        if out_dim is None and node_out_dim is None:
            raise ValueError("GINID: give out_dim (per graph) and/or node_out_dim (per node)")
        if pool not in ("sum", "mean"):
            raise ValueError(f"GINID: pool must be 'sum' or 'mean', got {pool!r}")
        if max_nodes < 1 or layers < 1:
            raise ValueError(
                f"GINID: need max_nodes >= 1 and layers >= 1, got {max_nodes}, {layers}"
            )
        self.node_dim, self.max_nodes = node_dim, max_nodes
        self.out_dim, self.node_out_dim = out_dim, node_out_dim
        self.pool, self.edge_dim, self.use_ids = pool, edge_dim, use_ids
        in_dim = node_dim + (max_nodes if use_ids else 0)
        self.embed = nn.Linear(max(in_dim, 1), hidden)
        self.convs = nn.ModuleList()
        for _ in range(layers):
            inner = mlp([hidden, hidden, hidden], nn.ReLU)
            if edge_dim > 0:
                self.convs.append(GINEConv(inner, train_eps=True, edge_dim=edge_dim))
            else:
                self.convs.append(GINConv(inner, train_eps=True))
        self.graph_head = (
            mlp([hidden * (layers + 1), hidden, out_dim], nn.ReLU) if out_dim else None
        )
        self.node_head = nn.Linear(hidden, node_out_dim) if node_out_dim else None

    def forward(
        self, x: Tensor, adj: Tensor, mask: Tensor | None = None
    ) -> Tensor | dict[str, Tensor]:
        if x.dim() != 3 or adj.dim() != 4 or adj.shape[:3] != (x.shape[0], x.shape[1], x.shape[1]):
            raise ValueError(
                f"GINID: expected x (B, N, C) and adj (B, N, N, 1 + F); got x {tuple(x.shape)}, "
                f"adj {tuple(adj.shape)}"
            )
        b, n, c = x.shape
        if c != self.node_dim:
            raise ValueError(f"GINID: x has {c} channels, the model was built with {self.node_dim}")
        if n > self.max_nodes:
            raise ValueError(f"GINID: {n} nodes, more than max_nodes={self.max_nodes}")
        if adj.shape[-1] < 1 + self.edge_dim:
            raise ValueError(
                f"GINID: adj has {adj.shape[-1]} channels, expected 1 + edge_dim = "
                f"{1 + self.edge_dim}"
            )
        dtype = self.embed.weight.dtype
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=x.device)
        node_w = mask.to(dtype).unsqueeze(-1)  # (B, N, 1)
        # Linear([x, one_hot(i)]) computed without building the one-hot: W_x x + W_id[:, i] + b.
        weight = self.embed.weight
        if c or not self.use_ids:
            h0 = x.to(dtype) if c else torch.ones_like(node_w)
            h = nn.functional.linear(h0, weight[:, : max(c, 1)], self.embed.bias)
        else:
            h = self.embed.bias.expand(b, n, -1)
        if self.use_ids:
            h = h + weight[:, c : c + n].t()
        pair_real = mask.unsqueeze(2) & mask.unsqueeze(1)
        edges, _ = dense_to_sparse((adj[..., 0] != 0) & pair_real)  # flat layout b * N + i
        edge_attr = None
        if self.edge_dim > 0:
            flat = adj[..., 1 : 1 + self.edge_dim].reshape(b * n * n, self.edge_dim)
            graph, src, dst = edges[0] // n, edges[0] % n, edges[1] % n
            edge_attr = flat[graph * n * n + src * n + dst].to(dtype)
        h = (h * node_w).reshape(b * n, -1)
        pooled = [(h.view(b, n, -1)).sum(1)]
        for conv in self.convs:
            out = conv(h, edges, edge_attr) if self.edge_dim > 0 else conv(h, edges)
            h = torch.relu(out) * node_w.reshape(b * n, 1)
            pooled.append(h.view(b, n, -1).sum(1))  # padding rows are zero
        results: dict[str, Tensor] = {}
        if self.graph_head is not None:
            readout = torch.cat(pooled, -1)  # jumping knowledge: every layer, pooled
            if self.pool == "mean":
                readout = readout / node_w.sum(1).clamp_min(1.0)
            results["graph"] = self.graph_head(readout)
        if self.node_head is not None:
            results["node"] = self.node_head(h).view(b, n, -1) * node_w
        if len(results) == 1:
            return next(iter(results.values()))
        return results
