"""Rotation-invariant image classification with a timm ViT: plain, rotation augmentation,
``haar`` and the learned image sampler at the same k (part 1 of docs/images.md).

The base model is a timm ``VisionTransformer`` built by ``timm.create_model`` with random
init: half ViT-Tiny's width (96, 3 heads; ViT-Tiny: 192), 4 blocks (ViT-Tiny: 12), patch 4 on
28 px digits, mean pooling (no class token). Every method trains the same base model with
the same data, seed and schedule; only ``method`` changes:

- ``plain``: the ViT on the (fixed) rotated training images;
- ``augment``: a fresh uniform rotation of every training image at every step;
- ``haar``: ``lps.symmetrize(vit, "image-SO(2)", ..., sampler="haar")`` (group averaging);
- ``learned`` / ``canonical``: the same with the learned image sampler (canonical: k = 1).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from lps.data.digits import load_digits_split, rotate_degrees
from lps.symmetrize import symmetrize

METHODS = ("plain", "augment", "haar", "learned", "canonical")


@dataclass
class ViTSettings:
    """The base ViT and the schedule (see the module docstring)."""

    embed_dim: int = 96
    depth: int = 4
    num_heads: int = 3
    patch_size: int = 4
    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    k_train: int = 1
    k_eval: int = 4
    sampler_hidden: int = 8
    sampler_orientations: int = 8
    rotation_set: str = "full"


def make_vit(s: ViTSettings, num_classes: int = 10) -> nn.Module:
    """A randomly initialised timm ViT for (B, 1, 28, 28) images."""
    import timm

    return timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=28,
        patch_size=s.patch_size,
        in_chans=1,
        num_classes=num_classes,
        embed_dim=s.embed_dim,
        depth=s.depth,
        num_heads=s.num_heads,
        global_pool="avg",
        class_token=False,
    )


class ImageClassifier(nn.Module):
    """``base(img=...)``: the timm model called with a keyword input, for lps.symmetrize."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.vit = vit

    def forward(self, img: Tensor) -> Tensor:
        return self.vit(img)


def build_model(method: str, s: ViTSettings) -> nn.Module:
    """The classifier for ``method``: a plain module, or a Symmetrized one."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    base = ImageClassifier(make_vit(s))
    if method in ("plain", "augment"):
        return base
    args = None
    if method != "haar":
        args = {"hidden": s.sampler_hidden, "orientations": s.sampler_orientations}
    return symmetrize(
        base,
        "image-SO(2)",
        {"img": "image:1"},
        "invariant",
        method,
        sampler_args=args,
        n_samples=s.k_train,
        n_samples_eval=s.k_eval,
    )


def _logits(model: nn.Module, x: Tensor) -> Tensor:
    out = model(img=x)
    return out.prediction if hasattr(out, "prediction") else out


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 100) -> float:
    model.eval()
    hits = sum(
        int((_logits(model, x[i : i + batch]).argmax(-1) == y[i : i + batch]).sum())
        for i in range(0, len(y), batch)
    )
    return hits / len(y)


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    s: ViTSettings,
    seed: int,
    *,
    augment: bool = False,
    frozen: nn.Module | None = None,
) -> float:
    """Train ``model`` on images ``x`` (M, 1, H, W) and labels ``y`` (M,) with AdamW and a
    one-cycle schedule; ``augment`` rotates each batch uniformly, ``frozen`` stays in eval
    mode. Returns the training time in seconds."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    steps = s.epochs * math.ceil(len(y) / s.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, s.lr, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(s.epochs):
        model.train()
        if frozen is not None:
            frozen.eval()
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), s.batch_size):
            idx = perm[i : i + s.batch_size]
            xb, yb = x[idx], y[idx]
            if augment:
                xb = rotate_degrees(xb, torch.rand(len(idx), generator=gen) * 360 - 180)
            loss = nn.functional.cross_entropy(_logits(model, xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return time.perf_counter() - t0


def run(method: str, s: ViTSettings, seed: int = 0) -> dict:
    """Train ``method`` on the rotated digits' train split; validation and test accuracy."""
    torch.manual_seed(seed)
    data = {sp: load_digits_split(s.rotation_set, sp, seed=0) for sp in ("train", "val", "test")}
    model = build_model(method, s)
    x, y = data["train"]["x"], data["train"]["y"]
    train_s = fit(model, x, y, s, seed, augment=method == "augment")
    t0 = time.perf_counter()
    val = accuracy(model, data["val"]["x"], data["val"]["y"])
    test = accuracy(model, data["test"]["x"], data["test"]["y"])
    return {
        "method": method,
        "seed": seed,
        "val_acc": val,
        "test_acc": test,
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(time.perf_counter() - t0, 1),
        "params": sum(p.numel() for p in model.parameters()),
        "settings": asdict(s),
    }
