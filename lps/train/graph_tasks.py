"""Graph benchmark tasks: PATTERN (node classification) and the LRGB tasks Peptides-func,
Peptides-struct (graph level) and PCQM-Contact (link ranking).

Every task feeds the symmetrized model the dense fields ``x`` (node) and ``adj`` (pair:
adjacency in channel 0, bond features after it), with ``mask`` and the flat ``edge_index``.
The base model is ``model.backbone``:

- ``vit``: :class:`lps.backbones.vit.GraphViT` built from ``model.vit_name`` with
  ``embed_dim = model.hidden``, ``depth = model.layers``, ``num_heads = model.heads``,
  ``patch_size = model.patch_size``, ``drop_rate = model.dropout``, loading the local
  weight file ``model.pretrained`` when set (its parameters then count as "backbone" for
  ``optim.lr_backbone`` / ``optim.weight_decay_backbone``). Node outputs are read off the
  diagonal of its un-patchified pair output (each diagonal pixel decoded from its own
  token), as the reference LPS code does, rather than interpolated between diagonal
  tokens: nodes sharing a patch then still get their own prediction;
- ``mlp``: :class:`lps.backbones.FlatMLP` on the flattened fields (small ``max_nodes`` only);
- ``gin_id``: :class:`lps.backbones.gin_id.GINID` (pair scores: dot products of its node
  embeddings, LRGB's ``dot`` decoder).

LRGB atom / bond features are integers: the base model embeds them (a sum of one learned
embedding per feature column, OGB style) before the backbone; the sampler sees the raw
integer values as floats.

Data: ``data.name`` ``pattern`` (generated, :mod:`lps.data.pattern`), ``pattern_dev`` (the
same, validated and tested on the first 500 graphs of each split only: for CPU runs) or
``pattern_official`` (PyG's files in ``data.root``); for the LRGB tasks the PyG files in
``data.root``, or ``synthetic`` for fabricated stand-in graphs (plumbing tests only).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor, nn

from lps.symmetrize import Symmetrized, symmetrize
from lps.train.metrics import (
    average_precision,
    link_ranking_metrics,
    mean_absolute_error,
    weighted_accuracy,
    weighted_accuracy_per_batch,
    weighted_cross_entropy,
)
from lps.train.tasks import TASKS, Task, sampler_kwargs

__all__ = [
    "IntegerFeatureEncoder",
    "LRGBCollate",
    "NodeFromPair",
    "PCQMContact",
    "PairFromNodes",
    "PatternTask",
    "PeptidesFunc",
    "PeptidesStruct",
    "graph_model",
]

#: ``data.name=pattern_dev`` evaluates on the first this many val / test graphs (CPU runs).
DEV_EVAL_GRAPHS = 500

#: Widths of the learned embeddings of LRGB atom and bond features.
NODE_EMBED_DIM = 16
EDGE_EMBED_DIM = 8


# --------------------------------------------------------------------------- base models


class NodeFromPair(nn.Module):
    """Per-node outputs (B, N, C) from a model's pair output (B, N, N, C): its diagonal."""

    def __init__(self, pair_model: nn.Module):
        super().__init__()
        self.pair_model = pair_model

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        pair = self.pair_model(x, adj, mask)
        node = pair.diagonal(dim1=1, dim2=2).transpose(1, 2)
        return node if mask is None else node * mask.unsqueeze(-1).to(node.dtype)


class PairFromNodes(nn.Module):
    """Pair scores (B, N, N, 1) = <h_u, h_v> / sqrt(H) of a model's node outputs (B, N, H)."""

    def __init__(self, node_model: nn.Module):
        super().__init__()
        self.node_model = node_model

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        h = self.node_model(x, adj, mask)
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
        return self.model(node, torch.cat([edge.to(node.dtype), bond], -1), mask)


def _vit(cfg: DictConfig, node_dim: int, pair_dim: int, max_nodes: int, **outs: int):
    from lps.backbones.vit import GraphViT

    m = cfg.model
    return GraphViT(
        node_dim,
        pair_dim,
        max_nodes,
        model_name=m.vit_name,
        patch_size=m.patch_size,
        pretrained=m.pretrained,
        embed_dim=m.hidden,
        depth=m.layers,
        num_heads=m.heads,
        drop_rate=m.dropout,
        **outs,
    )


def graph_model(
    cfg: DictConfig, kind: str, node_dim: int, pair_dim: int, out_dim: int, max_nodes: int
) -> nn.Module:
    """The base model ``cfg.model.backbone`` for outputs of ``kind`` ``node`` (B, N, out),
    ``graph`` (B, out) or ``pair`` (B, N, N, out), on ``x`` (B, N, node_dim) and ``adj``
    (B, N, N, pair_dim)."""
    m = cfg.model
    if kind not in ("node", "graph", "pair"):
        raise ValueError(f"graph_model: kind must be node, graph or pair, got {kind!r}")
    if m.backbone == "vit":
        if kind == "node":
            return NodeFromPair(_vit(cfg, node_dim, pair_dim, max_nodes, pair_out=out_dim))
        key = "graph_out" if kind == "graph" else "pair_out"
        return _vit(cfg, node_dim, pair_dim, max_nodes, **{key: out_dim})
    if m.backbone == "mlp":
        from lps.backbones import FlatMLP

        shape = {"node": (max_nodes, out_dim), "graph": (out_dim,)}
        return FlatMLP(
            {"x": (max_nodes, node_dim), "adj": (max_nodes, max_nodes, pair_dim)},
            shape.get(kind, (max_nodes, max_nodes, out_dim)),
            hidden=m.hidden,
            layers=m.layers,
            dropout=m.dropout,
        )
    if m.backbone == "gin_id":
        from lps.backbones.gin_id import GINID

        common = dict(hidden=m.hidden, layers=m.layers, edge_dim=pair_dim - 1)
        if kind == "graph":
            return GINID(node_dim, max_nodes, out_dim=out_dim, **common)
        if kind == "node":
            return GINID(node_dim, max_nodes, out_dim=None, node_out_dim=out_dim, **common)
        return PairFromNodes(
            GINID(node_dim, max_nodes, out_dim=None, node_out_dim=m.hidden, **common)
        )
    raise ValueError(
        f"model.backbone: {m.backbone!r} is not available for graph tasks; use vit, mlp or gin_id"
    )


def _symmetrize(cfg: DictConfig, base: nn.Module, outputs: str, in_dim: int) -> Symmetrized:
    s = cfg.symmetry
    return symmetrize(
        base,
        s.group,
        inputs={"x": "node", "adj": "pair"},
        outputs=outputs,
        sampler=s.sampler,
        n_samples=s.n_samples,
        n_samples_eval=s.n_samples_eval,
        validate=s.validate,
        sampler_args=sampler_kwargs(cfg, in_dim=in_dim),
    )


class _GraphTask(Task):
    """Shared plumbing: dense inputs, and backbone parameter names for ``lr_backbone``."""

    _backbone: frozenset[str] = frozenset()

    def _remember_backbone(self, cfg: DictConfig, model: nn.Module) -> None:
        if cfg.model.backbone == "vit" and cfg.model.pretrained:
            from lps.backbones.vit import backbone_parameter_names

            self._backbone = frozenset(backbone_parameter_names(model))
        else:
            self._backbone = frozenset()

    def is_backbone(self, name: str) -> bool:
        """True for the pretrained ViT's parameters (heads excluded) of the last built model."""
        return name in self._backbone

    def inputs(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {
            "x": batch["x"],
            "adj": batch["adj"].float(),
            "mask": batch["mask"],
            "edge_index": batch["edge_index"],
        }


# --------------------------------------------------------------------------- PATTERN


class PatternTask(_GraphTask):
    """PATTERN: is each node part of the planted pattern? Weighted accuracy (percent).

    Prediction (B, N, 2) logits (a ``node`` field); loss: class-weighted cross-entropy over
    the real nodes of the batch; targets (B, N) with -1 on padding, so that the gathered
    predictions of a split give ``weighted_accuracy`` over all its real nodes (also reported:
    ``weighted_accuracy_b128``, averaged over batches of 128 graphs as in Benchmarking-GNNs,
    and the plain node ``accuracy``).
    """

    name = "pattern"
    primary = "weighted_accuracy"
    mode = "max"

    def datasets(self, cfg):
        from lps.data.pattern import (
            DEFAULT_PARAMS,
            PatternDataset,
            load_pattern_arrays,
            load_pattern_official,
        )

        source = cfg.data.name
        out = {}
        for split in ("train", "val", "test"):
            if source in ("pattern", "pattern_dev"):
                arrays = load_pattern_arrays(split, cfg.data.root)
                data = PatternDataset.from_arrays(arrays, DEFAULT_PARAMS)
                if source == "pattern_dev" and split != "train":
                    data.items = data.items[:DEV_EVAL_GRAPHS]
            elif source == "pattern_official":
                if cfg.data.root is None:
                    raise FileNotFoundError("data.name=pattern_official needs data.root")
                data = PatternDataset.from_data(load_pattern_official(cfg.data.root, split))
            else:
                raise ValueError(
                    f"data.name: {source!r}; the pattern task reads 'pattern' (generated), "
                    "'pattern_dev' (generated, first 500 val / test graphs) or "
                    "'pattern_official' (PyG's files in data.root)"
                )
            if split == "train" and cfg.data.num_train is not None:
                data.items = data.items[: cfg.data.num_train]
            out[split] = data
        return out

    def collate(self, cfg):
        from lps.data.pattern import PatternCollate

        return PatternCollate(cfg.data.max_nodes)

    def build_model(self, cfg) -> Symmetrized:
        base = graph_model(cfg, "node", 3, 1, 2, cfg.data.max_nodes)
        model = _symmetrize(cfg, base, "node", in_dim=3)
        self._remember_backbone(cfg, model)
        return model

    def loss(self, prediction, batch):
        real = batch["node_y"] >= 0
        return weighted_cross_entropy(prediction[real].float(), batch["node_y"][real])

    def targets(self, batch):
        return batch["node_y"]

    def metrics(self, predictions, targets):
        real = targets >= 0
        pred = predictions.argmax(-1)
        acc = float((pred[real] == targets[real]).float().mean()) if bool(real.any()) else 0.0
        return {
            "weighted_accuracy": weighted_accuracy(pred[real], targets[real]),
            "weighted_accuracy_b128": weighted_accuracy_per_batch(pred, targets, 128),
            "accuracy": 100.0 * acc,
        }


# --------------------------------------------------------------------------- LRGB


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


class _LRGBTask(_GraphTask):
    dataset = ""  # canonical LRGB name
    kind = "graph"
    out_dim = 1

    def datasets(self, cfg):
        from lps.data.lrgb import load_lrgb_splits, synthetic_lrgb

        if cfg.data.name == "synthetic":
            small = min(16, cfg.data.max_nodes)
            sizes = {"train": cfg.data.num_train or 64, "val": 32, "test": 32}
            return {
                split: synthetic_lrgb(self.dataset, n, seed=i, max_nodes=small)
                for i, (split, n) in enumerate(sizes.items())
            }
        splits = load_lrgb_splits(cfg.data.root, self.dataset)
        if cfg.data.num_train is not None:
            splits["train"] = splits["train"][: cfg.data.num_train]
        return splits

    def collate(self, cfg):
        return LRGBCollate(cfg.data.max_nodes, link=self.kind == "pair")

    def build_model(self, cfg) -> Symmetrized:
        from lps.data.lrgb import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS

        inner = graph_model(
            cfg, self.kind, NODE_EMBED_DIM, 1 + EDGE_EMBED_DIM, self.out_dim, cfg.data.max_nodes
        )
        base = IntegerFeatureEncoder(inner, ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS)
        outputs = "invariant" if self.kind == "graph" else "pair"
        model = _symmetrize(cfg, base, outputs, in_dim=len(ATOM_FEATURE_DIMS))
        self._remember_backbone(cfg, model)
        return model


class PeptidesFunc(_LRGBTask):
    """Peptides-func: 10 binary tasks per graph; BCE on labelled entries; average precision."""

    name, dataset, primary, mode, out_dim = "peptides_func", "peptides-func", "ap", "max", 10

    def loss(self, prediction, batch):
        y = batch["y"].float()
        labelled = ~torch.isnan(y)
        return F.binary_cross_entropy_with_logits(prediction.float()[labelled], y[labelled])

    def targets(self, batch):
        return batch["y"].float()

    def metrics(self, predictions, targets):
        return {"ap": average_precision(predictions, targets)}


class PeptidesStruct(_LRGBTask):
    """Peptides-struct: 11 regression targets per graph; L1 loss; MAE."""

    name, dataset, primary, mode, out_dim = "peptides_struct", "peptides-struct", "mae", "min", 11

    def loss(self, prediction, batch):
        y = batch["y"].float()
        labelled = ~torch.isnan(y)
        return F.l1_loss(prediction.float()[labelled], y[labelled])

    def targets(self, batch):
        return batch["y"].float()

    def metrics(self, predictions, targets):
        return {"mae": mean_absolute_error(predictions, targets)}


class PCQMContact(_LRGBTask):
    """PCQM-Contact: score atom pairs (a ``pair`` field); BCE on the labelled pairs; MRR."""

    name, dataset, primary, mode, out_dim = "pcqm_contact", "pcqm-contact", "mrr", "max", 1
    kind = "pair"

    def loss(self, prediction, batch):
        label = batch["pair_label"]
        labelled = label >= 0
        logits = prediction[..., 0].float()[labelled]
        return F.binary_cross_entropy_with_logits(logits, label[labelled].float())

    def targets(self, batch):
        return batch["pair_target"]

    def metrics(self, predictions, targets):
        return link_ranking_metrics(predictions, targets)


TASKS.update(
    {
        "pattern": PatternTask,
        "peptides_func": PeptidesFunc,
        "peptides_struct": PeptidesStruct,
        "pcqm_contact": PCQMContact,
    }
)
