"""Tasks: what to load, which model to build, the loss and the metrics of an experiment.

A task turns a config into datasets, a symmetrized model and its loss; the training loop
(:mod:`lps.train.loop`) is the same for every task. Register new tasks in :data:`TASKS`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.utils.data import Dataset

from lps.symmetrize import Symmetrized, symmetrize


def sampler_kwargs(cfg: DictConfig, **dims: int) -> dict[str, Any]:
    """Keyword arguments for :func:`lps.samplers.build_sampler` from ``cfg.symmetry``."""
    s = cfg.symmetry
    if s.sampler not in ("learned", "canonical"):
        return {}
    common = dict(
        tau=s.tau,
        sinkhorn_iters=s.sinkhorn_iters,
        entropy_weight=s.entropy_weight,
        relax_band=s.relax_band,
    )
    if s.group.replace(" ", "") in ("S_n", "Sn"):
        return dict(
            in_dim=dims["in_dim"],
            hidden=s.hidden,
            layers=s.layers,
            noise_dim=s.noise_dim,
            walk_steps=s.walk_steps,
            **common,
        )
    return dict(
        scalar_dim=dims.get("scalar_dim", 0),
        vector_dim=dims.get("vector_dim", 0),
        pair_dim=dims.get("pair_dim", 0),
        hidden=s.hidden,
        layers=s.layers,
        noise_scale=s.noise_scale,
        **common,
    )


class Task:
    """Base class of a task. ``primary`` names the validation metric; ``mode`` is max or min."""

    name: str = ""
    primary: str = ""
    mode: str = "max"

    def datasets(self, cfg: DictConfig) -> dict[str, Dataset]:
        raise NotImplementedError

    def collate(self, cfg: DictConfig):
        return None

    def build_model(self, cfg: DictConfig) -> Symmetrized:
        raise NotImplementedError

    def inputs(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The keyword arguments of the model (fields, mask, edge_index) from a batch."""
        raise NotImplementedError

    def loss(self, prediction: Tensor, batch: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def targets(self, batch: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def metrics(self, predictions: Tensor, targets: Tensor) -> dict[str, float]:
        """Metrics over a whole split from the gathered predictions and targets."""
        raise NotImplementedError

    def is_backbone(self, name: str) -> bool:
        """True for parameters of a pretrained backbone (separate lr / weight decay)."""
        return False


class ExpClassify(Task):
    """EXP-classify: 1-WL-indistinguishable SAT graphs, satisfiable or not (binary accuracy).

    Standard split: validation graphs 0-199, test 200-399, train 400-1199.
    """

    name = "exp_classify"
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
        n = cfg.data.max_nodes
        base = graph_backbone(cfg, n, node_dim=1, pair_dim=1, out_dim=2)
        return symmetrize(
            base,
            cfg.symmetry.group,
            inputs={"x": "node", "adj": "pair"},
            outputs="invariant",
            sampler=cfg.symmetry.sampler,
            n_samples=cfg.symmetry.n_samples,
            n_samples_eval=cfg.symmetry.n_samples_eval,
            validate=cfg.symmetry.validate,
            sampler_args=sampler_kwargs(cfg, in_dim=1),
        )

    def inputs(self, batch):
        return {k: batch[k] for k in ("x", "adj", "mask", "edge_index")}

    def loss(self, prediction, batch):
        return F.cross_entropy(prediction.float(), batch["y"].view(-1))

    def targets(self, batch):
        return batch["y"].view(-1)

    def metrics(self, predictions, targets):
        acc = (predictions.argmax(-1) == targets).float().mean()
        return {"accuracy": float(acc)}


def graph_backbone(
    cfg: DictConfig, max_nodes: int, node_dim: int, pair_dim: int, out_dim: int
) -> nn.Module:
    """A graph base model by name: ``mlp`` (flattened node and pair tensors) or ``gin_id``."""
    m = cfg.model
    if m.backbone == "mlp":
        from lps.backbones import FlatMLP

        return FlatMLP(
            {"x": (max_nodes, node_dim), "adj": (max_nodes, max_nodes, pair_dim)},
            (out_dim,),
            hidden=m.hidden,
            layers=m.layers,
            dropout=m.dropout,
        )
    if m.backbone == "gin_id":
        from lps.backbones.gin_id import GINID

        return GINID(node_dim, max_nodes, out_dim, hidden=m.hidden, layers=m.layers)
    raise ValueError(f"model.backbone: {m.backbone!r} is not a graph backbone; use mlp or gin_id")


TASKS: dict[str, type[Task]] = {"exp_classify": ExpClassify}


def get_task(name: str) -> Task:
    """Instantiate a task by name, with an error listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"task: unknown task {name!r}; expected one of {', '.join(sorted(TASKS))}")
    return TASKS[name]()


def move(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a batch to ``device``."""
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


import lps.train.graph_tasks  # noqa: E402, F401  (registers pattern and the LRGB tasks)
import lps.train.nbody_task  # noqa: E402, F401  (registers TASKS["nbody"]; it imports this module)
