"""Safe file input and output shared by every layer: atomic writes and state-dict reading.

- :func:`atomic_write` (bytes), :func:`atomic_write_text`, :func:`atomic_write_json`,
  :func:`atomic_write_figure` (a matplotlib figure as PNG): write through a temporary file
  in the same folder and ``os.replace``, so that a crash leaves either the old file or the
  new one, never half of one.
- :func:`load_state_dict_file`: a mapping of names to tensors from a local ``.safetensors``
  file or a ``.bin`` / ``.pth`` / ``.pt`` file read with ``torch.load(weights_only=True)``;
  nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "atomic_write",
    "atomic_write_figure",
    "atomic_write_json",
    "atomic_write_text",
    "load_state_dict_file",
]

#: Suffixes :func:`load_state_dict_file` reads.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    ``os.replace``, so a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys in insertion order) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_figure(path: str | os.PathLike[str], fig: Any, dpi: int = 100) -> None:
    """Render the matplotlib figure ``fig`` to PNG in memory and write it to ``path``
    atomically (a crash mid-render leaves the previous image)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write(path, buf.getvalue())


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a state dict from a local ``.safetensors`` or ``.bin``/``.pth``/``.pt`` file, safely.

    ``.safetensors`` goes through ``safetensors.torch.load_file``; the others through
    ``torch.load(weights_only=True)`` (no unpickling of arbitrary objects). A dict nested under
    ``"model"`` or ``"state_dict"`` is unwrapped. Raises ``FileNotFoundError`` for a missing file
    and ``ValueError`` for an unreadable one, naming the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained weights: no such file {path!r}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise ValueError(
            f"pretrained weights {path!r}: unknown format {suffix or '(no suffix)'!r}; "
            "expected .safetensors, .bin, .pth or .pt"
        )
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # safetensors / unpickler errors have many types
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        if suffix != ".safetensors":  # torch's message suggests weights_only=False: never here
            detail = "torch.load(weights_only=True) refused it"
        raise ValueError(
            f"pretrained weights {path!r}: could not read the file as {suffix} "
            f"({type(err).__name__}: {detail}); it is corrupt or truncated, or holds objects "
            "other than tensors (which are never unpickled)"
        ) from err
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"pretrained weights {path!r}: expected a mapping of names to tensors")
    return dict(state)
