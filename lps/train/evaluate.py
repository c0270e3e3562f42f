"""``lps evaluate``: reload a run's weights and evaluate them, without its optimizer state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lps.io import atomic_write_json, load_state_dict_file
from lps.train.checkpoint import RunDirError, latest_checkpoint
from lps.train.config import load_config
from lps.train.evaluation import split_metrics, summary_line
from lps.train.loaders import make_loader
from lps.train.loop import make_accelerator
from lps.train.tasks import get_task

__all__ = ["evaluate_run", "find_checkpoint", "load_model_weights"]


def load_model_weights(model: torch.nn.Module, checkpoint: Path) -> None:
    """Load ``model.safetensors`` (or ``pytorch_model.bin``, weights only) from a checkpoint
    folder into ``model``; the names must match exactly."""
    st, pt = checkpoint / "model.safetensors", checkpoint / "pytorch_model.bin"
    if not st.is_file() and not pt.is_file():
        raise RunDirError(
            f"checkpoint {str(checkpoint)!r} has no model.safetensors or pytorch_model.bin"
        )
    state = load_state_dict_file(st if st.is_file() else pt)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RunDirError(
            f"checkpoint {str(checkpoint)!r} does not fit the model of its config: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def find_checkpoint(run_dir: Path, checkpoint: str | None = None) -> Path:
    """The given checkpoint, else ``checkpoints/best``, else the latest step checkpoint."""
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_dir():
            path = run_dir / "checkpoints" / checkpoint
        if not path.is_dir():
            raise RunDirError(
                f"checkpoint {checkpoint!r} not found (looked in {run_dir / 'checkpoints'})"
            )
        return path
    best = run_dir / "checkpoints" / "best"
    if best.is_dir():
        return best
    latest = latest_checkpoint(run_dir)
    if latest is None:
        raise RunDirError(f"run_dir {str(run_dir)!r} has no checkpoint to evaluate")
    return latest


def evaluate_run(
    run_dir: Path, overrides: list[str] = (), checkpoint: str | None = None, write: bool = True
) -> dict[str, Any]:
    """Evaluate a finished (or interrupted) run on val and test; writes ``eval.json``."""
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise RunDirError(f"{str(run_dir)!r} is not a run directory (no config.yaml)")
    cfg = load_config(cfg_path, list(overrides))
    task = get_task(cfg.task)
    accelerator = make_accelerator(cfg)
    model = task.build_model(cfg)
    ckpt = find_checkpoint(run_dir, checkpoint)
    load_model_weights(model, ckpt)
    data, collate = task.datasets(cfg), task.collate(cfg)
    loaders = {
        split: make_loader(cfg, data[split], collate, train=False) for split in ("val", "test")
    }
    model = accelerator.prepare(model)
    loaders = dict(zip(loaders, accelerator.prepare(*loaders.values())))
    results = split_metrics(accelerator, cfg, task, model, loaders)
    results = {"task": cfg.task, "checkpoint": str(ckpt), **results}
    if write and accelerator.is_main_process:
        atomic_write_json(run_dir / "eval.json", results)
    accelerator.print(summary_line(task, cfg, results))
    return results
