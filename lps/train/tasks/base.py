"""The task interface and the task registry.

A task turns a config into datasets, a symmetrized model and its loss; the training loop
(:mod:`lps.train.loop`) is the same for every task. A new task is one module that subclasses
:class:`Task` and registers it::

    from lps.train.tasks import Task, register_task

    @register_task("my_task")
    class MyTask(Task):
        primary, mode = "accuracy", "max"
        ...

and is imported by :mod:`lps.train.tasks` (or by the user's own code before the config is
loaded).
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.utils.data import Dataset

from lps.registry import Registry
from lps.symmetrize import Symmetrized

__all__ = ["GraphTask", "TASKS", "Task", "get_task", "list_tasks", "move", "register_task"]


class Task:
    """Base class of a task. ``primary`` names the validation metric; ``mode`` is max or min."""

    name: str = ""
    primary: str = ""
    mode: str = "max"

    def datasets(self, cfg: DictConfig) -> dict[str, Dataset]:
        """The ``train``, ``val`` and ``test`` datasets."""
        raise NotImplementedError

    def collate(self, cfg: DictConfig):
        """The loaders' ``collate_fn`` (``None``: PyTorch's default)."""
        return None

    def build_model(self, cfg: DictConfig) -> Symmetrized:
        """The symmetrized model (see :mod:`lps.train.build`)."""
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


#: Task classes by name.
TASKS: Registry[type[Task]] = Registry("task")


def register_task(name: str, *, overwrite: bool = False):
    """Class decorator registering a :class:`Task` subclass under ``name`` (sets its ``name``)."""
    register = TASKS.register(name, overwrite=overwrite)

    def deco(cls: type[Task]) -> type[Task]:
        cls.name = name
        return register(cls)

    return deco


def list_tasks() -> list[str]:
    """The registered task names, sorted."""
    return TASKS.names()


def get_task(name: str) -> Task:
    """Instantiate a task by name, with an error listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"task: unknown task {name!r}; expected one of {', '.join(TASKS)}")
    return TASKS.get(name)()


def move(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a batch to ``device``."""
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


class GraphTask(Task):
    """Shared plumbing of the dense graph tasks: the model reads ``x`` (node), ``adj``
    (pair: adjacency in channel 0, edge features after it), ``mask`` and ``edge_index``; the
    parameters of a pretrained ViT count as backbone (``optim.lr_backbone``)."""

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
