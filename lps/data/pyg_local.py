"""Open PyG benchmark data sets from files the user already has, never downloading.

PyG's dataset classes download whatever raw file is missing, and its loader falls back to
full unpickling (``torch.load(weights_only=False)``) when a file cannot be read as plain
tensors. Both are refused here: :func:`require_files` checks that the files exist (with an
error that says where to put them), :func:`check_safe_torch_file` checks that every file PyG
will read loads with ``torch.load(weights_only=True)``, and :func:`no_download` gives a
subclass of a PyG dataset whose ``download`` raises instead of fetching anything.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["UnsafeFileError", "check_safe_torch_file", "files_for_pyg", "no_download"]


class UnsafeFileError(ValueError):
    """A data file that could only be read by unpickling arbitrary Python objects."""


def check_safe_torch_file(path: str | os.PathLike[str]) -> None:
    """Raise :class:`UnsafeFileError` unless ``path`` loads with ``weights_only=True``.

    Files in the zip format are opened with ``mmap=True``, so the check reads the object
    structure without copying the tensors; older files are loaded in full.
    """
    path = os.fspath(path)
    try:
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise UnsafeFileError(
            f"{path}: cannot be read with torch.load(weights_only=True) "
            f"({type(err).__name__}: {detail}); it is corrupt, truncated, or holds Python "
            "objects other than tensors, which are never unpickled here. Re-create the file "
            "from the official archive."
        ) from err


def files_for_pyg(
    raw: Sequence[Path], processed: Sequence[Path], extra: Sequence[Path], what: str, hint: str
) -> list[Path]:
    """The files PyG will read for a data set, after checking they exist.

    PyG needs every raw file (it downloads missing ones, which is refused here); it reads
    the processed files when they all exist and otherwise processes the raw ones. ``extra``
    are optional files PyG reads when present (``pre_transform.pt``, ``pre_filter.pt``).
    Raises ``FileNotFoundError`` naming the missing files and ``hint`` (where to get them).
    """
    missing = [p for p in raw if not p.is_file()]
    if missing:
        listing = "\n  ".join(str(p) for p in missing)
        raise FileNotFoundError(
            f"{what}: missing local file(s)\n  {listing}\nNothing is downloaded. {hint}"
        )
    if processed and all(p.is_file() for p in processed):
        read = list(processed)
    else:
        read = list(raw)
    return read + [p for p in extra if p.is_file()]


def no_download(cls: type) -> type:
    """A subclass of the PyG dataset ``cls`` whose ``download`` raises instead of fetching."""

    def download(self) -> None:  # pragma: no cover - guarded by files_for_pyg
        raise FileNotFoundError(
            f"{cls.__name__}: raw files missing in {self.raw_dir}; refusing to download"
        )

    return type(f"Local{cls.__name__}", (cls,), {"download": download})
