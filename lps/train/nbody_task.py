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
from omegaconf import DictConfig
from torch import Tensor, nn

from lps.symmetrize import Symmetrized, symmetrize
from lps.train.tasks import TASKS, Task, sampler_kwargs

#: How each model input transforms.
NBODY_INPUTS = {"pos": "position", "vel": "node_vector", "charges": "node", "edge_attr": "pair"}


def nbody_backbone(cfg: DictConfig) -> nn.Module:
    """The base model named by ``cfg.model.backbone`` (``transformer`` or ``gnn``)."""
    m = cfg.model
    if m.backbone == "transformer":
        from lps.backbones.transformer import PointTransformer

        return PointTransformer(
            max_nodes=cfg.data.max_nodes,
            hidden=m.hidden,
            layers=m.layers,
            heads=m.heads,
            dropout=m.dropout,
        )
    if m.backbone == "gnn":
        from lps.backbones.gnn import PointGNN

        return PointGNN(hidden=m.hidden, layers=m.layers)
    raise ValueError(
        f"model.backbone: {m.backbone!r} is not an n-body backbone; use transformer or gnn"
    )


class NBody(Task):
    """Charged 5-body: from positions, velocities and charges at frame 30, predict the
    positions at frame 40. Metric: MSE over all coordinates of a split (lower is better)."""

    name = "nbody"
    primary = "mse"
    mode = "min"

    def datasets(self, cfg):
        from lps.data.nbody import nbody_splits

        return nbody_splits(root=cfg.data.root, num_train=cfg.data.num_train or 3000)

    def build_model(self, cfg) -> Symmetrized:
        return symmetrize(
            nbody_backbone(cfg),
            cfg.symmetry.group,
            inputs=NBODY_INPUTS,
            outputs="position",
            sampler=cfg.symmetry.sampler,
            n_samples=cfg.symmetry.n_samples,
            n_samples_eval=cfg.symmetry.n_samples_eval,
            validate=cfg.symmetry.validate,
            sampler_args=sampler_kwargs(cfg, scalar_dim=1, vector_dim=1, pair_dim=1),
        )

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


TASKS["nbody"] = NBody
