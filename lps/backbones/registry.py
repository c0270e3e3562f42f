"""The backbone registry: base models by name, built through one factory.

A backbone is registered as a *builder*, a function that returns an ``nn.Module``, with one
signature for all of them::

    builder(kind: str, *, max_nodes: int, <sizes>..., <hyper-parameters>...) -> nn.Module

- ``kind`` is the type of the output field: ``"node"`` (B, N, out_dim), ``"graph"``
  (B, out_dim, an invariant), ``"pair"`` (B, N, N, out_dim) for graph base models, which
  are called with keywords ``model(x=..., adj=..., mask=...)`` (as
  :func:`lps.symmetrize` calls its base model) with ``x`` (B, N, node_dim) and ``adj`` (B, N, N,
  pair_dim); ``"position"`` (B, N, d) for point models, called ``model(pos=..., vel=...,
  charges=..., edge_attr=..., mask=...)``. A builder raises ``ValueError`` for a kind it
  does not produce.
- the sizes: ``max_nodes`` always; graph models take ``node_dim``, ``pair_dim``, ``out_dim``;
  point models ``node_dim``, ``vector_dim``, ``pair_dim`` (channels of the scalar, vector and
  pair inputs).
- hyper-parameters are keyword arguments named like the fields of
  :class:`lps.train.config.ModelConfig` (``hidden``, ``layers``, ``dropout``, ``heads``,
  ``patch_size``, ``vit_name``, ``pretrained``), so the training layer fills the ones a
  builder declares from ``cfg.model``; each has a default.

Adding a backbone is one file::

    from lps.backbones import register_backbone

    @register_backbone("my_gnn")
    def my_gnn(kind, *, max_nodes, node_dim, pair_dim, out_dim, hidden=64, layers=2):
        ...

    model = create_backbone("my_gnn", kind="node", max_nodes=32, node_dim=3, pair_dim=1,
                            out_dim=2, hidden=128)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from lps.registry import Registry

__all__ = [
    "BACKBONES",
    "GRAPH_KINDS",
    "check_kind",
    "create_backbone",
    "list_backbones",
    "register_backbone",
]

#: Builders of base models by name.
BACKBONES: Registry[Callable[..., nn.Module]] = Registry("backbone")

#: Output kinds of graph base models.
GRAPH_KINDS = ("node", "graph", "pair")


def register_backbone(name: str, *, overwrite: bool = False):
    """Decorator registering a backbone builder under ``name`` (see the module docstring)."""
    return BACKBONES.register(name, overwrite=overwrite)


def list_backbones() -> list[str]:
    """The registered backbone names, sorted."""
    return BACKBONES.names()


def create_backbone(name: str, kind: str, **kwargs: Any) -> nn.Module:
    """Build the base model ``name`` for outputs of ``kind``; ``kwargs`` are the sizes and
    hyper-parameters of its builder. An unknown name lists the registered ones."""
    return BACKBONES.get(name)(kind, **kwargs)


def check_kind(name: str, kind: str, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless backbone ``name`` produces outputs of ``kind``."""
    if kind not in allowed:
        raise ValueError(
            f"backbone {name!r} gives outputs of kind {', '.join(allowed)}; {kind!r} was asked"
        )
