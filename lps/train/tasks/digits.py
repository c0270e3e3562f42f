"""Rotated digits (docs/images.md): a timm ViT classifying digits turned by a rotation set,
symmetrized over ``C4`` / ``image-SO(2)`` with any image sampler, or plain / augmented.

The model reads ``img`` (B, 1, 28, 28) and predicts 10 logits (invariant). The ViT is
:func:`lps.experiments.images.make_vit` (timm's factory, random init) with ``model.hidden``
as width, ``model.layers`` blocks, ``model.heads`` heads and ``model.patch_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lps.symmetrize import SymmetrizedOutput
from lps.train.build import sampler_args
from lps.train.tasks.base import Task, register_task

__all__ = ["DigitsRotated"]

#: ``task_args.method``: symmetrize as ``cfg.symmetry`` says, or the unsymmetrized baselines.
DIGIT_METHODS = ("symmetrized", "plain", "augment")


@register_task("digits_rotated")
class DigitsRotated(Task):
    """10-class accuracy on the rotated digits of ``task_args.rotation_set``."""

    primary = "accuracy"
    mode = "max"

    @dataclass
    class Settings:
        """``rotation_set``: a set of :mod:`lps.data.digits` (``full``, ``multiple``, ...);
        ``method``: ``symmetrized`` (``cfg.symmetry``), ``plain`` or ``augment`` (a fresh
        uniform turn of every training image); ``orientations``: lifting orientations of the
        learned image-SO(2) sampler; ``data_seed``: the seed of the rotation angles."""

        rotation_set: str = "full"
        method: str = "symmetrized"
        orientations: int = 8
        data_seed: int = 0

    def check(self, cfg):
        from lps.data.digits import ROTATION_SETS

        a = cfg.task_args
        if a.rotation_set not in ROTATION_SETS:
            raise ValueError(
                f"task_args.rotation_set: unknown set {a.rotation_set!r}; expected one of "
                f"{', '.join(ROTATION_SETS)}"
            )
        if a.method not in DIGIT_METHODS:
            raise ValueError(
                f"task_args.method: expected one of {', '.join(DIGIT_METHODS)}, got {a.method!r}"
            )
        if a.orientations < 4 or a.orientations % 4:
            raise ValueError(
                f"task_args.orientations: a positive multiple of 4, got {a.orientations}"
            )

    def datasets(self, cfg):
        from lps.data.digits import RotatedDigits

        a = cfg.task_args
        sets = {
            s: RotatedDigits(a.rotation_set, s, a.data_seed, cfg.data.root)
            for s in ("train", "val", "test")
        }
        if cfg.data.num_train is not None:
            sets["train"] = torch.utils.data.Subset(sets["train"], range(cfg.data.num_train))
        return sets

    def build_model(self, cfg):
        from lps.experiments.images import ImageClassifier, ViTSettings, make_vit
        from lps.symmetrize import symmetrize

        m = cfg.model
        vit = ImageClassifier(
            make_vit(ViTSettings(embed_dim=m.hidden, depth=m.layers, num_heads=m.heads,
                                 patch_size=m.patch_size))
        )  # fmt: skip
        self.method = cfg.task_args.method
        if self.method != "symmetrized":
            return vit
        s = cfg.symmetry
        args = sampler_args(cfg)
        if s.sampler in ("learned", "canonical") and s.group == "image-SO(2)":
            args["orientations"] = cfg.task_args.orientations
        return symmetrize(
            vit, s.group, {"img": "image:1"}, "invariant", s.sampler, sampler_args=args,
            n_samples=s.n_samples, n_samples_eval=s.n_samples_eval, validate=s.validate,
        )  # fmt: skip

    def forward(self, model, batch, n_samples=None):
        if self.method == "symmetrized":
            return super().forward(model, batch, n_samples)
        img = batch["img"]
        if self.method == "augment" and model.training:
            from lps.data.digits import rotate_degrees

            img = rotate_degrees(img, torch.rand(img.shape[0], device=img.device) * 360 - 180)
        return SymmetrizedOutput(prediction=model(img=img))

    def equivariance_report(self, accelerator, model, loader, cfg):
        if self.method != "symmetrized":
            return {}  # a plain ViT is not invariant: nothing to audit
        return super().equivariance_report(accelerator, model, loader, cfg)

    def inputs(self, batch):
        return {"img": batch["img"]}

    def loss(self, prediction, batch):
        return F.cross_entropy(prediction.float(), batch["label"])

    def targets(self, batch):
        return batch["label"]

    def metrics(self, predictions, targets):
        return {"accuracy": float((predictions.argmax(-1) == targets).float().mean())}
