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

The model need not be a :class:`~lps.symmetrize.Symmetrized`: a task whose model is a
regularized MLP, a neural process or a Laplace-tuned network overrides the hooks below
(``forward``, ``after_step``, ``eval_logs``, ``equivariance_report``, ``finish``,
``state_objects``) and declares its own settings as a ``Settings`` dataclass, read from the
config's ``task_args:`` section. The defaults reproduce the symmetrized tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.utils.data import Dataset

from lps.registry import Registry
from lps.symmetrize import SymmetrizedOutput

__all__ = [
    "GraphTask",
    "TASKS",
    "Task",
    "TensorPairs",
    "get_task",
    "list_tasks",
    "move",
    "register_task",
]


class Task:
    """Base class of a task. ``primary`` names the validation metric; ``mode`` is max or min.

    ``Settings`` is the dataclass of the task's own settings (``None``: it takes none); the
    config's ``task_args:`` section is checked against it when the config is loaded, and the
    hooks read the checked values from ``cfg.task_args``.
    """

    name: str = ""
    primary: str = ""
    mode: str = "max"
    Settings: type | None = None

    def check(self, cfg: DictConfig) -> None:
        """Value checks on a loaded config that the types cannot express; raise ``ValueError``
        naming the key (called by :func:`lps.train.config.load_config`, before training)."""

    def datasets(self, cfg: DictConfig) -> dict[str, Dataset]:
        """The ``train``, ``val`` and ``test`` datasets."""
        raise NotImplementedError

    def collate(self, cfg: DictConfig):
        """The loaders' ``collate_fn`` (``None``: PyTorch's default)."""
        return None

    def build_model(self, cfg: DictConfig) -> nn.Module:
        """The model: a symmetrized one (see :mod:`lps.train.build`) or any module that
        :meth:`forward` knows how to call."""
        raise NotImplementedError

    def forward(self, model: nn.Module, batch: dict[str, Any], n_samples: int | None = None):
        """One forward pass on a batch, as a :class:`~lps.symmetrize.SymmetrizedOutput`:
        ``aux_losses`` are added to the training loss, ``diagnostics`` logged. ``n_samples``
        is k at evaluation (``None`` in training: the model's own k)."""
        extra = {} if n_samples is None else {"n_samples": n_samples}
        out = model(**self.inputs(batch), **extra)
        return out if isinstance(out, SymmetrizedOutput) else SymmetrizedOutput(prediction=out)

    def after_step(self, model: nn.Module, step: int) -> dict[str, float]:
        """Called after every optimizer step with the unwrapped model and the new step count
        (from 1); for updates outside the gradient step (strengths, prior precisions).
        Returns scalars logged as ``train/<name>``."""
        return {}

    def eval_logs(self, model: nn.Module) -> dict[str, float]:
        """Scalars logged as ``val/<name>`` at every periodic evaluation (unwrapped model)."""
        return {}

    def equivariance_report(self, accelerator, model, loader, cfg: DictConfig) -> dict[str, Any]:
        """Equivariance error of the trained model on test batches, for ``metrics.json``.
        Default: the coupled-noise and Monte-Carlo errors of a symmetrized model."""
        from lps.train.evaluation import symmetrized_equivariance_report

        return symmetrized_equivariance_report(accelerator, model, loader, self, cfg)

    def finish(self, model: nn.Module, run_dir: Path) -> dict[str, Any]:
        """After the final evaluation, on the main process: write the task's artifacts
        (figures, tables) into ``run_dir`` and return what goes into ``metrics.json`` under
        ``"task_results"``."""
        return {}

    def state_objects(self) -> list[Any]:
        """Objects with ``state_dict``/``load_state_dict`` kept in every checkpoint and
        restored on resume (a tuner's running minima, a hyper-parameter optimizer); asked once,
        after :meth:`build_model`. The model's own parameters and buffers are saved anyway."""
        return []

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


class TensorPairs(Dataset):
    """``{"x": x[i], "y": y[i]}`` items from two tensors of equal length (inputs, targets)."""

    def __init__(self, x: Tensor, y: Tensor):
        if len(x) != len(y):
            raise ValueError(f"TensorPairs: {len(x)} inputs but {len(y)} targets")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


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
