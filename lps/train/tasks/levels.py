"""Per-input symmetry levels on the rotated digits (docs/images.md, part 2) through
``lps train``: the loop trains the invariant-equivariant autoencoder without labels, and
:meth:`DigitsLevels.finish` runs the rest of the pipeline (kNN pseudo-labels, theta) and
writes the level table (``levels.json``, ``levels.md``) into the run directory.

The model reads ``img`` (B, 1, 28, 28); its prediction is the reconstruction (B, 1, 28, 28),
the loss its mean squared error, and the identity pull on psi is an auxiliary loss
(``aux_losses["identity_pull"]``, already weighted by ``task_args.penalty``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import torch.nn.functional as F

from lps.io import atomic_write_json, atomic_write_text
from lps.samplers.settings import READOUTS
from lps.symmetrize import SymmetrizedOutput
from lps.train.tasks.base import Task, register_task

__all__ = ["DigitsLevels"]


@register_task("digits_levels")
class DigitsLevels(Task):
    """Reconstruction MSE of the autoencoder (validation metric), then the level table."""

    primary = "recon_mse"
    mode = "min"

    @dataclass
    class Settings:
        """``rotation_set``: one of :data:`lps.experiments.levels.LEVEL_SETS`; the autoencoder's
        ``penalty`` (identity pull), ``embed_dim`` and psi's ``psi_readout`` (``mode`` or
        ``mean``); then the pseudo-labels' ``neighbours``
        and ``trim``, theta's ``level_epochs``, the C_n ``tolerance`` (degrees)."""

        rotation_set: str = "multiple"
        penalty: float = 1.0
        embed_dim: int = 32
        psi_readout: str = "mode"
        neighbours: int = 30
        trim: float = 0.1
        level_epochs: int = 150
        tolerance: float = 15.0
        data_seed: int = 0

    def check(self, cfg):
        from lps.experiments.levels import LEVEL_SETS

        a = cfg.task_args
        if a.rotation_set not in LEVEL_SETS:
            raise ValueError(
                f"task_args.rotation_set: unknown set {a.rotation_set!r}; expected one of "
                f"{', '.join(LEVEL_SETS)}"
            )
        if a.neighbours < 1:
            raise ValueError(f"task_args.neighbours: a positive integer, got {a.neighbours}")
        if not 0.0 <= a.trim < 0.5:
            raise ValueError(f"task_args.trim: must lie in [0, 0.5), got {a.trim}")
        if a.penalty < 0:
            raise ValueError(f"task_args.penalty: must be >= 0, got {a.penalty}")
        if a.psi_readout not in READOUTS:
            raise ValueError(
                f"task_args.psi_readout: one of {', '.join(READOUTS)}, got {a.psi_readout!r}"
            )

    def datasets(self, cfg):
        from torch.utils.data import Subset

        from lps.data.digits import RotatedDigits

        a = cfg.task_args
        sets = {
            s: RotatedDigits(a.rotation_set, s, a.data_seed, cfg.data.root)
            for s in ("train", "val", "test")
        }
        if cfg.data.num_train is not None:
            sets["train"] = Subset(sets["train"], range(cfg.data.num_train))
        return sets

    def build_model(self, cfg):
        from lps.experiments.levels import LevelSettings
        from lps.levels import InvariantEquivariantAE

        a = cfg.task_args
        names = {f.name for f in fields(LevelSettings)}
        self.settings = LevelSettings(
            **{k: v for k, v in a.items() if k in names}, seed=cfg.trainer.seed
        )
        self.rotation_set = a.rotation_set
        return InvariantEquivariantAE(embed_dim=a.embed_dim, hidden=cfg.model.hidden,
                                      penalty=a.penalty, psi_readout=a.psi_readout)  # fmt: skip

    def forward(self, model, batch, n_samples=None):
        out = model(batch["img"])
        return SymmetrizedOutput(
            prediction=out["recon"],
            aux_losses={"identity_pull": model.penalty * out["penalty"]},
            diagnostics={"psi_abs_deg": out["angle"].detach().abs().mean() * 57.29578},
        )

    def equivariance_report(self, accelerator, model, loader, cfg):
        return {}  # psi's equivariance is tested in tests/test_levels.py; phi is invariant

    def finish(self, model, run_dir: Path):
        """Pseudo-labels, theta and the evaluation of docs/images.md; ``levels.json`` and
        ``levels.md`` in ``run_dir``; returns the table row."""
        from lps.experiments.levels import evaluate_levels, levels_from_autoencoder

        levels, info = levels_from_autoencoder(model.cpu(), self.rotation_set, self.settings)
        row = {**evaluate_levels(levels, self.rotation_set, self.settings), **info}
        atomic_write_json(Path(run_dir) / "levels.json", row)
        lines = ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in row.items() if not isinstance(v, list)]
        atomic_write_text(Path(run_dir) / "levels.md", "\n".join(lines) + "\n")
        return row

    def inputs(self, batch):
        return {"img": batch["img"]}

    def loss(self, prediction, batch):
        return F.mse_loss(prediction.float(), batch["img"])

    def targets(self, batch):
        return batch["img"]

    def metrics(self, predictions, targets):
        return {"recon_mse": float(F.mse_loss(predictions.float(), targets.float()))}
