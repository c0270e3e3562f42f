"""Charged-particle n-body data set ("charged, 5 particles, small", 3-D) as used by EGNN.

A vectorised, offline re-implementation of the ``ChargedParticlesSim`` of Kipf et al.'s NRI
simulator in the 3-D variant used by EGNN (Satorras et al., 2021):

* ``n`` particles with charges ``q_i`` in {-1, +1} (probability 1/2 each); edge value
  ``q_i q_j``;
* positions ``x ~ N(0, 1)``, velocities of norm 0.5 in a uniformly random direction;
* force ``F_i = sum_{j != i} q_i q_j (x_i - x_j) / |x_i - x_j|^3`` (interaction strength 1),
  each component clipped to ``+-max_force`` after summing; unit masses, no walls;
* integration with ``dt = 0.001``: a velocity kick ``v += dt F(x)``, then for
  ``i = 1 .. num_steps - 1``: drift ``x += dt v``, save the frame when ``i % sample_every == 0``,
  kick ``v += dt F(x)``. Frame ``f`` is therefore the state after drift ``sample_every (f + 1)``.

Task: from positions / velocities at frame 30 (plus charges) predict positions at frame 40.
Splits: train = first ``num_train`` (3,000) of 10,000 trajectories, val 2,000, test 2,000, each
from its own seed. Splits are cached as ``.npz`` with a JSON sidecar (parameters + sha256).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lps.data.cache import cached_npz, read_npz_cache

# The simulator lives in lps.data.nbody_sim; its public names stay importable from here.
from lps.data.nbody_sim import (  # noqa: F401
    _DEFAULT_CHUNK,
    FRAME_IN,
    FRAME_OUT,
    _check_frames,
    _integrate_chunk,
    _num_frames,
    charged_energy,
    charged_forces,
    integrate,
    simulate_charged,
)

__all__ = [
    "FRAME_IN",
    "FRAME_OUT",
    "SPLITS",
    "NBodyCacheError",
    "NBodyDataset",
    "cached_simulate",
    "charged_energy",
    "charged_forces",
    "default_root",
    "integrate",
    "load_split",
    "nbody_splits",
    "simulate_charged",
]

CACHE_FORMAT_VERSION = 1
_CACHE_PREFIX = "charged5_3d"

# Generation parameters of each split (passed to `simulate_charged`); `num_traj` of "train" is
# the number generated, of which the dataset keeps the first `num_train`.
SPLITS: dict[str, dict[str, Any]] = {
    "train": {"num_traj": 10_000, "seed": 43},
    "val": {"num_traj": 2_000, "seed": 44},
    "test": {"num_traj": 2_000, "seed": 45},
}
_COMMON: dict[str, Any] = {
    "n_particles": 5,
    "dim": 3,
    "num_steps": 5000,
    "sample_every": 100,
    "dt": 0.001,
    "vel_norm": 0.5,
    "max_force": 100.0,
    "keep_frames": (FRAME_IN, FRAME_OUT),
    "loc_std": 1.0,
    "interaction_strength": 1.0,
}


class NBodyCacheError(RuntimeError):
    """A cached split is missing pieces, corrupted or was generated with other parameters."""


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


def default_root() -> Path:
    """Cache directory: ``$LPS_DATA_DIR/nbody`` if the variable is set, else
    ``~/.cache/lps/nbody``."""
    env = os.environ.get("LPS_DATA_DIR")
    if env:
        return Path(env).expanduser() / "nbody"
    return Path.home() / ".cache" / "lps" / "nbody"


def _read_cache(npz_path: Path, meta_path: Path, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Load and verify one cached simulation; raise `NBodyCacheError` on any problem."""
    expected = {"format_version": CACHE_FORMAT_VERSION, "params": params}
    keys = ("loc", "vel", "charges", "frames")
    data = read_npz_cache(npz_path, meta_path, expected, keys, NBodyCacheError)
    t, n, dim = params["num_traj"], params["n_particles"], params["dim"]
    nf = len(_check_frames(params["keep_frames"], params["num_steps"], params["sample_every"]))
    expected = {"loc": (t, nf, n, dim), "vel": (t, nf, n, dim), "charges": (t, n, 1)}
    for k, shape in expected.items():
        if data[k].shape != shape:
            raise NBodyCacheError(f"{npz_path}: {k} has shape {data[k].shape}, expected {shape}")
    return data


def cached_simulate(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    regenerate: bool = True,
    **params: Any,
) -> dict[str, np.ndarray]:
    """`simulate_charged(**params)` cached as ``<root>/<name>.npz`` + ``<name>.json``.

    The sidecar holds the generation parameters and the sha256 of the npz. A missing cache is
    generated. A cache whose checksum, parameters or array shapes do not match is regenerated
    when ``regenerate`` is true, else `NBodyCacheError` is raised. Writes are atomic
    (temporary file in the same directory, then ``os.replace``).
    """
    params = {**{k: v for k, v in _COMMON.items() if k not in params}, **params}
    if params.get("keep_frames") is not None:
        params["keep_frames"] = [int(f) for f in params["keep_frames"]]
    root_path = Path(root).expanduser() if root is not None else default_root()
    npz_path = root_path / f"{name}.npz"
    meta_path = root_path / f"{name}.json"
    meta = {
        "format_version": CACHE_FORMAT_VERSION,
        "generator": "lps.data.nbody.simulate_charged",
        "params": params,
    }
    return cached_npz(
        npz_path,
        meta_path,
        lambda: _read_cache(npz_path, meta_path, params),
        lambda: simulate_charged(**params),
        meta,
        NBodyCacheError,
        regenerate,
    )


def load_split(
    split: str,
    root: str | os.PathLike[str] | None = None,
    *,
    regenerate: bool = True,
) -> dict[str, np.ndarray]:
    """All generated trajectories of one split (train: 10,000), from the cache or freshly made.

    Returns the arrays of `simulate_charged` at frames ``(FRAME_IN, FRAME_OUT)``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
    return cached_simulate(f"{_CACHE_PREFIX}_{split}", root, regenerate=regenerate, **SPLITS[split])


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


class NBodyDataset(Dataset):
    """Charged 5-body data set: predict positions at frame 40 from the state at frame 30.

    Each item is a dict of float32 tensors: ``loc`` (5, 3) and ``vel`` (5, 3) at frame 30,
    ``charges`` (5, 1), ``edge_attr`` (5, 5, 1) charge products ``q_i q_j`` (zero on the
    diagonal) and ``target`` (5, 3) positions at frame 40. All items have a fixed size, so the
    default collate batches them. Metric: MSE of the predicted positions.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        root: cache directory (default `default_root`).
        num_train: number of training trajectories kept (the first ones of the 10,000
            generated; ignored for val/test).
        regenerate: regenerate a corrupted / mismatching cache instead of raising.
    """

    def __init__(
        self,
        split: str,
        root: str | os.PathLike[str] | None = None,
        num_train: int = 3000,
        *,
        regenerate: bool = True,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
        available = int(SPLITS["train"]["num_traj"])
        if split == "train" and not 1 <= num_train <= available:
            raise ValueError(f"num_train must be in [1, {available}], got {num_train}")
        self.split = split
        data = load_split(split, root, regenerate=regenerate)
        frames = [int(f) for f in data["frames"]]
        if FRAME_IN not in frames or FRAME_OUT not in frames:
            raise NBodyCacheError(f"split {split!r} lacks frames {FRAME_IN} and {FRAME_OUT}")
        fi, fo = frames.index(FRAME_IN), frames.index(FRAME_OUT)
        count = num_train if split == "train" else data["loc"].shape[0]
        q = data["charges"][:count]
        n = q.shape[1]
        edge = q @ q.transpose(0, 2, 1) * (1.0 - np.eye(n))
        self.loc = torch.from_numpy(data["loc"][:count, fi]).float()
        self.vel = torch.from_numpy(data["vel"][:count, fi]).float()
        self.target = torch.from_numpy(data["loc"][:count, fo]).float()
        self.charges = torch.from_numpy(q).float()
        self.edge_attr = torch.from_numpy(edge[..., None]).float()

    def __len__(self) -> int:
        return self.loc.shape[0]

    def __getitem__(self, idx: int) -> dict[str, torch.Tensor]:
        return {
            "loc": self.loc[idx],
            "vel": self.vel[idx],
            "charges": self.charges[idx],
            "edge_attr": self.edge_attr[idx],
            "target": self.target[idx],
        }


def nbody_splits(
    root: str | os.PathLike[str] | None = None,
    num_train: int = 3000,
    *,
    regenerate: bool = True,
) -> dict[str, NBodyDataset]:
    """The ``"train"`` (first ``num_train``), ``"val"`` and ``"test"`` data sets."""
    return {
        split: NBodyDataset(split, root, num_train=num_train, regenerate=regenerate)
        for split in ("train", "val", "test")
    }
