"""The residual-pathway networks as backbones: ``marglik_image`` and ``marglik_set``.

Both give class logits (``kind="logits"``, ``(B, classes)``) and take the registry's
hyper-parameter names: ``hidden`` (channels per layer) and ``layers``::

    create_backbone("marglik_image", "logits", size=16, classes=40, hidden=8, layers=3,
                    free="dense", conv=True)       # (B, 1, 16, 16) -> (B, 40)
    create_backbone("marglik_set", "logits", max_nodes=8, node_dim=2, classes=2, hidden=8)
                                                    # (B, 8, 2) -> (B, 2)

They are not meant to be symmetrized: their equivariant paths carry the symmetry, and the
Laplace marginal likelihood (:mod:`lps.marglik.laplace`) decides how much of each layer is
equivariant.
"""

from __future__ import annotations

from torch import nn

from lps.backbones import register_backbone
from lps.marglik.layers import ResidualImageNet
from lps.marglik.set_layers import ResidualSetNet

__all__ = ["MARGLIK_MODELS", "marglik_image", "marglik_set"]

#: The models of the experiments, by name: (equivariant path, free path, learned precisions).
#: ``residual_map`` keeps a fixed prior (MAP); the ``*_ml`` models learn the precisions by
#: the marginal likelihood.
MARGLIK_MODELS: dict[str, tuple[bool, str | None, bool]] = {
    "conv": (True, None, False),
    "dense": (False, "dense", False),
    "residual_map": (True, "dense", False),
    "residual_ml": (True, "dense", True),
    "factored_ml": (True, "factored", True),
}


def _check(name: str, kind: str) -> None:
    if kind != "logits":
        raise ValueError(f"backbone {name!r} gives outputs of kind 'logits'; {kind!r} was asked")


@register_backbone("marglik_image")
def marglik_image(
    kind: str = "logits",
    *,
    max_nodes: int | None = None,
    size: int,
    classes: int,
    c_in: int = 1,
    hidden: int = 8,
    layers: int = 3,
    free: str | None = "dense",
    conv: bool = True,
    kernel: int = 3,
    pool: str = "max",
) -> nn.Module:
    """:class:`~lps.marglik.layers.ResidualImageNet`: ``(B, c_in, size, size) -> (B, classes)``;
    ``free`` is ``"dense"``, ``"factored"`` or ``None``, ``conv=False`` drops the conv path."""
    _check("marglik_image", kind)
    return ResidualImageNet(size, classes, hidden, layers, free, conv, c_in, kernel, pool)


@register_backbone("marglik_set")
def marglik_set(
    kind: str = "logits",
    *,
    max_nodes: int,
    node_dim: int,
    classes: int,
    hidden: int = 8,
    layers: int = 2,
    free: bool = True,
    equiv: bool = True,
) -> nn.Module:
    """:class:`~lps.marglik.set_layers.ResidualSetNet` on sets of ``max_nodes`` points:
    ``(B, max_nodes, node_dim) -> (B, classes)``."""
    _check("marglik_set", kind)
    return ResidualSetNet(max_nodes, node_dim, classes, hidden, layers, free, equiv)
