"""One run of the layer-wise symmetry discovery experiments (:mod:`lps.marglik`).

``run_marglik`` builds one of the models on one task, trains it (MAP with a fixed prior,
or with prior precisions learned by the Laplace marginal likelihood) and returns test
accuracy, the per-layer readout and the evaluation log. ``scripts/marglik_table.py``
runs the tables.

Models: ``conv`` (conv path only, MAP), ``dense`` (dense path only, MAP), ``residual_map``
(conv + dense, MAP), ``residual_ml`` (conv + dense, learned precisions), ``factored_ml``
(conv + factored dense, learned). For the set tasks the equivariant path replaces conv.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import torch

from lps.data.marglik import digits_in_quadrants, set_task
from lps.marglik import MarglikSettings, ResidualImageNet, ResidualSetNet, train_marglik
from lps.marglik.backbones import MARGLIK_MODELS as MODELS

__all__ = ["MODELS", "build_model", "run_marglik"]


def build_model(task: str, model: str, canvas: int = 16, channels: int = 8, layers: int = 3):
    """The network for ``task`` (``A``, ``B``, ``set_inv``, ``set_order``) and ``model``."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {sorted(MODELS)}")
    equiv, free, _ = MODELS[model]
    if task in ("A", "B"):
        classes = 10 if task == "A" else 40
        return ResidualImageNet(canvas, classes, channels, layers, free=free, conv=equiv)
    if task in ("set_inv", "set_order"):
        if free == "factored":
            raise ValueError("the set tasks have no factored free path")
        return ResidualSetNet(
            8, 2, 2, channels=channels, layers=2, free=free is not None, equiv=equiv
        )
    raise ValueError(f"unknown task {task!r}; expected A, B, set_inv or set_order")


def run_marglik(
    task: str,
    model: str,
    seed: int = 0,
    settings: MarglikSettings | None = None,
    canvas: int = 16,
    channels: int = 8,
    verbose: bool = False,
    layers: int = 3,
    copies: int = 1,
) -> dict:
    """Train ``model`` on ``task`` with ``seed``; a JSON-ready dict of results.

    ``layers``: residual layers of the image network (stride-2 subsampling after every
    layer but the last, so ``canvas`` must be divisible by ``2 ** (layers - 1)``).
    ``copies``: pastes of every training digit (image tasks; see ``digits_in_quadrants``)."""
    settings = settings or MarglikSettings()
    settings = replace(settings, learn_prior=MODELS[model][2])
    if task in ("A", "B"):
        train, test = digits_in_quadrants(task, canvas, seed=seed, copies=copies)
    else:
        train, test = set_task(task.removeprefix("set_"), n=8, seed=seed)
    torch.manual_seed(seed)
    net = build_model(task, model, canvas, channels, layers)
    t0 = time.perf_counter()

    def log(entry):
        if verbose:
            shares = [round(r["share"], 3) for r in entry["layers"]]
            print(
                f"{task} {model} seed {seed} epoch {entry['epoch']}: acc {entry['test_acc']:.1f} "
                f"ml/n {entry['log_marglik_per_point']:.3f} shares {shares}",
                flush=True,
            )

    out = train_marglik(net, train, test, settings, seed=seed, log=log)
    final = out["final"]
    return {
        "task": task,
        "model": model,
        "seed": seed,
        "canvas": canvas,
        "channels": channels,
        "layers_count": layers,
        "copies": copies,
        "settings": asdict(settings),
        "params": sum(p.numel() for p in net.parameters()),
        "test_acc": final["test_acc"],
        "shares": [r["share"] for r in final["layers"]],
        "prior_shares": [r["prior_share"] for r in final["layers"]],
        "neff_shares": [r["neff_share"] for r in final["layers"]],
        "layers": final["layers"],
        "log_marglik_per_point": final["log_marglik_per_point"],
        "seconds": time.perf_counter() - t0,
        "history": [{k: v for k, v in e.items()} for e in out["history"]],
    }
