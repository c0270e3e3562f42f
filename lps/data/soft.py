"""Generated data for soft equivariance under mixed symmetries (offline, seeded).

- **Modified inertia**: 5 point masses, ``m = softplus(N(0, 1))``, positions ``r ~ N(0, I_3)``;
  target ``I + eps (I e_a) e_a^T`` flattened (9), with ``I = sum m (|r|^2 I_3 - r r^T)`` the
  inertia matrix. ``eps = 0`` is O(3)-equivariant; otherwise only rotations about axis ``a``
  and the reflections that keep it (O(2)_a) remain. Features ``[m (5), r (5 x 3)]`` flat,
  the layout of the representation ``"5xT0 + 5xT1"``; target ``"1xT2"``.
- **CosSim**: 3 vectors ``v ~ N(0, I_3)``; target the mean cosine similarity of consecutive
  vectors (cyclically), which is O(3)- and scale-invariant, minus ``eps`` times a term that
  breaks scale (``mean |v|^2``), rotation (``mean v_z / |v|``) or both (``mean v_z``).
  Features ``"3xT1"``, target ``"1xT0@0"`` (a scale-invariant scalar).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "COSSIM_BREAKS",
    "INERTIA_REP",
    "COSSIM_REP",
    "cossim_data",
    "cossim_target",
    "inertia_data",
    "inertia_target",
    "soft_splits",
]

AXES = {"x": 0, "y": 1, "z": 2}
COSSIM_BREAKS = ("none", "scale", "rotation", "both")
#: (input representation, output representation) of each data set, for lps.soft.
INERTIA_REP = ("5xT0 + 5xT1", "1xT2")
COSSIM_REP = ("3xT1", "1xT0@0")
SPLITS = {"train": 0, "val": 1, "test": 2}


def _axis(axis: str) -> int:
    if axis not in AXES:
        raise ValueError(f"axis must be one of {sorted(AXES)}, got {axis!r}")
    return AXES[axis]


def inertia_target(x: Tensor, eps: float = 0.0, axis: str = "z", n: int = 5) -> Tensor:
    """(B, 9) target from flat features ``x`` (B, n + 3n) = ``[m, r]``."""
    m, r = x[:, :n], x[:, n:].reshape(-1, n, 3)
    eye = torch.eye(3, dtype=x.dtype, device=x.device)
    per = r.pow(2).sum(-1)[..., None, None] * eye - r[..., :, None] * r[..., None, :]
    inertia = (m[..., None, None] * per).sum(1)
    a = _axis(axis)
    if eps:
        extra = torch.zeros_like(inertia)
        extra[:, :, a] = inertia[:, :, a]  # (I e_a) e_a^T
        inertia = inertia + eps * extra
    return inertia.reshape(-1, 9)


def inertia_data(
    size: int, eps: float = 0.0, axis: str = "z", seed: int = 0, n: int = 5
) -> dict[str, Tensor]:
    """``{"x": (size, 4n), "y": (size, 9)}`` in float32, from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    m = torch.nn.functional.softplus(torch.randn(size, n, generator=gen, dtype=torch.float64))
    r = torch.randn(size, n, 3, generator=gen, dtype=torch.float64)
    x = torch.cat([m, r.reshape(size, 3 * n)], 1)
    return {"x": x.float(), "y": inertia_target(x, eps, axis, n).float()}


def cossim_target(x: Tensor, eps: float = 1.0, breaks: str = "none") -> Tensor:
    """(B, 1) target from flat vectors ``x`` (B, 9)."""
    if breaks not in COSSIM_BREAKS:
        raise ValueError(f"breaks must be one of {COSSIM_BREAKS}, got {breaks!r}")
    v = x.reshape(-1, 3, 3)
    cos = torch.nn.functional.cosine_similarity(v, v.roll(-1, 1), dim=-1).mean(1)
    norm = v.norm(dim=-1).clamp_min(1e-12)
    term = {
        "none": torch.zeros_like(cos),
        "scale": v.pow(2).sum(-1).mean(1),
        "rotation": (v[..., 2] / norm).mean(1),
        "both": v[..., 2].mean(1),
    }[breaks]
    return (cos - eps * term)[:, None]


def cossim_data(
    size: int, eps: float = 1.0, breaks: str = "none", seed: int = 0
) -> dict[str, Tensor]:
    """``{"x": (size, 9), "y": (size, 1)}`` in float32, from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(size, 9, generator=gen, dtype=torch.float64)
    return {"x": x.float(), "y": cossim_target(x, eps, breaks).float()}


def soft_splits(
    name: str,
    sizes: tuple[int, int, int] = (1000, 1000, 1000),
    seed: int = 0,
    **kwargs,
) -> dict[str, dict[str, Tensor]]:
    """``{"train", "val", "test"}`` splits of ``"inertia"`` or ``"cossim"``; split ``s`` uses
    the seed ``3 * seed + s`` so that the splits are independent and reproducible."""
    make = {"inertia": inertia_data, "cossim": cossim_data}
    if name not in make:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(make)}")
    return {
        split: make[name](size, seed=3 * seed + i, **kwargs)
        for (split, i), size in zip(SPLITS.items(), sizes, strict=True)
    }
