"""Run directories and checkpoints: atomic writes, keep-last-N, resume.

Layout of a run directory::

    config.yaml            the resolved config of the run
    checkpoints/step-000200/  accelerate ``save_state`` folders, the last N kept
    checkpoints/best/      the state at the best validation metric
    metrics.json           the final figures
    logs/                  tracker output (TensorBoard)
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lps.io import atomic_write_text

_STEP = re.compile(r"^step-(\d+)$")


class RunDirError(RuntimeError):
    """A run directory that cannot be used as asked (it holds another run, say)."""


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]}: {a!r} -> {b!r}"]


#: Keys that may change when a run is resumed.
RESUMABLE_CHANGES = ("run_dir", "trainer.max_steps", "trainer.progress", "data.num_workers")


def prepare_run_dir(cfg: DictConfig, resume: bool) -> Path:
    """Create or check the run directory and write the resolved config into it.

    A directory that already holds a run is only reused with ``resume`` and the same config
    (up to :data:`RESUMABLE_CHANGES`).
    """
    run_dir = Path(cfg.run_dir)
    cfg_path = run_dir / "config.yaml"
    if cfg_path.exists():
        from lps.train.config import ConfigError, load_config

        try:  # through the schema: keys added since the run was started take their defaults
            old = OmegaConf.to_container(load_config(cfg_path), resolve=True)
        except ConfigError:
            old = OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=True)
        new = OmegaConf.to_container(cfg, resolve=True)
        for key in RESUMABLE_CHANGES:
            for d in (old, new):
                node = d
                *parents, leaf = key.split(".")
                for p in parents:
                    node = node.get(p, {})
                node.pop(leaf, None)
        diffs = _diff(old, new)
        if not resume:
            raise RunDirError(
                f"run_dir {str(run_dir)!r} already holds a run; pass --resume to continue it, "
                "or choose another run_dir=..."
            )
        if diffs:
            raise RunDirError(
                f"run_dir {str(run_dir)!r} holds a run with a different config; differing keys: "
                + "; ".join(diffs)
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    from lps.train.config import to_yaml

    atomic_write_text(cfg_path, to_yaml(cfg))
    return run_dir


def step_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Completed step checkpoints, oldest first."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP.match(p.name))]
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckpts = step_checkpoints(run_dir)
    return ckpts[-1][1] if ckpts else None


def save_checkpoint(accelerator, run_dir: Path, tag: str, keep_last: int | None = None) -> Path:
    """``accelerator.save_state`` into ``checkpoints/<tag>`` atomically.

    The state is written to a hidden temporary folder and renamed into place only when
    complete, so a crash never leaves a half-written checkpoint under a real name.
    """
    root = run_dir / "checkpoints"
    final = root / tag
    tmp = root / f".tmp-{tag}"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        old = root / f".old-{tag}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        if old.exists():
            shutil.rmtree(old)
        if keep_last is not None:
            for _, path in step_checkpoints(run_dir)[:-keep_last]:
                shutil.rmtree(path)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path: Path) -> None:
    """Restore model, optimizer, scheduler, RNG streams and registered state from ``path``."""
    if not path.is_dir():
        raise RunDirError(f"checkpoint {str(path)!r} does not exist")
    try:
        accelerator.load_state(str(path))
    except Exception as err:
        raise RunDirError(f"checkpoint {str(path)!r} could not be loaded: {err}") from err
