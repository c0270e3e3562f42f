"""The optimizer and learning-rate schedule of a run: AdamW with separate settings for a
pretrained backbone's parameters and new ones, warm-up then constant / cosine / linear decay."""

from __future__ import annotations

import math
from typing import Any

import torch
from omegaconf import DictConfig

from lps.train.tasks import Task

__all__ = ["build_optimizer", "lr_lambda", "param_groups"]


def lr_lambda(cfg: DictConfig, scale: int = 1):
    """Warm-up then constant/cosine/linear decay, in scheduler steps (``scale`` per step)."""
    warm = cfg.optim.warmup_steps * scale
    total = max(cfg.trainer.max_steps * scale, 1)
    kind = cfg.optim.schedule

    def f(i: int) -> float:
        if warm and i < warm:
            return (i + 1) / warm
        if kind == "constant":
            return 1.0
        frac = min(max(i - warm, 0) / max(total - warm, 1), 1.0)
        return 0.5 * (1 + math.cos(math.pi * frac)) if kind == "cosine" else 1.0 - frac

    return f


def param_groups(model: torch.nn.Module, task: Task, cfg: DictConfig) -> list[dict[str, Any]]:
    """AdamW groups: pretrained backbone parameters and new ones, each with its lr and decay."""
    o = cfg.optim
    backbone, new = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if task.is_backbone(name) else new).append(p)
    groups = [{"params": new, "lr": o.lr, "weight_decay": o.weight_decay}]
    if backbone:
        groups.append(
            {
                "params": backbone,
                "lr": o.lr_backbone if o.lr_backbone is not None else o.lr,
                "weight_decay": o.weight_decay_backbone
                if o.weight_decay_backbone is not None
                else o.weight_decay,
            }
        )
    return groups


def build_optimizer(
    model: torch.nn.Module, task: Task, cfg: DictConfig, num_processes: int = 1
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over :func:`param_groups` and its :func:`lr_lambda` scheduler (stepped once per
    process per optimizer step, as accelerate does)."""
    optimizer = torch.optim.AdamW(param_groups(model, task, cfg))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, num_processes))
    return optimizer, scheduler
