"""Sets through ``lps train``: layer-wise symmetry discovery on sets (:mod:`lps.marglik`).

Sets of ``set_size`` points in R^2 from :func:`lps.data.marglik.set_task`. Task ``inv``:
label = sign of ``sum_i x_i0 x_i1`` (permutation invariant); task ``order``: label = whether
the first half of the set has the larger sum of ``x_i0`` (not invariant). The network is the
backbone ``marglik_set`` (:class:`~lps.marglik.ResidualSetNet`, ``model.hidden`` channels,
``model.layers`` layers, mean over the set, linear head):

- ``equiv``, ``dense``: one path (``a x_i + b mean_j x_j``, or a dense map of the whole set),
  fixed prior precision (MAP);
- ``residual_map``: both paths, fixed prior precision;
- ``residual_ml``: both paths, prior precisions learned by the Laplace marginal likelihood.

There is no factored free path for sets. Training, the marginal-likelihood steps and the
readout are those of :class:`~lps.train.tasks.marglik.MarglikTask`; the equivariance report
is ``perm_error``, the relative change of the logits under random permutations of the sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lps.train.tasks.base import register_task
from lps.train.tasks.marglik import MarglikSettingsBase, MarglikTask, validation_size

__all__ = ["SetMarglik", "SetMarglikSettings"]


@dataclass
class SetMarglikSettings(MarglikSettingsBase):
    """``task_args`` of ``set_marglik``: the shared schedule plus the sets."""

    task: str = "inv"  # inv: sign of sum_i x_i0 x_i1 | order: first half has the larger sum
    set_size: int = 8  # points per set (even)
    num_train: int = 2000  # training sets, the validation sets included
    num_test: int = 1000


@register_task("set_marglik")
class SetMarglik(MarglikTask):
    """Sets (task inv or order) with a residual-pathway set network; see the module."""

    Settings = SetMarglikSettings
    models = {
        "equiv": "conv",
        "dense": "dense",
        "residual_map": "residual_map",
        "residual_ml": "residual_ml",
    }
    refused = {
        "factored_ml": "the set tasks have no factored free path",
        "conv": "the equivariant-path-only set model is 'equiv'",
    }
    report_key = "perm_error"

    def check(self, cfg) -> None:
        from lps.train.config import ConfigError

        a = cfg.task_args
        if a.task not in ("inv", "order"):
            raise ConfigError(f"task_args.task: expected 'inv' or 'order', got {a.task!r}")
        if a.set_size < 2 or a.set_size % 2:
            raise ConfigError(f"task_args.set_size: must be even and >= 2, got {a.set_size}")
        if a.num_train < 2:
            raise ConfigError(f"task_args.num_train: must be >= 2, got {a.num_train}")
        if a.num_test < 1:
            raise ConfigError(f"task_args.num_test: must be >= 1, got {a.num_test}")
        super().check(cfg)
        if validation_size(a.val_fraction, a.num_train) >= a.num_train:
            raise ConfigError(
                f"task_args.val_fraction: {a.val_fraction} of task_args.num_train="
                f"{a.num_train} sets leaves none to train on"
            )

    def load_data(self, cfg):
        from lps.data.marglik import set_task

        a = cfg.task_args
        return set_task(a.task, a.set_size, a.num_train, a.num_test, seed=cfg.trainer.seed)

    def network(self, cfg, equiv, free):
        from lps.train.build import backbone_from_config

        n = cfg.task_args.set_size
        kw = {"free": free is not None, "equiv": equiv}
        return backbone_from_config(cfg, "logits", max_nodes=n, node_dim=2, classes=2, **kw)

    def transforms(self, x):
        """Three copies of ``x`` ``(B, N, 2)``, each set's elements in a random order (seeded)."""
        gen = torch.Generator().manual_seed(self.seed)
        perms = [torch.rand(x.shape[:2], generator=gen).argsort(1) for _ in range(3)]
        return [x.gather(1, p.to(x.device)[..., None].expand_as(x)) for p in perms]
