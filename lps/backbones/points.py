"""Input checks shared by the point-cloud base models (n-body transformer and GNN)."""

from __future__ import annotations

from torch import Tensor, nn


def check_point_inputs(
    model: nn.Module, pos: Tensor, vel: Tensor, charges: Tensor, edge_attr: Tensor
) -> None:
    """Raise ``ValueError`` naming the field when pos (B, N, d), vel (B, N, C, d), charges
    (B, N, node_dim) or edge_attr (B, N, N, pair_dim) does not fit ``model``'s sizes
    (its ``dim``, ``vector_channels``, ``node_dim`` and ``pair_dim`` attributes)."""
    b, n, _ = pos.shape
    want = {
        "pos": (b, n, model.dim),
        "vel": (b, n, model.vector_channels, model.dim),
        "charges": (b, n, model.node_dim),
        "edge_attr": (b, n, n, model.pair_dim),
    }
    for name, x in zip(want, (pos, vel, charges, edge_attr)):
        if tuple(x.shape) != want[name]:
            raise ValueError(
                f"{type(model).__name__}: {name} has shape {tuple(x.shape)}, expected {want[name]}"
            )
