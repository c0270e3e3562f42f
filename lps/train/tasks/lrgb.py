"""The LRGB tasks: Peptides-func, Peptides-struct (graph level) and PCQM-Contact (link ranking).

The model reads the dense fields ``x`` (node: integer atom features) and ``adj`` (pair:
adjacency in channel 0, integer bond features after it), with ``mask`` and the flat
``edge_index``. The base model embeds the integer features (a sum of one learned embedding
per feature column, OGB style: :class:`~lps.backbones.adapters.IntegerFeatureEncoder`)
before ``model.backbone``; the sampler sees the raw integer values as floats.

Data: the PyG files in ``data.root``, or ``data.name=synthetic`` for fabricated stand-in
graphs (plumbing tests only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lps.backbones.adapters import EDGE_EMBED_DIM, NODE_EMBED_DIM, IntegerFeatureEncoder
from lps.symmetrize import Symmetrized
from lps.train.build import backbone_from_config, symmetrize_from_config
from lps.train.metrics import average_precision, link_ranking_metrics, mean_absolute_error
from lps.train.tasks.base import GraphTask, register_task

__all__ = ["LRGBTask", "PCQMContact", "PeptidesFunc", "PeptidesStruct"]


class LRGBTask(GraphTask):
    """Shared LRGB plumbing; subclasses set ``dataset`` (the LRGB name), ``kind`` (the
    output type: ``graph`` or ``pair``) and ``out_dim``."""

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
        from lps.data.collate import LRGBCollate

        return LRGBCollate(cfg.data.max_nodes, link=self.kind == "pair")

    def build_model(self, cfg) -> Symmetrized:
        from lps.data.lrgb import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS

        inner = backbone_from_config(
            cfg,
            self.kind,
            max_nodes=cfg.data.max_nodes,
            node_dim=NODE_EMBED_DIM,
            pair_dim=1 + EDGE_EMBED_DIM,
            out_dim=self.out_dim,
        )
        base = IntegerFeatureEncoder(inner, ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS)
        inputs = {
            "x": f"node:{len(ATOM_FEATURE_DIMS)}",
            "adj": f"pair:{1 + len(BOND_FEATURE_DIMS)}",
        }
        outputs = "invariant" if self.kind == "graph" else "pair"
        model = symmetrize_from_config(cfg, base, inputs, outputs)
        self._remember_backbone(cfg, model)
        return model


@register_task("peptides_func")
class PeptidesFunc(LRGBTask):
    """Peptides-func: 10 binary tasks per graph; BCE on labelled entries; average precision."""

    dataset, primary, mode, out_dim = "peptides-func", "ap", "max", 10

    def loss(self, prediction, batch):
        y = batch["y"].float()
        labelled = ~torch.isnan(y)
        return F.binary_cross_entropy_with_logits(prediction.float()[labelled], y[labelled])

    def targets(self, batch):
        return batch["y"].float()

    def metrics(self, predictions, targets):
        return {"ap": average_precision(predictions, targets)}


@register_task("peptides_struct")
class PeptidesStruct(LRGBTask):
    """Peptides-struct: 11 regression targets per graph; L1 loss; MAE."""

    dataset, primary, mode, out_dim = "peptides-struct", "mae", "min", 11

    def loss(self, prediction, batch):
        y = batch["y"].float()
        labelled = ~torch.isnan(y)
        return F.l1_loss(prediction.float()[labelled], y[labelled])

    def targets(self, batch):
        return batch["y"].float()

    def metrics(self, predictions, targets):
        return {"mae": mean_absolute_error(predictions, targets)}


@register_task("pcqm_contact")
class PCQMContact(LRGBTask):
    """PCQM-Contact: score atom pairs (a ``pair`` field); BCE on the labelled pairs; MRR."""

    dataset, primary, mode, out_dim = "pcqm-contact", "mrr", "max", 1
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
