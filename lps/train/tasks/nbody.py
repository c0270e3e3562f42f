"""The charged n-body task: predict particle positions 1,000 steps ahead (test MSE).

Model inputs (fields): ``pos`` position (B, 5, 3) at frame 30, ``vel`` node_vector
(B, 5, 1, 3), ``charges`` node (B, 5, 1) and ``edge_attr`` pair (B, 5, 5, 1) (charge
products); output: positions at frame 40 as a ``position`` field (B, 5, 3). The base model
is ``model.backbone``: ``transformer`` (:class:`~lps.backbones.transformer.PointTransformer`,
no symmetry of its own; symmetrize over ``S_n x E(3)``) or ``gnn``
(:class:`~lps.backbones.gnn.PointGNN`, permutation-equivariant; symmetrize over ``E(3)``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from lps.fields import parse_field_types
from lps.symmetrize import Symmetrized
from lps.train.build import backbone_from_config, symmetrize_from_config
from lps.train.tasks.base import Task, register_task

__all__ = ["NBODY_FIELDS", "NBODY_INPUTS", "NBody"]

#: The model inputs with their channel counts.
NBODY_FIELDS = {
    "pos": "position",
    "vel": "node_vector:1",
    "charges": "node:1",
    "edge_attr": "pair:1",
}

#: How each model input transforms (the field types of :data:`NBODY_FIELDS`).
NBODY_INPUTS = {k: t.value for k, t in parse_field_types(NBODY_FIELDS, "inputs").items()}


@register_task("nbody")
class NBody(Task):
    """Charged 5-body: from positions, velocities and charges at frame 30, predict the
    positions at frame 40. Metric: MSE over all coordinates of a split (lower is better)."""

    primary = "mse"
    mode = "min"

    def datasets(self, cfg):
        from lps.data.nbody import nbody_splits

        return nbody_splits(root=cfg.data.root, num_train=cfg.data.num_train or 3000)

    def build_model(self, cfg) -> Symmetrized:
        base = backbone_from_config(cfg, "position", max_nodes=cfg.data.max_nodes)
        return symmetrize_from_config(cfg, base, NBODY_FIELDS, "position")

    def inputs(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {
            "pos": batch["loc"],
            "vel": batch["vel"].unsqueeze(2),
            "charges": batch["charges"],
            "edge_attr": batch["edge_attr"],
        }

    def loss(self, prediction: Tensor, batch: dict[str, Tensor]) -> Tensor:
        return F.mse_loss(prediction.float(), batch["target"].float())

    def targets(self, batch: dict[str, Tensor]) -> Tensor:
        return batch["target"]

    def metrics(self, predictions: Tensor, targets: Tensor) -> dict[str, float]:
        return {"mse": float((predictions.float() - targets.float()).pow(2).mean())}
