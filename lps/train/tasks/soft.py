"""Soft equivariance tasks (:mod:`lps.soft`): a soft-regularized MLP on generated data.

``soft_inertia`` (modified inertia: 5 point masses -> the 3 x 3 inertia matrix plus ``eps``
times a term that breaks every rotation moving ``axis``) and ``soft_cossim`` (3 vectors ->
their mean cosine similarity minus ``eps`` times a term breaking scale, rotation or both).
Inputs ``x`` (B, rep_in.dim) and targets ``y`` (B, rep_out.dim) are flat tensors in the
layout of :data:`lps.data.soft.INERTIA_REP` / ``COSSIM_REP``; metric: MSE (lower is better).

The model is a :class:`~lps.soft.SoftMLP` (``task_args.pathway: false``) or a
:class:`~lps.soft.SoftPathway` (the default: an exact path for the group with the largest
strength is added at ``T``), trained with the projection penalty of every candidate group
weighted by self-tuning :class:`~lps.soft.Strengths`. The hooks put the weighted penalties
into ``aux_losses``, adjust the strengths at ``task_args.adjust_at`` (a training step) in
``after_step``, log strengths, validation penalties and the sampled relative equivariance
error per group in ``eval_logs``, checkpoint the tuner (``state_objects``), and draw the bar
chart of the discovered levels (``strengths.png``) in ``finish``. ``task_args.project``
trains the strict/oracle baselines instead (every strength 0, the layers kept projected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from lps.data.soft import COSSIM_BREAKS, COSSIM_REP, INERTIA_REP, cossim_target, inertia_target
from lps.soft import (
    DEFAULT_EXACT_PENALTIES,
    EXACT_PENALTIES,
    SoftMLP,
    SoftPathway,
    Strengths,
    check_candidate,
    plot_strengths,
)
from lps.soft.sampled import relative_error
from lps.symmetrize import SymmetrizedOutput
from lps.train.config import ConfigError
from lps.train.tasks.base import Task, TensorPairs, register_task

__all__ = ["SoftCosSim", "SoftInertia", "SoftTask"]


@dataclass
class _Common:
    """Settings shared by the soft tasks (``task_args``); ``adjust_at``/``window`` in steps."""

    eps: float = 0.9
    init: float = 10.0  # the common initial strength
    adjust_at: int = 250  # T: the adjustment step (<= 0: never adjust)
    window: Optional[int] = None  # noqa: UP045 (OmegaConf) steps before T of the minimum
    power: float = 2.0  # p in lambda_i <- lambda_i (R_min / R_i)^p
    rescale: float = 1.0  # every free strength times this at T
    pinned: dict[str, float] = field(default_factory=dict)  # fixed strengths (0: off)
    pathway: bool = True  # SoftPathway (exact path for the strongest group after T)
    # what the exact path pays: supergroups, none, all; null: SoftPathway's default
    exact_penalties: Optional[str] = None  # noqa: UP045 (OmegaConf)
    project: Optional[str] = None  # noqa: UP045 strict/oracle: keep the layers projected
    layers: int = 2
    num_train: int = 1000
    num_val: int = 1000
    num_test: int = 1000
    # the generated splits (split s uses seed 3 * data_seed + s); None: trainer.seed
    data_seed: Optional[int] = None  # noqa: UP045


class SoftTask(Task):
    """Shared plumbing of the soft tasks (subclasses: data, representations, defaults)."""

    primary, mode = "mse", "min"
    reps: tuple[str, str] = ("", "")
    default_hidden = ""
    scale_features = False

    # -- data --------------------------------------------------------------------------
    def _variant(self, a) -> dict[str, Any]:
        raise NotImplementedError

    def _target(self, a):
        raise NotImplementedError

    def _data(self, a) -> str:
        raise NotImplementedError

    def datasets(self, cfg) -> dict[str, Dataset]:
        from lps.data.soft import soft_splits

        a = cfg.task_args
        sizes = (a.num_train, a.num_val, a.num_test)
        seed = cfg.trainer.seed if a.data_seed is None else a.data_seed
        splits = soft_splits(self._data(a), sizes, seed=seed, **self._variant(a))
        self._val_x, self._test_x = splits["val"]["x"], splits["test"]["x"]
        return {k: TensorPairs(v["x"], v["y"]) for k, v in splits.items()}

    # -- checks and model ----------------------------------------------------------------
    def _strengths(self, cfg) -> Strengths:
        a = cfg.task_args
        groups = list(a.groups)
        pinned = dict(a.pinned)
        if a.project is not None:
            pinned = {g: 0.0 for g in groups}
        return Strengths(
            groups,
            init=a.init,
            adjust_at=a.adjust_at if a.adjust_at > 0 else None,
            window=a.window,
            power=a.power,
            pinned=pinned,
            total_steps=cfg.trainer.max_steps,
            rescale=a.rescale,
        )

    def check(self, cfg) -> None:
        """Bad input before training: a candidate (or ``project``) group that does not act
        on the declared representations, a negative strength, T past the end of training."""
        a = cfg.task_args
        self._variant(a)  # unknown axis / breaks
        for name in (*a.groups, *([a.project] if a.project is not None else [])):
            try:
                check_candidate(name, *self.reps)
            except (ValueError, KeyError) as err:
                raise ConfigError(
                    f"task_args: group {name!r} cannot be a candidate: {err}"
                ) from None
        try:
            self._strengths(cfg)
        except ValueError as err:
            msg = str(err)
            starts = {"strength of 'init'": "init", "strength of": "pinned", "pinned": "pinned"}
            starts.update({k: k for k in ("window", "adjust_at", "power", "rescale")})
            key = next((k for s, k in starts.items() if msg.startswith(s)), "groups")
            if key == "adjust_at":
                msg += f" (trainer.max_steps={cfg.trainer.max_steps})"
            raise ConfigError(f"task_args.{key}: {msg}") from None
        if a.pathway and a.project is not None:
            raise ConfigError("task_args: pathway and project exclude each other")
        if a.exact_penalties is not None and a.exact_penalties not in EXACT_PENALTIES:
            raise ConfigError(
                f"task_args.exact_penalties: expected one of {EXACT_PENALTIES}, "
                f"got {a.exact_penalties!r}"
            )
        if a.exact_penalties is not None and not a.pathway:
            raise ConfigError("task_args.exact_penalties needs task_args.pathway: true")

    def build_model(self, cfg) -> nn.Module:
        a = cfg.task_args
        self.groups = list(a.groups)
        self.strengths = self._strengths(cfg)
        self.project = a.project
        self._penalties: dict[str, float] = {}
        net = {
            "hidden": a.hidden or self.default_hidden,
            "layers": a.layers,
            "scale_features": self.scale_features,
        }
        if a.pathway:
            mode = a.exact_penalties or DEFAULT_EXACT_PENALTIES
            model = SoftPathway(*self.reps, self.groups, mode, **net)
        else:
            model = SoftMLP(*self.reps, **net)
            for g in self.groups:
                model.check_group(g)
        if self.project is not None:
            model.project_(self.project)
        return model

    def inputs(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {"x": batch["x"]}

    # -- hooks -------------------------------------------------------------------------
    def forward(self, model, batch, n_samples: int | None = None) -> SymmetrizedOutput:
        """The prediction; in training also the weighted penalties (``aux_losses``)."""
        prediction = model(batch["x"])
        aux, diag = {}, {}
        net = getattr(model, "module", model)
        active = self.strengths.active()
        if model.training and active:
            pens = net.penalties(active)
            self._penalties = {g: float(p.detach()) for g, p in pens.items()}
            aux = {f"penalty/{g}": self.strengths[g] * p for g, p in pens.items()}
            diag = {f"penalty/{g}": v for g, v in self._penalties.items()}
        return SymmetrizedOutput(prediction=prediction, aux_losses=aux, diagnostics=diag)

    def after_step(self, model, step: int) -> dict[str, float]:
        """Keep projected layers projected; feed the tuner; commit the exact path at T."""
        if self.project is not None:
            model.project_(self.project)
        if isinstance(model, SoftPathway):
            model.project_()
        adjusted = self.strengths.observe(step - 1, self._penalties)
        out = {}
        if adjusted:
            out = {f"strength/{g}": v for g, v in self.strengths.values.items()}
            if isinstance(model, SoftPathway) and model.exact_group is None:
                model.commit(self.strengths.values)
        return out

    def eval_logs(self, model) -> dict[str, float]:
        """Strengths, validation penalties and sampled relative errors per candidate."""
        return self._report(model, self._val_x)

    def _report(self, model, x: Tensor) -> dict[str, float]:
        was = model.training
        model.eval()
        p = next(model.parameters())
        x = x.to(p.device, p.dtype)
        with torch.no_grad():
            pens = {g: float(v) for g, v in model.penalties(self.groups).items()}
        errs = {g: relative_error(model, g, x, *self.reps) for g in self.groups}
        model.train(was)
        return self.strengths.log(pens, errs)

    def equivariance_report(self, accelerator, model, loader, cfg) -> dict[str, float]:
        """The sampled relative equivariance error per candidate group on the test inputs."""
        net = accelerator.unwrap_model(model)
        logs = self._report(net, self._test_x)
        return {k: v for k, v in logs.items() if k.startswith("rel_equiv_error/")}

    def state_objects(self) -> list:
        return [self.strengths]

    def finish(self, model, run_dir: Path) -> dict:
        """``strengths.png`` (the levels beside the ground-truth errors) and, for
        metrics.json, the levels, penalties and sampled relative errors on the test inputs,
        the ground-truth errors of the true target, and the exact path's group."""
        x = self._test_x.double()
        truth = {g: relative_error(self._target_fn, g, x, *self.reps) for g in self.groups}
        plot_strengths(
            self.strengths.values,
            Path(run_dir) / "strengths.png",
            reference=truth,
            title=f"{self.name}: discovered levels",
        )  # fmt: skip (written atomically)
        logs = self._report(model, self._test_x)
        return {
            "strengths": dict(self.strengths.values),
            "penalties": {g: logs[f"penalty/{g}"] for g in self.groups},
            "rel_equiv_error": {g: logs[f"rel_equiv_error/{g}"] for g in self.groups},
            "true_rel_equiv_error": truth,
            "exact_group": getattr(model, "exact_group", None),
            "adjusted": self.strengths.adjusted,
        }

    # -- loss and metrics ----------------------------------------------------------------
    def loss(self, prediction: Tensor, batch: dict[str, Tensor]) -> Tensor:
        return F.mse_loss(prediction.float(), batch["y"].float())

    def targets(self, batch: dict[str, Tensor]) -> Tensor:
        return batch["y"]

    def metrics(self, predictions: Tensor, targets: Tensor) -> dict[str, float]:
        return {"mse": float((predictions.float() - targets.float()).pow(2).mean())}


@dataclass
class InertiaSettings(_Common):
    """``task_args`` of ``soft_inertia``."""

    axis: str = "z"
    groups: list[str] = field(default_factory=lambda: ["O(3)", "O(2)_x", "O(2)_y", "O(2)_z"])
    hidden: str = "16x0e + 8x1o@1 + 4x0e@2 + 4x1e@2 + 4x2e@2"


@register_task("soft_inertia")
class SoftInertia(SoftTask):
    """Modified inertia (``task_args.eps``, ``task_args.axis``), candidates O(3) and the axis
    subgroups by default."""

    Settings = InertiaSettings
    reps = INERTIA_REP
    default_hidden = InertiaSettings.hidden

    def _data(self, a) -> str:
        return "inertia"

    def _variant(self, a) -> dict[str, Any]:
        if a.axis not in ("x", "y", "z"):
            raise ConfigError(f"task_args.axis must be x, y or z, got {a.axis!r}")
        if not math.isfinite(a.eps):
            raise ConfigError(f"task_args.eps must be finite, got {a.eps}")
        self._target_fn = lambda x: inertia_target(x, a.eps, a.axis)
        return {"eps": a.eps, "axis": a.axis}


@dataclass
class CosSimSettings(_Common):
    """``task_args`` of ``soft_cossim``."""

    eps: float = 1.0
    breaks: str = "scale"
    groups: list[str] = field(default_factory=lambda: ["SO(3) x Scale", "SO(3)", "Scale"])
    hidden: str = "16x0e + 8x1o + 8x1o@1 + 4x0e@2 + 4x1e@2 + 4x2e@2"


@register_task("soft_cossim")
class SoftCosSim(SoftTask):
    """CosSim (``task_args.eps``, ``task_args.breaks``), candidates SO(3) x Scale, SO(3) and
    Scale by default; the model sees the inputs' unit directions and norms too."""

    Settings = CosSimSettings
    reps = COSSIM_REP
    default_hidden = CosSimSettings.hidden
    scale_features = True

    def _data(self, a) -> str:
        return "cossim"

    def _variant(self, a) -> dict[str, Any]:
        if a.breaks not in COSSIM_BREAKS:
            raise ConfigError(f"task_args.breaks must be one of {COSSIM_BREAKS}, got {a.breaks!r}")
        self._target_fn = lambda x: cossim_target(x, a.eps, a.breaks)
        return {"eps": a.eps, "breaks": a.breaks}
