"""The shared machinery of the marginal-likelihood tasks (:mod:`lps.marglik` through ``lps train``).

:class:`MarglikTask` holds everything that does not depend on the data or the network: the
validation split, the prior as an aux loss, the marginal-likelihood step in :meth:`after_step`
with its NaN rule, the per-layer readout in :meth:`eval_logs`, ``shares.png`` and the final
readout in :meth:`finish`, and :class:`MarglikState` in every checkpoint. A task subclasses it
with its ``Settings`` (a subclass of :class:`MarglikSettingsBase`), :meth:`~MarglikTask.load_data`,
:meth:`~MarglikTask.network` and :meth:`~MarglikTask.transforms` (the group actions of the
equivariance report); see :mod:`lps.train.tasks.digits_quadrants` and
:mod:`lps.train.tasks.set_marglik`.

The training loss is the mean cross-entropy plus ``(1/N) 1/2 sum_l delta_l ||theta_l||^2``
(an aux loss). With learned precisions, after ``burnin_steps`` optimizer steps and then every
``marglik_every`` steps, :meth:`~MarglikTask.after_step` collects the KFAC curvature on
``curv_points`` training points and takes ``hyper_steps`` Adam steps on the log precisions. A
step that makes the marginal likelihood non-finite restores the precisions and the
hyper-optimizer and raises :class:`~lps.marglik.MarglikError`; the checkpoints on disk stay the
last good ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps.marglik.backbones import MARGLIK_MODELS as MODELS  # also registers the backbones
from lps.train.tasks.base import Task, TensorPairs

__all__ = ["MarglikSettingsBase", "MarglikState", "MarglikTask", "validation_size"]


@dataclass
class MarglikSettingsBase:
    """The ``task_args`` every marginal-likelihood task takes (steps count optimizer steps)."""

    model: str = "residual_ml"  # see MARGLIK_MODELS; a task may allow fewer (``models``)
    val_fraction: float = 0.15  # of the training inputs, held out for validation
    prior: float = 1.0  # prior precision at the start (fixed for the MAP models)
    burnin_steps: int = 80  # steps before the first marginal-likelihood step
    marglik_every: int = 48  # steps between marginal-likelihood steps
    hyper_steps: int = 100  # Adam steps on the log precisions per marginal-likelihood step
    hyper_lr: float = 0.1
    curv_points: int = 1000  # training points of the KFAC curvature
    curv_mode: str = "mc"  # mc: one sampled label per input (Fisher) | exact: K backward passes
    readout_points: int = 256  # training inputs of the per-layer readout


def validation_size(fraction: float, n: int) -> int:
    """How many of ``n`` training inputs ``task_args.val_fraction`` holds out (at least 1)."""
    return max(1, int(round(fraction * n)))


class MarglikState:
    """The learned log precisions, the hyper-optimizer and the last log marginal likelihood,
    checkpointed with the run (``state_dict`` / ``load_state_dict``)."""

    def __init__(self, prec, opt: torch.optim.Optimizer) -> None:
        self.prec, self.opt, self.log_marglik = prec, opt, math.nan

    def state_dict(self) -> dict:
        return {
            "log_delta": self.prec.log_delta.detach().clone(),
            "names": list(self.prec.names),
            "opt": self.opt.state_dict(),
            "log_marglik": self.log_marglik,
        }

    def load_state_dict(self, state: dict) -> None:
        if list(state["names"]) != list(self.prec.names):
            raise ValueError(
                "MarglikState: the checkpoint's precisions belong to other parameters "
                f"({state['names'][:3]}... vs {self.prec.names[:3]}...)"
            )
        with torch.no_grad():
            self.prec.log_delta.copy_(state["log_delta"])
        self.opt.load_state_dict(state["opt"])
        self.log_marglik = float(state["log_marglik"])


class MarglikTask(Task):
    """A residual-pathway network with prior precisions fixed (MAP) or learned by the Laplace
    marginal likelihood; subclasses give the data, the network and the group actions."""

    primary, mode = "accuracy", "max"
    Settings = MarglikSettingsBase
    #: ``task_args.model`` -> its key in ``MARGLIK_MODELS`` (the models this task builds).
    models: dict[str, str] = {name: name for name in MODELS}
    #: Why a name this task does not build is refused (``task_args.model`` errors).
    refused: dict[str, str] = {}
    #: The key of the equivariance report in ``metrics.json``.
    report_key: str = "equiv_error"

    # -- what a subclass provides ------------------------------------------------------------

    def load_data(self, cfg) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """``((x_train, y_train), (x_test, y_test))``; the validation split is cut from train."""
        raise NotImplementedError

    def network(self, cfg, equiv: bool, free: str | None) -> nn.Module:
        """The unwrapped network with or without its equivariant path and with free path
        ``free`` (``"dense"``, ``"factored"`` or ``None``): ``(B, ...) -> (B, classes)``."""
        raise NotImplementedError

    def transforms(self, x: Tensor) -> list[Tensor]:
        """A few transformed copies of the input batch ``x`` under which the label is invariant
        for the equivariant-path-only network (the equivariance report)."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------

    def check(self, cfg) -> None:
        from lps.train.config import ConfigError

        a = cfg.task_args
        if a.model not in self.models:
            why = f" ({self.refused[a.model]})" if a.model in self.refused else ""
            raise ConfigError(
                f"task_args.model: expected one of {list(self.models)}, got {a.model!r}{why}"
            )
        if a.curv_mode not in ("mc", "exact"):
            raise ConfigError(f"task_args.curv_mode: expected 'mc' or 'exact', got {a.curv_mode!r}")
        if not (math.isfinite(a.prior) and a.prior > 0):
            raise ConfigError(f"task_args.prior: a prior precision must be > 0, got {a.prior}")
        for key in ("marglik_every", "hyper_steps", "curv_points", "readout_points"):
            if a[key] < 1:
                raise ConfigError(f"task_args.{key}: must be >= 1, got {a[key]}")
        if not 0 < a.val_fraction < 1:
            raise ConfigError(f"task_args.val_fraction: must be in (0, 1), got {a.val_fraction}")
        if MODELS[self.models[a.model]][2] and a.burnin_steps >= cfg.trainer.max_steps:
            raise ConfigError(
                f"task_args.burnin_steps: {a.burnin_steps} is past the end of training "
                f"(trainer.max_steps={cfg.trainer.max_steps}); no precision would be learned"
            )

    def datasets(self, cfg):
        a = cfg.task_args
        (x, y), test = self.load_data(cfg)
        n_val = validation_size(a.val_fraction, len(x))
        if n_val >= len(x):
            raise ValueError(
                f"task_args.val_fraction: {a.val_fraction} of {len(x)} training inputs "
                "leaves none to train on"
            )
        self.train_xy = (x[n_val:], y[n_val:])
        return {
            "train": TensorPairs(*self.train_xy),
            "val": TensorPairs(x[:n_val], y[:n_val]),
            "test": TensorPairs(*test),
        }

    def build_model(self, cfg):
        from lps.marglik import Precisions

        a = cfg.task_args
        if not hasattr(self, "train_xy"):  # `lps evaluate` builds the model first
            self.datasets(cfg)
        equiv, free, self.learn = MODELS[self.models[a.model]]
        net = self.network(cfg, equiv, free)
        self.args, self.net = a, net  # the unwrapped network (its parameter names)
        self.seed = cfg.trainer.seed
        self.prec = Precisions(net, a.prior)
        self.state = MarglikState(self.prec, torch.optim.Adam(self.prec.parameters(), a.hyper_lr))
        self.curv = None
        x, y = self.train_xy
        gen = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(len(x), generator=gen)[: a.curv_points]
        self.curv_xy = (x[idx], y[idx])
        return net

    def state_objects(self) -> list:
        return [self.state]

    def inputs(self, batch):
        return {"x": batch["x"]}

    def forward(self, model, batch, n_samples=None):
        from lps.symmetrize import SymmetrizedOutput

        logits = model(batch["x"])
        aux = {}
        if model.training:
            aux["prior"] = self.prec.penalty(self.net) / len(self.train_xy[0])
        return SymmetrizedOutput(prediction=logits, aux_losses=aux)

    def loss(self, prediction, batch):
        return F.cross_entropy(prediction.float(), batch["y"].view(-1))

    def targets(self, batch):
        return batch["y"].view(-1)

    def metrics(self, predictions, targets):
        return {"accuracy": float((predictions.argmax(-1) == targets).float().mean())}

    def _curvature(self, model, step: int):
        from lps.marglik import collect_curvature

        xc, yc = self.curv_xy
        batches = [(xc[i : i + 256], yc[i : i + 256]) for i in range(0, len(xc), 256)]
        n = len(self.train_xy[0])
        mode = self.args.curv_mode
        return collect_curvature(model, batches, mode=mode, seed=self.seed + step, n_data=n)

    def after_step(self, model, step: int) -> dict[str, float]:
        from lps.marglik import MarglikError, hyper_step

        a = self.args
        if not self.learn or step < a.burnin_steps or (step - a.burnin_steps) % a.marglik_every:
            return {}
        self.curv = self._curvature(model, step)
        try:
            ml = hyper_step(model, self.prec, self.state.opt, self.curv, a.hyper_steps)
        except MarglikError as err:
            raise MarglikError(f"marginal-likelihood step at step {step}: {err}") from None
        self.state.log_marglik = ml
        return {"log_marglik_per_point": ml / len(self.train_xy[0])}

    def _readout(self, model, fresh: bool):
        from lps.marglik import layer_readout

        if fresh or self.curv is None:
            self.curv = self._curvature(model, 0)
        x = self.curv_xy[0][: self.args.readout_points]
        return layer_readout(model, x, self.prec, self.curv)

    def eval_logs(self, model) -> dict[str, float]:
        """The per-layer readout; with learned precisions, effective dims use the curvature
        of the last marginal-likelihood step (at most ``marglik_every`` steps old)."""
        out = {}
        for i, row in enumerate(self._readout(model, fresh=not self.learn), start=1):
            for key in ("share", "prior_share", "neff_share"):
                if key in row:
                    out[f"layer{i}/{key}"] = row[key]
            out.update({f"layer{i}/precision/{k}": v for k, v in row["precision"].items()})
            out.update({f"layer{i}/eff_dim/{k}": v for k, v in row["eff_dim"].items()})
        return out

    def equivariance_report(self, accelerator, model, loader, cfg) -> dict[str, float]:
        """``{report_key: max relative change of the logits}`` over :meth:`transforms` of one
        test batch (0 for the equivariant-path-only network)."""
        net = accelerator.unwrap_model(model)
        net.eval()
        x = next(iter(loader))["x"]
        with torch.no_grad():
            f = net(x)
            errs = [float((net(xt) - f).norm() / f.norm()) for xt in self.transforms(x)]
        return {self.report_key: max(errs)}

    def finish(self, model, run_dir: Path) -> dict:
        from lps.marglik import log_marglik, plot_shares

        rows = self._readout(model, fresh=True)
        with torch.no_grad():
            ml = float(log_marglik(model, self.prec, self.curv)) / len(self.train_xy[0])
        shares = {
            "output RMS": [r["share"] for r in rows],
            "prior RMS": [r["prior_share"] for r in rows],
            "eff. dim / param": [r["neff_share"] for r in rows],
        }
        title = f"{self.name} {self.args.task}, {self.args.model}: free-path share per layer"
        plot_shares(shares, str(Path(run_dir) / "shares.png"), title)
        return {
            "log_marglik_per_point": ml,
            "shares": shares["output RMS"],
            "prior_shares": shares["prior RMS"],
            "neff_shares": shares["eff. dim / param"],
            "layers": rows,
            "precisions": self.prec.values(),
            "figure": "shares.png",
        }
