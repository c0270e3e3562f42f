"""Rotated digits, generated offline from scikit-learn's bundled 8 x 8 digits (1,797 images).

Each digit is upsampled to 20 x 20 (bilinear), padded to 28 x 28 (the MNIST layout), scaled
to [0, 1] and turned counter-clockwise by an angle drawn from its class's rotation set:

| set | rotation of class c |
| --- | --- |
| ``multiple`` (DigitsMultiple) | uniform in +-18 c degrees |
| ``uniform60`` | uniform in +-60 degrees |
| ``uniform60_90`` | +-60 for classes 0-4, +-90 for 5-9 |
| ``gaussian`` | Gaussian, sigma 9 c degrees |
| ``c2c4`` | C2 (0 or 180) for classes 0-4, C4 (multiples of 90) for 5-9 |
| ``full`` | uniform over the full circle |
| ``upright`` | none |

Splits are fixed (a seeded permutation, :data:`SPLIT_SIZES` train / val / test); the angles
of split ``s`` come from ``seed``. Arrays are cached as ``$LPS_DATA_DIR/digits/<set>_<split>_
<seed>.npz`` (else ``~/.cache/lps/digits``) with a checksummed JSON sidecar
(:mod:`lps.data.cache`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from lps.data.cache import cached_npz, read_npz_cache
from lps.groups.image import rotate_image

CACHE_FORMAT_VERSION = 1
#: Images per split (train, val, test) of the 1,797 digits.
SPLIT_SIZES = {"train": 1197, "val": 300, "test": 300}
SPLIT_SEED = 0
IMAGE_SIZE, DIGIT_SIZE = 28, 20


class DigitsCacheError(RuntimeError):
    """A cached split is missing, corrupted or was generated with other parameters."""


@dataclass(frozen=True)
class Level:
    """The rotation set of one class: ``kind`` uniform (half-width ``value`` degrees),
    gaussian (sigma ``value`` degrees) or discrete (C_n, ``value`` = n)."""

    kind: str
    value: float


def class_levels(name: str) -> list[Level]:
    """The true rotation set of each class 0..9 of the set ``name``."""
    sets = {
        "multiple": [Level("uniform", 18.0 * c) for c in range(10)],
        "uniform60": [Level("uniform", 60.0)] * 10,
        "uniform60_90": [Level("uniform", 60.0 if c < 5 else 90.0) for c in range(10)],
        "gaussian": [Level("gaussian", 9.0 * c) for c in range(10)],
        "c2c4": [Level("discrete", 2 if c < 5 else 4) for c in range(10)],
        "full": [Level("uniform", 180.0)] * 10,
        "upright": [Level("uniform", 0.0)] * 10,
    }
    if name not in sets:
        raise ValueError(f"unknown rotation set {name!r}; expected one of {sorted(sets)}")
    return sets[name]


ROTATION_SETS = ("multiple", "uniform60", "uniform60_90", "gaussian", "c2c4", "full", "upright")


def draw_angles(levels: list[Level], labels: Tensor, gen: torch.Generator) -> Tensor:
    """(N,) angles in degrees, one per image, from its class's rotation set."""
    u = torch.rand(labels.shape[0], generator=gen, dtype=torch.float64)
    z = torch.randn(labels.shape[0], generator=gen, dtype=torch.float64)
    r = torch.randint(0, 8 * 7 * 5 * 3, (labels.shape[0],), generator=gen)
    out = torch.zeros(labels.shape[0], dtype=torch.float64)
    for c, lv in enumerate(levels):
        m = labels == c
        if lv.kind == "uniform":
            out[m] = (2 * u[m] - 1) * lv.value
        elif lv.kind == "gaussian":
            out[m] = z[m] * lv.value
        else:
            n = int(lv.value)
            out[m] = (r[m] % n).double() * (360.0 / n)
    return 180.0 - torch.remainder(180.0 - out, 360.0)


def upright_digits() -> tuple[Tensor, Tensor]:
    """All 1,797 digits as (N, 1, 28, 28) float32 in [0, 1] and their labels (N,) long."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear", align_corners=False)
    pad = (IMAGE_SIZE - DIGIT_SIZE) // 2
    x = F.pad(x.clamp(0, 1), (pad, pad, pad, pad))
    return x, torch.tensor(d.target, dtype=torch.long)


def split_indices(split: str) -> Tensor:
    """The fixed indices of ``split`` into the 1,797 digits."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_SIZES)}")
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(SPLIT_SEED))
    start = 0
    for name, size in SPLIT_SIZES.items():
        if name == split:
            return perm[start : start + size]
        start += size
    raise AssertionError("unreachable")


def rotate_degrees(x: Tensor, degrees: Tensor) -> Tensor:
    """(N, C, H, W) images turned counter-clockwise by ``degrees`` (N,) (quarter turns exact)."""
    return rotate_image(x, torch.as_tensor(degrees, dtype=x.dtype) * (math.pi / 180.0))


def generate(name: str, split: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays of one split: ``x`` (N, 1, 28, 28) rotated, ``upright`` (N, 1, 28, 28), ``y``
    (N,), ``angle`` (N,) degrees."""
    levels = class_levels(name)
    x, y = upright_digits()
    idx = split_indices(split)
    x, y = x[idx], y[idx]
    gen = torch.Generator().manual_seed(1000 * seed + list(SPLIT_SIZES).index(split))
    angle = draw_angles(levels, y, gen)
    rotated = rotate_degrees(x, angle.float())
    return {
        "x": rotated.numpy(),
        "upright": x.numpy(),
        "y": y.numpy(),
        "angle": angle.numpy(),
    }


def default_root() -> Path:
    """``$LPS_DATA_DIR/digits`` if the variable is set, else ``~/.cache/lps/digits``."""
    env = os.environ.get("LPS_DATA_DIR")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "lps") / "digits"


def load_digits_split(
    name: str,
    split: str,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    *,
    regenerate: bool = True,
) -> dict[str, Tensor]:
    """One split of rotation set ``name`` as tensors (see :func:`generate`), cached."""
    class_levels(name)
    split_indices(split)
    root_path = Path(root).expanduser() if root is not None else default_root()
    stem = f"{name}_{split}_{seed}"
    npz, meta_path = root_path / f"{stem}.npz", root_path / f"{stem}.json"
    params = {"name": name, "split": split, "seed": seed, "sizes": SPLIT_SIZES}
    meta = {"format_version": CACHE_FORMAT_VERSION, "params": params}
    keys = ("x", "upright", "y", "angle")
    arrays = cached_npz(
        npz,
        meta_path,
        lambda: read_npz_cache(npz, meta_path, meta, keys, DigitsCacheError),
        lambda: generate(name, split, seed),
        {**meta, "generator": "lps.data.digits.generate"},
        DigitsCacheError,
        regenerate,
    )
    return {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}


class RotatedDigits(Dataset):
    """Items ``{"img": (1, 28, 28) float32, "label": long, "angle": float64 degrees}``."""

    def __init__(self, name: str, split: str, seed: int = 0, root=None):
        d = load_digits_split(name, split, seed, root)
        self.x, self.y, self.angle = d["x"], d["y"], d["angle"]

    def __len__(self) -> int:
        return self.y.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"img": self.x[i], "label": self.y[i], "angle": self.angle[i]}
