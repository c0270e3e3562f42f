"""A plain transformer on node and pair tokens, with no symmetry of its own.

Base model for the charged n-body benchmark (Transformer-PS / -GA / -FA / -canonical). It
reads the fields of a point set with charges, already put in a canonical pose by the
wrapper, and predicts one 3-D position per node:

- one *node token* per particle: ``[pos, vel (all channels), charges]`` flattened;
- one *pair token* per ordered pair ``i != j``: ``[edge_attr, |pos_i - pos_j|^2]`` and,
  optionally, the relative vector ``pos_i - pos_j`` (all computed from the canonical
  positions, so the pair features are whatever the canonical pose makes them);
- a learned embedding per node index (node tokens) and per (source, target) index pair
  (pair tokens). These index embeddings are what makes the model *not*
  permutation-equivariant, as rotating the raw coordinates makes it not rotation-equivariant:
  all the symmetry comes from the wrapper.

A pre-norm ``nn.TransformerEncoder`` mixes all tokens; a head on the node tokens outputs a
displacement that is added to the input positions (``predict_displacement``), so that the
model starts from "nothing moves" rather than from the origin.

With ``lps.symmetrize(..., outputs="position")`` the prediction is mapped back by the
sampled group element (rotation, permutation and, for E(3), the centroid translation).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lps.backbones.points import check_point_inputs
from lps.layers import mlp


def ordered_pairs(n: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Source and target indices (each (N (N - 1),)) of the ordered pairs ``i != j``,
    row-major; computed without a host sync."""
    p = torch.arange(n * (n - 1), device=device)
    src = p // max(n - 1, 1)
    rest = p % max(n - 1, 1)
    return src, rest + (rest >= src).long()


class PointTransformer(nn.Module):
    """Transformer on node and pair tokens of a (canonicalized) point set; per-node output.

    Args:
        max_nodes: the largest N seen (size of the index embeddings).
        node_dim: channels of the ``charges`` (node) input.
        vector_channels: channels C of the ``vel`` (node_vector, (B, N, C, d)) input.
        pair_dim: channels of the ``edge_attr`` (pair) input.
        dim: spatial dimension d.
        hidden, layers, heads: transformer width, depth and attention heads.
        ff: feed-forward width (default ``2 * hidden``).
        dropout: dropout inside the encoder layers.
        relative_vectors: add ``pos_i - pos_j`` to the pair tokens.
        predict_displacement: output ``pos + head(...)`` instead of ``head(...)``.

    The default (hidden 64, 6 layers, 4 heads, ff 128) has about 0.2M parameters.
    """

    def __init__(
        self,
        max_nodes: int = 5,
        node_dim: int = 1,
        vector_channels: int = 1,
        pair_dim: int = 1,
        dim: int = 3,
        hidden: int = 64,
        layers: int = 6,
        heads: int = 4,
        ff: int | None = None,
        dropout: float = 0.0,
        relative_vectors: bool = True,
        predict_displacement: bool = True,
    ):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"PointTransformer: hidden={hidden} is not divisible by heads={heads}")
        self.max_nodes, self.dim = max_nodes, dim
        self.node_dim, self.vector_channels, self.pair_dim = node_dim, vector_channels, pair_dim
        self.relative_vectors = relative_vectors
        self.predict_displacement = predict_displacement
        node_in = dim + vector_channels * dim + node_dim
        pair_in = pair_dim + 1 + (dim if relative_vectors else 0)
        self.node_in = nn.Linear(node_in, hidden)
        self.pair_in = nn.Linear(pair_in, hidden)
        self.node_index = nn.Parameter(0.02 * torch.randn(max_nodes, hidden))
        self.pair_source = nn.Parameter(0.02 * torch.randn(max_nodes, hidden))
        self.pair_target = nn.Parameter(0.02 * torch.randn(max_nodes, hidden))
        layer = nn.TransformerEncoderLayer(
            hidden,
            heads,
            ff or 2 * hidden,
            dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, layers, norm=nn.LayerNorm(hidden), enable_nested_tensor=False
        )
        self.head = mlp([hidden, hidden, dim], nn.GELU)

    def _check(self, pos: Tensor, vel: Tensor, charges: Tensor, edge_attr: Tensor) -> None:
        check_point_inputs(self, pos, vel, charges, edge_attr)
        n = pos.shape[1]
        if n > self.max_nodes:
            raise ValueError(f"PointTransformer: N={n} nodes but max_nodes={self.max_nodes}")

    def forward(
        self,
        pos: Tensor,
        vel: Tensor,
        charges: Tensor,
        edge_attr: Tensor,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Predicted positions (B, N, d) from pos (B, N, d), vel (B, N, C, d), charges
        (B, N, node_dim), edge_attr (B, N, N, pair_dim) and an optional mask (B, N)."""
        self._check(pos, vel, charges, edge_attr)
        b, n, d = pos.shape
        dtype = self.node_in.weight.dtype
        node = torch.cat([pos, vel.flatten(2), charges], -1).to(dtype)
        tokens = [self.node_in(node) + self.node_index[:n]]
        src, dst = ordered_pairs(n, pos.device)
        if n > 1:
            rel = pos[:, src] - pos[:, dst]  # (B, P, d), P = N (N - 1) ordered pairs
            parts = [edge_attr[:, src, dst], rel.pow(2).sum(-1, keepdim=True)]
            if self.relative_vectors:
                parts.append(rel)
            pair = self.pair_in(torch.cat(parts, -1).to(dtype))
            tokens.append(pair + self.pair_source[src] + self.pair_target[dst])
        x = torch.cat(tokens, 1)
        padding = None
        if mask is not None:
            pair_ok = mask[:, src] & mask[:, dst]
            padding = ~torch.cat([mask, pair_ok], 1)
        x = self.encoder(x, src_key_padding_mask=padding)
        out = self.head(x[:, :n]).to(pos.dtype)
        if mask is not None:
            out = out * mask.unsqueeze(-1).to(out.dtype)
        return pos + out if self.predict_displacement else out
