"""EXP-classify: 1-WL-indistinguishable SAT graphs, satisfiable or not (binary accuracy)."""

from __future__ import annotations

import torch.nn.functional as F

from lps.symmetrize import Symmetrized
from lps.train.build import backbone_from_config, symmetrize_from_config
from lps.train.tasks.base import Task, register_task

__all__ = ["ExpClassify"]


@register_task("exp_classify")
class ExpClassify(Task):
    """EXP-classify: 1-WL-indistinguishable SAT graphs, satisfiable or not (binary accuracy).

    Standard split: validation graphs 0-199, test 200-399, train 400-1199. The model reads
    ``x`` (B, N, 1) and ``adj`` (B, N, N, 1) and predicts 2 logits per graph (invariant).
    """

    primary = "accuracy"
    mode = "max"

    def datasets(self, cfg):
        from lps.data.graphs import exp_split, load_exp

        split = exp_split(load_exp(cfg.data.root))
        if cfg.data.num_train is not None:
            split["train"] = split["train"][: cfg.data.num_train]
        return {"train": split["train"], "val": split["val"], "test": split["test"]}

    def collate(self, cfg):
        from lps.data.graphs import make_dense_collate

        return make_dense_collate(cfg.data.max_nodes)

    def build_model(self, cfg) -> Symmetrized:
        sizes = dict(max_nodes=cfg.data.max_nodes, node_dim=1, pair_dim=1, out_dim=2)
        base = backbone_from_config(cfg, "graph", **sizes)
        inputs = {"x": "node:1", "adj": "pair:1"}
        return symmetrize_from_config(cfg, base, inputs, "invariant")

    def inputs(self, batch):
        return {k: batch[k] for k in ("x", "adj", "mask", "edge_index")}

    def loss(self, prediction, batch):
        return F.cross_entropy(prediction.float(), batch["y"].view(-1))

    def targets(self, batch):
        return batch["y"].view(-1)

    def metrics(self, predictions, targets):
        acc = (predictions.argmax(-1) == targets).float().mean()
        return {"accuracy": float(acc)}
