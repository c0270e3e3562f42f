"""A message-passing GNN on raw coordinates: permutation-equivariant, not rotation-equivariant.

Base model for GNN-PS / -GA / -FA / -canonical on the charged n-body benchmark, in the style
of the GNN baseline of EGNN and frame averaging: node features are the raw (canonicalized)
coordinates ``[pos, vel, charges]``, messages run on every ordered pair of real nodes with
the edge features ``[edge_attr, |pos_i - pos_j|^2]``, and a decoder gives one 3-D vector per
node. Sums over neighbours make it permutation-equivariant by construction; feeding raw
coordinates through MLPs makes it *not* rotation-equivariant, so it is symmetrized over
E(3) only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lps.backbones.points import check_point_inputs
from lps.layers import mlp


class PointGNN(nn.Module):
    """Dense message passing on all pairs of real nodes; per-node d-dimensional output.

    Args:
        node_dim: channels of the ``charges`` (node) input.
        vector_channels: channels C of the ``vel`` (node_vector, (B, N, C, d)) input.
        pair_dim: channels of the ``edge_attr`` (pair) input.
        dim: spatial dimension d.
        hidden, layers: width and number of message-passing layers.
        predict_displacement: output ``pos + decoder(h)`` instead of ``decoder(h)``.

    Layer: ``m_ij = phi_e([h_i, h_j, e_ij])``, ``h_i <- h_i + phi_h([h_i, sum_{j != i} m_ij])``
    with ``e_ij = [edge_attr_ij, |pos_i - pos_j|^2]``.
    """

    def __init__(
        self,
        node_dim: int = 1,
        vector_channels: int = 1,
        pair_dim: int = 1,
        dim: int = 3,
        hidden: int = 60,
        layers: int = 4,
        predict_displacement: bool = True,
    ):
        super().__init__()
        self.dim, self.node_dim = dim, node_dim
        self.vector_channels, self.pair_dim = vector_channels, pair_dim
        self.predict_displacement = predict_displacement
        self.embed = nn.Linear(dim + vector_channels * dim + node_dim, hidden)
        self.edge = nn.ModuleList(
            mlp([2 * hidden + pair_dim + 1, hidden, hidden], last_act=True) for _ in range(layers)
        )
        self.node = nn.ModuleList(mlp([2 * hidden, hidden, hidden]) for _ in range(layers))
        self.decoder = mlp([hidden, hidden, dim])

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
        check_point_inputs(self, pos, vel, charges, edge_attr)
        b, n, d = pos.shape
        dtype = self.embed.weight.dtype
        h = self.embed(torch.cat([pos, vel.flatten(2), charges], -1).to(dtype))
        d2 = (pos.unsqueeze(2) - pos.unsqueeze(1)).pow(2).sum(-1, keepdim=True)
        e = torch.cat([edge_attr, d2], -1).to(dtype)  # (B, N, N, pair_dim + 1)
        w = 1.0 - torch.eye(n, device=pos.device, dtype=dtype)
        if mask is not None:
            m = mask.to(dtype)
            w = w * m.unsqueeze(2) * m.unsqueeze(1)
        w = w.expand(b, n, n).unsqueeze(-1)
        for edge, node in zip(self.edge, self.node):
            hi = h.unsqueeze(2).expand(-1, -1, n, -1)
            hj = h.unsqueeze(1).expand(-1, n, -1, -1)
            msg = edge(torch.cat([hi, hj, e], -1)) * w
            h = h + node(torch.cat([h, msg.sum(2)], -1))
        out = self.decoder(h).to(pos.dtype)
        if mask is not None:
            out = out * mask.unsqueeze(-1).to(out.dtype)
        return pos + out if self.predict_displacement else out
