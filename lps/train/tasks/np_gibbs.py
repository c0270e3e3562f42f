"""Neural processes on the 1-D Gibbs-kernel GP tasks of :mod:`lps.np.gp`, through ``lps train``.

A batch is a set of regression tasks: contexts ``xc``/``yc`` (B, 64, 1) with their mask
(B, 64), targets ``xt``/``yt`` (B, 128, 1). The model (``task_args.model``: ``convcnp``,
``tnp`` or ``tetnp``, with ``task_args.fixed_inputs`` learnable fixed inputs for the
approximately equivariant versions) predicts a Gaussian per target; the loss is the negative
log-likelihood per target, the metric ``loglik`` the mean log-likelihood per target (nats,
higher is better). ``finish`` adds the exact GP-mixture ceiling on the test tasks, the gap to
it, the score out of the training region (tasks shifted by ``task_args.shift``) and, with fixed
inputs, the score with them forced off; ``equivariance_report`` gives the ``lps.testing``
translation-equivariance error with the fixed inputs on and off (the strict model).

Training tasks: ``data.num_train`` tasks, task ``i`` drawn when first asked for from the seed
``(task_args.train_seed, i)`` (no files, the same task in every epoch); validation and test:
the fixed, seeded splits :func:`~lps.np.gp.fixed_split` (``task_args.val_tasks`` /
``test_tasks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from lps.symmetrize import SymmetrizedOutput
from lps.train.config import ConfigError
from lps.train.tasks.base import Task, register_task

__all__ = ["GPTaskSet", "NPGibbs", "NPGibbsSettings"]

_FIELDS = ("xc", "yc", "mask", "xt", "yt")
_TYPES = {
    "inputs": {"xc": "position", "yc": "node", "xt": "position"},
    "outputs": {"mean": "node", "std": "node"},
}


@dataclass
class NPGibbsSettings:
    """``task_args`` of ``np_gibbs``."""

    model: str = "convcnp"  # convcnp | tnp | tetnp
    fixed_inputs: int = 0  # learnable fixed inputs b(x) (convcnp, tetnp); 0: the strict model
    dropout: float = 0.5  # probability of dropping all fixed inputs of a task in training
    fixed_hidden: int = 32  # width of the MLP b(x)
    channels: int = 32  # convcnp: CNN width
    conv_layers: int = 6  # convcnp: residual conv blocks
    density: int = 8  # convcnp: grid points per unit
    half_width: float = 7.0  # convcnp: the grid covers +-half_width about the context centroid
    width: int = 48  # tnp/tetnp: token width
    heads: int = 4  # tnp/tetnp: attention heads
    tnp_layers: int = 3  # tnp/tetnp: transformer blocks
    train_seed: int = 0  # seed of the training tasks
    val_tasks: int = 4096  # size of the fixed validation split
    test_tasks: int = 4096  # size of the fixed test split
    shift: float = 10.0  # the out-of-region evaluation: tasks translated by this much


class GPTaskSet(Dataset):
    """``size`` tasks as dicts of ``xc, yc, mask, xt, yt``; task ``i`` is drawn on demand from
    the generator seed ``seed * 1_000_003 + i`` (or taken from ``tasks`` when given)."""

    def __init__(self, size: int, seed: int = 0, tasks=None):
        self.size, self.seed, self.tasks = size, seed, tasks

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        from lps.np.gp import sample_tasks

        if self.tasks is not None:
            t = self.tasks.slice(i, i + 1)
        else:
            t = sample_tasks(1, torch.Generator().manual_seed(self.seed * 1_000_003 + i))
        return {f: getattr(t, f)[0] for f in _FIELDS}


@register_task("np_gibbs")
class NPGibbs(Task):
    """ConvCNP / TNP / TE-TNP (optionally with fixed inputs) on the Gibbs GP tasks."""

    primary, mode = "loglik", "max"
    Settings = NPGibbsSettings

    def check(self, cfg) -> None:
        a = cfg.task_args
        if a.model not in ("convcnp", "tnp", "tetnp"):
            raise ConfigError(f"task_args.model: {a.model!r} is not one of convcnp, tnp, tetnp")
        if a.fixed_inputs < 0:
            raise ConfigError(f"task_args.fixed_inputs: must be >= 0, got {a.fixed_inputs}")
        if a.fixed_inputs > 0 and a.model == "tnp":
            raise ConfigError(
                "task_args.fixed_inputs: the TNP is not equivariant, so it takes no fixed "
                "inputs; use model convcnp or tetnp, or fixed_inputs 0"
            )
        if not 0.0 <= a.dropout <= 1.0:
            raise ConfigError(f"task_args.dropout: must be in [0, 1], got {a.dropout}")
        for key in ("val_tasks", "test_tasks"):
            if a[key] < 1:
                raise ConfigError(f"task_args.{key}: must be >= 1, got {a[key]}")

    def datasets(self, cfg):
        from lps.np.gp import fixed_split

        a = cfg.task_args
        self.test_tasks = fixed_split("test", a.test_tasks)
        return {
            "train": GPTaskSet(cfg.data.num_train or 65_536, a.train_seed),
            "val": GPTaskSet(a.val_tasks, tasks=fixed_split("val", a.val_tasks)),
            "test": GPTaskSet(a.test_tasks, tasks=self.test_tasks),
        }

    def build_model(self, cfg) -> nn.Module:
        from lps.np.models import build_np

        a = cfg.task_args
        self.args = a
        if a.model == "convcnp":
            sizes = dict(
                channels=a.channels, layers=a.conv_layers, density=a.density,
                half_width=a.half_width,
            )  # fmt: skip
        else:
            sizes = dict(width=a.width, heads=a.heads, layers=a.tnp_layers)
        fixed = a.fixed_inputs > 0
        name = f"{a.model}_fixed" if fixed else a.model
        extra = dict(fixed_count=a.fixed_inputs, p_drop=a.dropout, fixed_hidden=a.fixed_hidden)
        return build_np(name, **(extra if fixed else {}), **sizes)

    def inputs(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: batch[k] for k in ("xc", "yc", "xt", "mask")}

    def forward(self, model, batch, n_samples: int | None = None) -> SymmetrizedOutput:
        pred = model(**self.inputs(batch))
        return SymmetrizedOutput(prediction=torch.cat([pred["mean"], pred["std"]], -1))

    def loss(self, prediction: Tensor, batch: dict[str, Tensor]) -> Tensor:
        from lps.np.base import gaussian_loglik

        pred = {"mean": prediction[..., :1], "std": prediction[..., 1:]}
        return -gaussian_loglik(pred, batch["yt"]).mean()

    def targets(self, batch: dict[str, Tensor]) -> Tensor:
        return batch["yt"]

    def metrics(self, predictions: Tensor, targets: Tensor) -> dict[str, float]:
        from lps.np.base import gaussian_loglik

        pred = {"mean": predictions[..., :1], "std": predictions[..., 1:]}
        ll = gaussian_loglik(pred, targets.to(predictions.dtype))
        rmse = (predictions[..., :1] - targets).pow(2).mean().sqrt()
        return {"loglik": float(ll.mean()), "rmse": float(rmse)}

    def _fixed(self, model: nn.Module) -> bool:
        from lps.relax.fixed_inputs import FixedInputs

        return any(isinstance(m, FixedInputs) and m.count > 0 for m in model.modules())

    def equivariance_report(self, accelerator, model, loader, cfg) -> dict[str, float]:
        """The relative T(1) equivariance error (``lps.testing``) on 8 test tasks: of the
        model as it is, and for fixed-input models with the inputs forced on and off."""
        from lps.relax import departure
        from lps.testing import equivariance_error

        net = accelerator.unwrap_model(model)
        ex = self.test_tasks.slice(0, 8)
        inputs = {"xc": ex.xc, "yc": ex.yc, "xt": ex.xt}
        kw = dict(group="T(1)", **_TYPES)
        if self._fixed(net):
            dep = departure(net, inputs, ex.mask, **kw)
            return {"fixed_on": dep["on"], "fixed_off": dep["off"]}
        was = net.training
        net.eval()
        with torch.no_grad():
            gen = torch.Generator().manual_seed(0)
            err = equivariance_error(net, inputs, ex.mask, generator=gen, **kw)
        net.train(was)
        return {"translation": err}

    def finish(self, model: nn.Module, run_dir: Path) -> dict:
        """The GP ceiling on the test tasks, the gap to it, the out-of-region score and (with
        fixed inputs) the in-region score with them forced off."""
        from lps.np.gp import gp_loglik
        from lps.np.train import evaluate
        from lps.relax import forced

        test, shift = self.test_tasks, float(self.args.shift)
        ceiling = float(gp_loglik(test).mean())
        ll = float(evaluate(model, test).mean())
        out = {
            "test_loglik": ll,
            "ceiling": ceiling,
            "gap_to_ceiling": ceiling - ll,
            "off_region_shift": shift,
            "off_region_loglik": float(evaluate(model, test.shifted(shift)).mean()),
        }
        if self._fixed(model):
            with forced(model, False):
                out["fixed_off_loglik"] = float(evaluate(model, test).mean())
        return out
