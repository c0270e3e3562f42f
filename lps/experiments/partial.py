"""Partial symmetrization on a rotated-digits set (part 2, use (c) of docs/images.md; the
issue's table is DigitsMultiple): the same ViT plain, fully rotation-invariant (``haar`` over
image-SO(2)) and partially symmetrized (samples only within each input's learned level,
``SymmetryLevels.partial_sampler``: an interval of angles, or C_n for a discrete level)."""

from __future__ import annotations

import torch
from torch import nn

from lps.data.digits import load_digits_split
from lps.experiments.images import ImageClassifier, ViTSettings, accuracy, fit, make_vit
from lps.levels import SymmetryLevels
from lps.symmetrize import symmetrize

PARTIAL_METHODS = ("plain", "full", "partial")


def build_partial_model(method: str, s: ViTSettings, levels: SymmetryLevels) -> nn.Module:
    """``plain`` ViT, ``full`` (haar, image-SO(2)) or ``partial`` (levels' partial sampler)."""
    base = ImageClassifier(make_vit(s))
    if method == "plain":
        return base
    if method not in PARTIAL_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {PARTIAL_METHODS}")
    sampler = "haar" if method == "full" else levels.partial_sampler()
    return symmetrize(
        base, "image-SO(2)", {"img": "image:1"}, "invariant", sampler,
        n_samples=s.k_train, n_samples_eval=s.k_eval,
    )  # fmt: skip


def run_partial(
    method: str, s: ViTSettings, levels: SymmetryLevels, seed: int, name: str = "multiple"
) -> dict:
    """Train on the training split of rotation set ``name`` (labels), test accuracy; the
    levels' networks are frozen (fitted without labels beforehand, on the same set)."""
    for p in levels.parameters():
        p.requires_grad_(False)
    torch.manual_seed(seed)
    data = {sp: load_digits_split(name, sp) for sp in ("train", "test")}
    model = build_partial_model(method, s, levels)
    x, y = data["train"]["x"], data["train"]["y"]
    train_s = fit(model, x, y, s, seed, frozen=levels)
    test = accuracy(model, data["test"]["x"], data["test"]["y"])
    return {
        "method": method,
        "set": name,
        "seed": seed,
        "test_acc": test,
        "train_seconds": round(train_s, 1),
    }
