"""On-disk caches of generated data: atomic writes and checksummed ``.npz`` files.

A cache is ``<stem>.npz`` plus a JSON sidecar ``<stem>.json`` holding what generated it (the
caller's fields, e.g. the parameters) and the sha256 of the npz bytes. Reading checks the
sidecar's fields, the checksum and the presence of the arrays, and raises the caller's error
class with a message naming the file and what did not match.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lps.io import atomic_write


def as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, keys sorted)."""
    return json.loads(json.dumps(value, sort_keys=True))


def write_npz_cache(
    npz: Path, meta_path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> None:
    """Write ``arrays`` to ``npz`` and ``meta`` plus the npz's sha256 to ``meta_path``."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    raw = buf.getvalue()
    meta = {**as_json(meta), "sha256": hashlib.sha256(raw).hexdigest()}
    meta["numpy_version"] = np.__version__
    atomic_write(npz, raw)
    atomic_write(meta_path, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())


def read_npz_cache(
    npz: Path,
    meta_path: Path,
    expected: dict[str, Any],
    keys: tuple[str, ...],
    error: type[Exception],
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of a cache written by :func:`write_npz_cache`.

    Raises ``error`` when a file is missing or unreadable, when a sidecar field differs from
    ``expected`` (compared as JSON), when the checksum does not match, or when an array is
    missing.
    """
    if not npz.is_file() or not meta_path.is_file():
        raise error(f"cache files missing: {npz} / {meta_path}")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise error(f"unreadable cache sidecar {meta_path}: {err}") from err
    for name, value in as_json(expected).items():
        if meta.get(name) != value:
            raise error(
                f"{meta_path}: {name} is {meta.get(name)!r}, expected {value!r} (the cache was "
                "generated with other parameters or by another version)"
            )
    raw = npz.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != meta.get("sha256"):
        raise error(
            f"{npz}: sha256 {digest} does not match the sidecar ({meta.get('sha256')}); the "
            "file is corrupted or was replaced"
        )
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except (KeyError, ValueError, OSError) as err:
        raise error(f"{npz}: cannot read arrays: {err}") from err


def cached_npz(
    npz: Path,
    meta_path: Path,
    read: Callable[[], dict[str, np.ndarray]],
    generate: Callable[[], dict[str, np.ndarray]],
    meta: dict[str, Any],
    error: type[Exception],
    regenerate: bool = True,
) -> dict[str, np.ndarray]:
    """Arrays from a cache, or generated and written with :func:`write_npz_cache`.

    ``read()`` loads and checks the cache, raising ``error`` on any problem. When the files
    exist but fail, they are regenerated if ``regenerate`` is true, else ``error`` is raised
    with a hint; a missing cache is generated. ``meta`` is the sidecar's content.
    """
    if npz.exists() or meta_path.exists():
        try:
            return read()
        except error as err:
            if not regenerate:
                raise error(
                    f"{err}\n(pass regenerate=True, or delete {npz} and {meta_path})"
                ) from err
    arrays = generate()
    write_npz_cache(npz, meta_path, arrays, meta)
    return arrays
