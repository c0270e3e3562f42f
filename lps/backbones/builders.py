"""Builders of the shipped base models, registered in :data:`lps.backbones.BACKBONES`.

Graph base models (kinds ``node``, ``graph``, ``pair``; called
``model(x=..., adj=..., mask=...)``):

- ``mlp``: :class:`~lps.backbones.mlp.FlatMLP` on the flattened ``x`` and ``adj`` (small
  ``max_nodes`` only);
- ``gin_id``: :class:`~lps.backbones.gin_id.GINID`; pair scores are the dot products of its
  node embeddings (:class:`~lps.backbones.adapters.PairFromNodes`, LRGB's ``dot`` decoder);
- ``vit``: :class:`~lps.backbones.vit.GraphViT` built from ``vit_name`` with ``embed_dim =
  hidden``, ``depth = layers``, ``num_heads = heads``, ``drop_rate = dropout`` (timm's
  defaults for those left ``None``), loading the local weight file ``pretrained`` when given.
  With ``node_readout="diagonal"`` node outputs are read off the diagonal of its un-patchified
  pair output (:class:`~lps.backbones.adapters.NodeFromPair`: each diagonal pixel decoded from
  its own token, as the reference LPS code does); ``"tokens"`` uses GraphViT's own node head
  (diagonal tokens interpolated to the nodes).

Point models (kind ``position``; called
``model(pos=..., vel=..., charges=..., edge_attr=..., mask=...)``):

- ``transformer``: :class:`~lps.backbones.transformer.PointTransformer` (no symmetry);
- ``gnn``: :class:`~lps.backbones.gnn.PointGNN` (permutation-equivariant).
"""

from __future__ import annotations

import os

from torch import nn

from lps.backbones.adapters import NodeFromPair, PairFromNodes
from lps.backbones.registry import GRAPH_KINDS, check_kind, register_backbone

__all__ = ["gin_id", "gnn", "mlp", "transformer", "vit"]


@register_backbone("mlp")
def mlp(
    kind: str,
    *,
    max_nodes: int,
    node_dim: int,
    pair_dim: int,
    out_dim: int,
    hidden: int = 128,
    layers: int = 2,
    dropout: float = 0.0,
) -> nn.Module:
    """:class:`~lps.backbones.mlp.FlatMLP` from the flattened (N, node_dim) and (N, N,
    pair_dim) fields to (N, out) / (out,) / (N, N, out)."""
    from lps.backbones.mlp import FlatMLP

    check_kind("mlp", kind, GRAPH_KINDS)
    n = max_nodes
    shape = {"node": (n, out_dim), "graph": (out_dim,), "pair": (n, n, out_dim)}[kind]
    return FlatMLP(
        {"x": (n, node_dim), "adj": (n, n, pair_dim)},
        shape,
        hidden=hidden,
        layers=layers,
        dropout=dropout,
    )


@register_backbone("gin_id")
def gin_id(
    kind: str,
    *,
    max_nodes: int,
    node_dim: int,
    pair_dim: int,
    out_dim: int,
    hidden: int = 64,
    layers: int = 3,
) -> nn.Module:
    """:class:`~lps.backbones.gin_id.GINID` with node identifiers; ``adj[..., 1:]`` are edge
    features. Pair outputs: ``PairFromNodes`` on ``hidden``-wide node embeddings (one channel)."""
    from lps.backbones.gin_id import GINID

    check_kind("gin_id", kind, GRAPH_KINDS)
    common = dict(hidden=hidden, layers=layers, edge_dim=pair_dim - 1)
    if kind == "graph":
        return GINID(node_dim, max_nodes, out_dim=out_dim, **common)
    if kind == "node":
        return GINID(node_dim, max_nodes, out_dim=None, node_out_dim=out_dim, **common)
    return PairFromNodes(GINID(node_dim, max_nodes, out_dim=None, node_out_dim=hidden, **common))


@register_backbone("vit")
def vit(
    kind: str,
    *,
    max_nodes: int,
    node_dim: int,
    pair_dim: int,
    out_dim: int,
    vit_name: str = "vit_base_patch16_224",
    patch_size: int | None = None,
    pretrained: str | os.PathLike[str] | None = None,
    hidden: int | None = None,
    layers: int | None = None,
    heads: int | None = None,
    dropout: float | None = None,
    node_readout: str = "diagonal",
) -> nn.Module:
    """:class:`~lps.backbones.vit.GraphViT` (timm ``vit_name``) on the graph as an image."""
    from lps.backbones.vit import GraphViT

    check_kind("vit", kind, GRAPH_KINDS)
    if node_readout not in ("diagonal", "tokens"):
        raise ValueError(f"vit: node_readout must be 'diagonal' or 'tokens', got {node_readout!r}")
    timm_kwargs = {
        key: value
        for key, value in (
            ("embed_dim", hidden),
            ("depth", layers),
            ("num_heads", heads),
            ("drop_rate", dropout),
        )
        if value is not None
    }

    def build(**outs: int) -> nn.Module:
        return GraphViT(
            node_dim,
            pair_dim,
            max_nodes,
            model_name=vit_name,
            patch_size=patch_size,
            pretrained=pretrained,
            **timm_kwargs,
            **outs,
        )

    if kind == "node":
        if node_readout == "tokens":
            return build(node_out=out_dim)
        return NodeFromPair(build(pair_out=out_dim))
    return build(**{"graph_out" if kind == "graph" else "pair_out": out_dim})


@register_backbone("transformer")
def transformer(
    kind: str,
    *,
    max_nodes: int,
    node_dim: int = 1,
    vector_dim: int = 1,
    pair_dim: int = 1,
    hidden: int = 64,
    layers: int = 6,
    heads: int = 4,
    dropout: float = 0.0,
) -> nn.Module:
    """:class:`~lps.backbones.transformer.PointTransformer`: next positions of a point set."""
    from lps.backbones.transformer import PointTransformer

    check_kind("transformer", kind, ("position",))
    return PointTransformer(
        max_nodes=max_nodes,
        node_dim=node_dim,
        vector_channels=vector_dim,
        pair_dim=pair_dim,
        hidden=hidden,
        layers=layers,
        heads=heads,
        dropout=dropout,
    )


@register_backbone("gnn")
def gnn(
    kind: str,
    *,
    max_nodes: int,
    node_dim: int = 1,
    vector_dim: int = 1,
    pair_dim: int = 1,
    hidden: int = 60,
    layers: int = 4,
) -> nn.Module:
    """:class:`~lps.backbones.gnn.PointGNN` (``max_nodes`` is not needed: message passing)."""
    from lps.backbones.gnn import PointGNN

    check_kind("gnn", kind, ("position",))
    return PointGNN(
        node_dim=node_dim,
        vector_channels=vector_dim,
        pair_dim=pair_dim,
        hidden=hidden,
        layers=layers,
    )
