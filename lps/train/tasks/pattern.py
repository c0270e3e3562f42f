"""PATTERN: node classification on planted-pattern SBM graphs (weighted accuracy).

Data: ``data.name`` ``pattern`` (generated, :mod:`lps.data.pattern`), ``pattern_dev`` (the
same, validated and tested on the first 500 graphs of each split only: for CPU runs) or
``pattern_official`` (PyG's files in ``data.root``). The base model is ``model.backbone``
(any graph backbone of :mod:`lps.backbones`, e.g. ``vit``, ``mlp``, ``gin_id``).
"""

from __future__ import annotations

from lps.symmetrize import Symmetrized
from lps.train.build import backbone_from_config, symmetrize_from_config
from lps.train.metrics import weighted_accuracy, weighted_accuracy_per_batch, weighted_cross_entropy
from lps.train.tasks.base import GraphTask, register_task

__all__ = ["DEV_EVAL_GRAPHS", "PatternTask"]

#: ``data.name=pattern_dev`` evaluates on the first this many val / test graphs (CPU runs).
DEV_EVAL_GRAPHS = 500


@register_task("pattern")
class PatternTask(GraphTask):
    """PATTERN: is each node part of the planted pattern? Weighted accuracy (percent).

    Prediction (B, N, 2) logits (a ``node`` field); loss: class-weighted cross-entropy over
    the real nodes of the batch; targets (B, N) with -1 on padding, so that the gathered
    predictions of a split give ``weighted_accuracy`` over all its real nodes (also reported:
    ``weighted_accuracy_b128``, averaged over batches of 128 graphs as in Benchmarking-GNNs,
    and the plain node ``accuracy``).
    """

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
        sizes = dict(max_nodes=cfg.data.max_nodes, node_dim=3, pair_dim=1, out_dim=2)
        base = backbone_from_config(cfg, "node", **sizes)
        model = symmetrize_from_config(cfg, base, {"x": "node:3", "adj": "pair:1"}, "node")
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
