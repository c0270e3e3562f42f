"""Digits in quadrants through ``lps train``: layer-wise symmetry discovery (:mod:`lps.marglik`).

Task ``A`` (label = digit, invariant to circular shifts) or ``B`` (digit + 10 x quadrant,
40 classes) of :func:`lps.data.marglik.digits_in_quadrants`, with one of the residual-pathway
networks (backbone ``marglik_image``, ``model.hidden`` channels, ``model.layers`` layers):

- ``conv``, ``dense``: one path, fixed prior precision (MAP);
- ``residual_map``: conv + dense paths, fixed prior precision;
- ``residual_ml`` / ``factored_ml``: conv + dense / factored dense paths, prior precisions
  learned by the Laplace marginal likelihood.

The prior, the marginal-likelihood steps, the readout and ``shares.png`` are those of
:class:`~lps.train.tasks.marglik.MarglikTask`; the equivariance report is ``shift_error``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lps.train.tasks.base import register_task
from lps.train.tasks.marglik import MarglikSettingsBase, MarglikState, MarglikTask

__all__ = ["DigitsQuadrants", "DigitsQuadrantsSettings", "MarglikState"]


@dataclass
class DigitsQuadrantsSettings(MarglikSettingsBase):
    """``task_args`` of ``digits_quadrants``: the shared schedule plus the images."""

    task: str = "A"  # A: label = digit | B: digit + 10 x quadrant
    canvas: int = 16  # canvas side in pixels
    jitter: int = 4  # digit offsets in [0, jitter)^2 from the quadrant's corner
    copies: int = 1  # pastes of every training digit, each at its own quadrant and offset


@register_task("digits_quadrants")
class DigitsQuadrants(MarglikTask):
    """Digits in quadrants (task A or B) with a residual-pathway network; see the module."""

    Settings = DigitsQuadrantsSettings
    report_key = "shift_error"

    def check(self, cfg) -> None:
        from lps.train.config import ConfigError

        if cfg.task_args.task not in ("A", "B"):
            raise ConfigError(f"task_args.task: expected 'A' or 'B', got {cfg.task_args.task!r}")
        if cfg.task_args.copies < 1:
            raise ConfigError(f"task_args.copies: must be >= 1, got {cfg.task_args.copies}")
        super().check(cfg)

    def load_data(self, cfg):
        from lps.data.marglik import digits_in_quadrants

        a = cfg.task_args
        return digits_in_quadrants(
            a.task, a.canvas, seed=cfg.trainer.seed, jitter=a.jitter, copies=a.copies
        )

    def network(self, cfg, equiv, free):
        from lps.train.build import backbone_from_config

        a = cfg.task_args
        classes = 10 if a.task == "A" else 40
        return backbone_from_config(
            cfg, "logits", size=a.canvas, classes=classes, free=free, conv=equiv
        )

    def transforms(self, x):
        """Three circular shifts of the images ``(B, 1, H, W)``."""
        return [torch.roll(x, s, (2, 3)) for s in ((1, 0), (0, 3), (5, 7))]
