"""Train the soft-regularized MLP on one generated variant (modified inertia or CosSim).

``run_soft_variant`` trains a :class:`~lps.soft.SoftMLP` with the layer-wise projection
penalty of every candidate group, weighted by self-tuning strengths, and reports the test
MSE, the discovered strengths, the ground-truth relative equivariance error of the true
target under each candidate group, and the evaluation log. ``scripts/soft_variant.py`` is
its command line.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from lps.data.soft import COSSIM_REP, INERTIA_REP, cossim_target, inertia_target, soft_splits
from lps.soft import SoftMLP, Strengths
from lps.soft.pathway import DEFAULT_EXACT_PENALTIES, SoftPathway
from lps.soft.residual import ResidualPathway
from lps.soft.sampled import relative_error
from lps.soft.symmetrized import SymmetrizedMLP

__all__ = ["relative_error", "run_soft_variant"]


def _variant(data: str, eps: float, axis: str, breaks: str):
    if data == "inertia":
        return INERTIA_REP, {"eps": eps, "axis": axis}, lambda x: inertia_target(x, eps, axis)
    if data == "cossim":
        return COSSIM_REP, {"eps": eps, "breaks": breaks}, lambda x: cossim_target(x, eps, breaks)
    raise ValueError(f"unknown data set {data!r}; expected 'inertia' or 'cossim'")


def run_soft_variant(
    data: str = "inertia",
    eps: float = 0.9,
    axis: str = "z",
    breaks: str = "none",
    groups: tuple[str, ...] = ("O(3)", "SO(3)"),
    epochs: int = 300,
    adjust_at: int = 75,
    init: float = 100.0,
    power: float = 2.0,
    pinned: dict[str, float] | None = None,
    hidden: str = "16x0e + 8x1o@1 + 4x0e@2 + 4x1e@2 + 4x2e@2",
    layers: int = 2,
    lr: float = 3e-3,
    batch_size: int = 100,
    eval_every: int = 25,
    seed: int = 0,
    sizes: tuple[int, int, int] = (1000, 1000, 1000),
    project: str | None = None,
    scale_features: bool = False,
    residual_prior: float | None = None,
    rescale: float = 1.0,
    symmetrized: str | None = None,
    pathway: bool = False,
    exact_penalties: str | None = None,
) -> dict[str, Any]:
    """Train on one variant and return the result dict (JSON-serializable).

    ``adjust_at`` and ``eval_every`` are in epochs; the strengths' running minimum is kept
    over every step before ``adjust_at``. All checks (groups that do not act on the declared
    representations, negative strengths, ``adjust_at`` past the end) run before training.
    ``project``: a group onto which every linear layer is projected at the start and after
    every optimizer step (projected gradient descent: a strictly equivariant model, e.g. the
    strict O(3) baseline or the oracle); pin every strength to 0 with it.
    ``scale_features``: give the model the unit directions and norms of its input vectors
    (:class:`~lps.soft.ScaleFeatures`; CosSim, whose target has degree 0).
    ``residual_prior``: train a :class:`~lps.soft.residual.ResidualPathway` instead, its
    equivariant path kept projected onto ``project`` and its free path under this L2 prior.
    ``symmetrized``: train a :class:`~lps.soft.symmetrized.SymmetrizedMLP` over O(3) with this
    sampler (``"frame"`` or ``"learned"``) instead; it has no penalties (pin every strength).
    ``pathway``: train the soft model in residual-pathway form (:class:`~lps.soft.SoftPathway`:
    at ``adjust_at`` an exactly equivariant path for the group with the largest strength is
    added beside the penalized free path).
    ``exact_penalties``: with ``pathway``, the penalties the exact path pays after the commit
    (``"supergroups"``, ``"none"``, ``"all"``; None: :class:`~lps.soft.SoftPathway`'s default).
    """
    start = time.perf_counter()
    if exact_penalties is not None and not pathway:
        raise ValueError("exact_penalties= needs pathway=True")
    if pathway:
        exact_penalties = exact_penalties or DEFAULT_EXACT_PENALTIES
    (rep_in, rep_out), kwargs, target = _variant(data, eps, axis, breaks)
    torch.manual_seed(seed)
    net = {"hidden": hidden, "layers": layers, "scale_features": scale_features}
    if residual_prior is not None:
        if project is None:
            raise ValueError("residual_prior needs project= (the equivariant path's group)")
        model = ResidualPathway(rep_in, rep_out, project, residual_prior, **net)
    elif pathway:
        if project is not None:
            raise ValueError("pathway= chooses its exact group itself; drop project=")
        model = SoftPathway(rep_in, rep_out, list(groups), exact_penalties, **net)
    elif symmetrized is not None:
        model = SymmetrizedMLP(rep_in, rep_out, "O(3)", symmetrized)
        if project is not None or any(v > 0 for v in (pinned or {}).values()):
            raise ValueError("symmetrized= has no layers to project or penalize")
        pinned = {g: 0.0 for g in groups}
    else:
        model = SoftMLP(rep_in, rep_out, **net)
    for g in groups if symmetrized is None else ():
        model.check_group(g)
    if project is not None:
        model.check_group(project)
        model.project_(project)
    n_train = sizes[0]
    steps_per_epoch = math.ceil(n_train / batch_size)
    strengths = Strengths(
        list(groups),
        init=init,
        adjust_at=adjust_at * steps_per_epoch,
        power=power,
        pinned=pinned,
        total_steps=epochs * steps_per_epoch,
        rescale=rescale,
    )
    splits = soft_splits(data, sizes, seed=seed, **kwargs)
    train, val, test = splits["train"], splits["val"], splits["test"]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    history, step = [], 0
    for epoch in range(epochs):
        order = torch.randperm(n_train, generator=gen)
        for i in range(0, n_train, batch_size):
            idx = order[i : i + batch_size]
            mse = (model(train["x"][idx]) - train["y"][idx]).pow(2).mean()
            pens = model.penalties(strengths.active()) if strengths.active() else {}
            loss = mse + sum(strengths[g] * p for g, p in pens.items())
            if residual_prior is not None:
                loss = loss + model.prior_penalty()
            if symmetrized is not None:
                loss = loss + model.aux_loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if project is not None:
                model.project_(project)
            if pathway:
                model.project_()
            adjusted = strengths.observe(step, {g: float(p.detach()) for g, p in pens.items()})
            if pathway and adjusted:
                model.commit(strengths.values)
            step += 1
        if (epoch + 1) % eval_every == 0 or epoch + 1 == epochs:
            history.append(_evaluate(model, strengths, val, groups, rep_in, rep_out, epoch + 1))
    with torch.no_grad():
        test_mse = float((model(test["x"]) - test["y"]).pow(2).mean())
    x64 = test["x"].double()
    truth = {g: relative_error(target, g, x64, rep_in, rep_out) for g in groups}
    return {
        "data": data,
        "variant": kwargs,
        "groups": list(groups),
        "test_mse": test_mse,
        "strengths": dict(strengths.values),
        "true_rel_equiv_error": truth,
        "model_rel_equiv_error": {g: history[-1][f"rel_equiv_error/{g}"] for g in groups},
        "history": history,
        "settings": {
            "epochs": epochs,
            "adjust_at": adjust_at,
            "init": init,
            "power": power,
            "pinned": pinned or {},
            "hidden": hidden,
            "layers": layers,
            "lr": lr,
            "batch_size": batch_size,
            "seed": seed,
            "sizes": list(sizes),
            "project": project,
            "scale_features": scale_features,
            "residual_prior": residual_prior,
            "rescale": rescale,
            "symmetrized": symmetrized,
            "pathway": pathway,
            "exact_penalties": exact_penalties,
        },
        "exact_group": getattr(model, "exact_group", None),
        "seconds": time.perf_counter() - start,
    }


def _evaluate(model, strengths, val, groups, rep_in, rep_out, epoch) -> dict[str, float]:
    with torch.no_grad():
        val_mse = float((model(val["x"]) - val["y"]).pow(2).mean())
        pens = model.penalties(list(groups)) if hasattr(model, "penalties") else {}
        pens = {g: float(p) for g, p in pens.items()}
    errs = {g: relative_error(model, g, val["x"], rep_in, rep_out) for g in groups}
    return {"epoch": epoch, "val_mse": val_mse, **strengths.log(pens, errs)}
