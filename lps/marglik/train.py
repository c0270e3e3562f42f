"""Training with a fixed prior (MAP) or with prior precisions learned by the marginal likelihood.

Parameters are trained with Adam on ``mean NLL + (1/N) * 1/2 sum_l delta_l ||theta_l||^2``.
With ``learn_prior=True``, after ``burnin`` epochs and then every ``every`` epochs, the KFAC
curvature is collected on (a subset of) the training set and the log precisions take
``hyper_steps`` Adam steps up the Laplace marginal likelihood. A step that makes the
marginal likelihood or a precision non-finite restores the last good precisions and
optimizer state and raises :class:`~lps.marglik.laplace.MarglikError`; a non-finite training
loss restores the model to the start of its epoch and raises the same error.
"""

from __future__ import annotations

import copy
import io
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps.io import atomic_write
from lps.marglik.laplace import MarglikError, Precisions, collect_curvature, log_marglik
from lps.marglik.readout import layer_readout

__all__ = ["MarglikSettings", "hyper_step", "save_checkpoint", "train_marglik"]


@dataclass
class MarglikSettings:
    """Schedule of :func:`train_marglik` (epochs count passes over the training set).

    ``cosine``: the learning rate decays from ``lr`` to ``0.05 lr`` on a half cosine."""

    epochs: int = 50
    batch: int = 64
    lr: float = 3e-3
    prior: float = 1.0
    learn_prior: bool = True
    burnin: int = 5
    every: int = 3
    hyper_steps: int = 100
    hyper_lr: float = 0.1
    curv_points: int = 1000
    mode: str = "mc"
    samples: int = 1
    cosine: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.prior) and self.prior > 0):
            raise ValueError(f"MarglikSettings.prior must be > 0, got {self.prior}")
        for k in ("epochs", "batch", "every", "hyper_steps", "curv_points", "samples"):
            if getattr(self, k) < 1:
                raise ValueError(f"MarglikSettings.{k} must be >= 1, got {getattr(self, k)}")


def hyper_step(model: nn.Module, prec: Precisions, opt: torch.optim.Optimizer, curv, steps: int):
    """``steps`` Adam steps on ``-log_marglik / n``; returns the final log marginal likelihood.

    On a non-finite value the precisions and ``opt`` are restored to their state before the
    call and :class:`MarglikError` is raised.
    """
    good = (prec.log_delta.detach().clone(), copy.deepcopy(opt.state_dict()))
    value = float("nan")
    for _ in range(steps):
        opt.zero_grad()
        ml = log_marglik(model, prec, curv)
        if not torch.isfinite(ml):
            _restore(prec, opt, good)
            raise MarglikError(
                f"log marginal likelihood is {float(ml.detach())}; kept the last good precisions"
            )
        (-ml / curv.n).backward()
        opt.step()
        try:
            prec.check()
        except MarglikError as err:
            _restore(prec, opt, good)
            raise MarglikError(f"{err}; kept the last good precisions") from None
        value = float(ml.detach())
    with torch.no_grad():
        value = float(log_marglik(model, prec, curv))
    return value


def _restore(prec: Precisions, opt: torch.optim.Optimizer, good) -> None:
    with torch.no_grad():
        prec.log_delta.copy_(good[0])
    opt.load_state_dict(good[1])


def save_checkpoint(path: str, model: nn.Module, prec: Precisions) -> None:
    """Write model weights and ``prec.log_delta`` atomically; refuses a non-finite state."""
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state["log_delta"] = prec.log_delta.detach()
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise MarglikError(f"save_checkpoint: non-finite values in {bad}; not written")
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in state.items()}, buf)
    atomic_write(path, buf.getvalue())


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 512) -> float:
    """Top-1 accuracy in percent."""
    was = model.training
    model.eval()
    hits = sum(
        int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
        for i in range(0, len(x), batch)
    )
    model.train(was)
    return 100.0 * hits / len(x)


def train_marglik(
    model: nn.Module,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    settings: MarglikSettings,
    seed: int = 0,
    log=None,
) -> dict:
    """Train ``model`` on ``train = (x, y)``; returns the history and final readout.

    ``log(entry)`` is called with each evaluation's dict (epoch, loss, test accuracy, log
    marginal likelihood, per-layer readout).
    """
    torch.manual_seed(seed)
    x, y = train
    n = len(x)
    prec = Precisions(model, settings.prior)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    steps = settings.epochs * math.ceil(n / settings.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda t: (
            0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t / steps)) if settings.cosine else 1.0
        ),
    )
    hopt = torch.optim.Adam(prec.parameters(), lr=settings.hyper_lr)
    gen = torch.Generator().manual_seed(seed)
    curv_idx = torch.randperm(n, generator=gen)[: settings.curv_points]
    history, ml, curv, t0 = [], math.nan, None, time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        good_model = copy.deepcopy(model.state_dict())
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, settings.batch):
            idx = perm[i : i + settings.batch]
            loss = F.cross_entropy(model(x[idx]), y[idx]) + prec.penalty(model) / n
            if not torch.isfinite(loss):
                model.load_state_dict(good_model)
                raise MarglikError(
                    f"training loss is {float(loss)} in epoch {epoch}; model restored"
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        hyper = settings.learn_prior and epoch >= settings.burnin
        if hyper and (epoch - settings.burnin) % settings.every == 0 or epoch == settings.epochs:
            xc, yc = x[curv_idx], y[curv_idx]
            batches = [(xc[i : i + 256], yc[i : i + 256]) for i in range(0, len(xc), 256)]
            curv = collect_curvature(
                model,
                batches,
                mode=settings.mode,
                samples=settings.samples,
                seed=seed + epoch,
                n_data=n,
            )
            if hyper:
                ml = hyper_step(model, prec, hopt, curv, settings.hyper_steps)
            else:
                with torch.no_grad():
                    ml = float(log_marglik(model, prec, curv))
            entry = {
                "epoch": epoch,
                "loss": total / n,
                "test_acc": accuracy(model, *test),
                "log_marglik_per_point": ml / n,
                "seconds": time.perf_counter() - t0,
                "layers": layer_readout(model, x[curv_idx[:256]], prec, curv),
            }
            history.append(entry)
            if log is not None:
                log(entry)
    return {"history": history, "final": history[-1], "precisions": prec.values(), "prec": prec}
