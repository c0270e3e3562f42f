"""Training and evaluation of the neural processes on on-the-fly GP tasks.

Each step draws a fresh batch of tasks (:func:`~lps.np.gp.sample_tasks`) and minimises the
negative log-likelihood per target; Adam with a cosine learning-rate decay. Evaluation is the
mean log-likelihood per target over a fixed task set, in the training region and shifted out
of it (the fixed inputs are zero there).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lps.np.base import task_loglik
from lps.np.gp import Tasks, sample_tasks
from lps.np.models import build_np

TASK_FIELDS = ("xc", "yc", "mask", "xt", "yt", "kernel")

#: The shift of the out-of-region evaluation: contexts on [8, 12], targets on [6, 14].
OUT_OF_REGION_SHIFT = 10.0


@dataclass
class TrainSettings:
    """Steps of ``batch`` fresh tasks each, peak learning rate ``lr`` (cosine to 0)."""

    steps: int = 1000
    batch: int = 64
    lr: float = 1e-3
    seed: int = 0


def save_pool(path: str | Path, num_tasks: int, seed: int, chunk: int = 512) -> None:
    """Draw ``num_tasks`` training tasks (generator seed ``seed``) and save them to ``path``
    (atomically: a crash leaves no half-written pool)."""
    import io

    from lps.io import atomic_write

    g = torch.Generator().manual_seed(seed)
    parts = [sample_tasks(min(chunk, num_tasks - i), g) for i in range(0, num_tasks, chunk)]
    buf = io.BytesIO()
    torch.save({f: torch.cat([getattr(p, f) for p in parts]) for f in TASK_FIELDS}, buf)
    atomic_write(path, buf.getvalue())


def cached_pool(root: str | Path, num_tasks: int, seed: int) -> Path:
    """The pool file of ``num_tasks`` tasks drawn with ``seed`` under ``root``, drawn and saved
    by :func:`save_pool` the first time it is asked for."""
    path = Path(root).expanduser() / f"gibbs_pool_{num_tasks}_seed{seed}.pt"
    if not path.is_file():
        save_pool(path, num_tasks, seed)
    return path


class TaskPool:
    """Training tasks drawn ahead of time (files of :func:`save_pool`), served in a shuffled
    order without repeats until the pool is used up (then reshuffled): the same distribution
    as :func:`~lps.np.gp.sample_tasks`, drawn once for many runs. Call it like
    ``sample_tasks``: ``pool(batch, generator) -> Tasks``."""

    def __init__(self, paths: list[str | Path]):
        if not paths:
            raise ValueError("TaskPool: no pool files given")
        parts = [torch.load(p, map_location="cpu") for p in paths]
        self.data = {f: torch.cat([p[f] for p in parts]) for f in TASK_FIELDS}
        self.size = self.data["xc"].shape[0]
        self.order: torch.Tensor | None = None
        self.pos, self.served = 0, 0

    def __call__(self, batch: int, generator: torch.Generator | None = None) -> Tasks:
        if batch > self.size:
            raise ValueError(f"TaskPool: batch {batch} is larger than the pool ({self.size})")
        if self.order is None or self.pos + batch > self.size:
            self.order = torch.randperm(self.size, generator=generator)
            self.pos = 0
        idx = self.order[self.pos : self.pos + batch]
        self.pos += batch
        self.served += batch
        return Tasks(*(self.data[f][idx] for f in TASK_FIELDS))


def train_np(
    name: str,
    settings: TrainSettings,
    sample: Callable[..., Tasks] = sample_tasks,
    build: Callable[..., nn.Module] = build_np,
    **model_args,
) -> tuple[nn.Module, dict]:
    """Train model ``name`` built by ``build`` (default :func:`~lps.np.models.build_np`) on
    tasks from ``sample(batch, generator)``; return it (eval mode) and a log
    ``{"seconds", "final_train_ll", "params"}``."""
    torch.manual_seed(settings.seed)
    model = build(name, **model_args)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / settings.steps))
    )
    gen = torch.Generator().manual_seed(1000 + settings.seed)
    start, recent = time.perf_counter(), []
    model.train()
    for _ in range(settings.steps):
        tasks = sample(settings.batch, gen)
        loss = -task_loglik(model, tasks).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        sched.step()
        recent = (recent + [float(loss.detach())])[-50:]
    model.eval()
    log = {
        "seconds": time.perf_counter() - start,
        "final_train_ll": -sum(recent) / max(len(recent), 1),
        "params": sum(p.numel() for p in model.parameters()),
    }
    return model, log


@torch.no_grad()
def evaluate(model: nn.Module, tasks: Tasks, chunk: int = 256) -> torch.Tensor:
    """(T,) log-likelihood per target of each task (model in eval mode)."""
    model.eval()
    out = [task_loglik(model, tasks.slice(i, i + chunk)) for i in range(0, len(tasks), chunk)]
    return torch.cat(out)
