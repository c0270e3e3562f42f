"""Adapters between dense graph fields and what a graph base model computes.

- :class:`NodeFromPair`: per-node outputs read off the diagonal of a model's pair output;
- :class:`PairFromNodes`: pair scores from the dot products of a model's node outputs;
- :class:`IntegerFeatureEncoder`: learned embeddings of integer node / edge features (OGB
  style) in front of a graph model.

Every wrapped model is called with keywords, ``model(x=..., adj=..., mask=...)``, with
``x`` (B, N, C) and ``adj`` (B, N, N, C').
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "EDGE_EMBED_DIM",
    "IntegerFeatureEncoder",
    "NODE_EMBED_DIM",
    "NodeFromPair",
    "PairFromNodes",
]

#: Default widths of the learned embeddings of integer atom and bond features.
NODE_EMBED_DIM = 16
EDGE_EMBED_DIM = 8


class NodeFromPair(nn.Module):
    """Per-node outputs (B, N, C) from a model's pair output (B, N, N, C): its diagonal."""

    def __init__(self, pair_model: nn.Module):
        super().__init__()
        self.pair_model = pair_model

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        pair = self.pair_model(x=x, adj=adj, mask=mask)
        node = pair.diagonal(dim1=1, dim2=2).transpose(1, 2)
        return node if mask is None else node * mask.unsqueeze(-1).to(node.dtype)


class PairFromNodes(nn.Module):
    """Pair scores (B, N, N, 1) = <h_u, h_v> / sqrt(H) of a model's node outputs (B, N, H)."""

    def __init__(self, node_model: nn.Module):
        super().__init__()
        self.node_model = node_model

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        h = self.node_model(x=x, adj=adj, mask=mask)
        return (h @ h.transpose(1, 2) / math.sqrt(h.shape[-1])).unsqueeze(-1)


class IntegerFeatureEncoder(nn.Module):
    """Embed integer node / edge features (OGB style), then call the wrapped graph model.

    ``x`` (B, N, len(atom_dims)) and ``adj[..., 1:]`` (B, N, N, len(bond_dims)) hold integer
    values (as floats); each column has its own ``nn.Embedding`` and the embeddings are
    summed. The model is called with ``x`` (B, N, node_dim) and ``adj`` (B, N, N,
    1 + edge_dim) (adjacency, then bond embeddings on edges, zero elsewhere).
    """

    def __init__(
        self,
        model: nn.Module,
        atom_dims: tuple[int, ...],
        bond_dims: tuple[int, ...],
        node_dim: int = NODE_EMBED_DIM,
        edge_dim: int = EDGE_EMBED_DIM,
    ):
        super().__init__()
        self.model = model
        self.atom_dims, self.bond_dims = tuple(atom_dims), tuple(bond_dims)
        self.atom = nn.ModuleList(nn.Embedding(d, node_dim) for d in atom_dims)
        self.bond = nn.ModuleList(nn.Embedding(d, edge_dim) for d in bond_dims)

    @staticmethod
    def _embed(values: Tensor, tables: nn.ModuleList, dims: tuple[int, ...]) -> Tensor:
        idx = values.round().long()
        out = 0
        for col, (table, size) in enumerate(zip(tables, dims)):
            out = out + table(idx[..., col].clamp(0, size - 1))
        return out

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Any:
        if x.shape[-1] != len(self.atom_dims) or adj.shape[-1] != 1 + len(self.bond_dims):
            raise ValueError(
                f"IntegerFeatureEncoder: expected x (B, N, {len(self.atom_dims)}) and adj "
                f"(B, N, N, {1 + len(self.bond_dims)}); got {tuple(x.shape)}, {tuple(adj.shape)}"
            )
        node = self._embed(x, self.atom, self.atom_dims)
        if mask is not None:
            node = node * mask.unsqueeze(-1).to(node.dtype)
        edge = adj[..., :1]
        bond = self._embed(adj[..., 1:], self.bond, self.bond_dims) * (edge != 0).to(node.dtype)
        return self.model(x=node, adj=torch.cat([edge.to(node.dtype), bond], -1), mask=mask)
