"""Tests for the charged-particle n-body simulator and data set (small sizes only)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lps.data import nbody
from lps.data.nbody import (
    NBodyCacheError,
    NBodyDataset,
    cached_simulate,
    charged_energy,
    charged_forces,
    integrate,
    nbody_splits,
    simulate_charged,
)

SMALL = {"num_steps": 501, "sample_every": 100, "keep_frames": (2, 4)}


def _initial_state(num: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    charges = rng.choice(np.array([-1.0, 1.0]), size=(num, 5, 1))
    loc = rng.standard_normal((num, 5, 3))
    vel = rng.standard_normal((num, 5, 3))
    vel *= 0.5 / np.linalg.norm(vel, axis=-1, keepdims=True)
    return loc, vel, charges


def test_shapes_and_dtypes() -> None:
    out = simulate_charged(6, seed=0, **SMALL)
    assert out["loc"].shape == (6, 2, 5, 3)
    assert out["vel"].shape == (6, 2, 5, 3)
    assert out["charges"].shape == (6, 5, 1)
    assert out["loc"].dtype == np.float64
    assert out["frames"].tolist() == [2, 4]
    assert np.isfinite(out["loc"]).all() and np.isfinite(out["vel"]).all()


def test_default_frames_in_range() -> None:
    # Defaults: 5000 steps sampled every 100 give 49 frames (0..48), so 30 and 40 are valid.
    assert nbody._num_frames(5000, 100) == 49
    assert nbody._check_frames((30, 40), 5000, 100) == [30, 40]
    with pytest.raises(ValueError, match="out of range"):
        nbody._check_frames((49,), 5000, 100)


def test_determinism_and_seed_dependence() -> None:
    a = simulate_charged(4, seed=1, **SMALL)
    b = simulate_charged(4, seed=1, **SMALL)
    c = simulate_charged(4, seed=2, **SMALL)
    for k in ("loc", "vel", "charges"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(a["loc"], c["loc"])


def _same_up_to_rounding(a: np.ndarray, b: np.ndarray) -> bool:
    """float64 results that differ by no more than BLAS summation-order rounding (an ulp or so
    after hundreds of steps): relative 1e-12, plus 1e-12 of the largest value for entries
    that pass near zero."""
    return np.allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


def test_chunking_does_not_change_results() -> None:
    a = simulate_charged(7, seed=3, chunk_size=3, **SMALL)  # chunks 3, 3, 1
    b = simulate_charged(7, seed=3, chunk_size=100, **SMALL)
    assert a["loc"].dtype == b["loc"].dtype == np.float64
    for key in ("loc", "vel"):
        assert _same_up_to_rounding(a[key], b[key]), np.abs(a[key] - b[key]).max()
        # The tolerance still catches a chunking bug: two trajectories swapped across a chunk
        # boundary, or one trajectory's state off by one part in 1e9 (a bug of any kind moves
        # the trajectories far more than that after 500 steps).
        swapped = b[key].copy()
        swapped[[2, 3]] = swapped[[3, 2]]
        assert not _same_up_to_rounding(a[key], swapped)
        nudged = b[key].copy()
        nudged[6] *= 1 + 1e-9
        assert not _same_up_to_rounding(a[key], nudged)


def test_charges_and_initial_speed() -> None:
    out = simulate_charged(200, seed=4, num_steps=2, sample_every=1, keep_frames=None)
    q = out["charges"]
    assert set(np.unique(q).tolist()) == {-1.0, 1.0}
    assert 0.35 < (q > 0).mean() < 0.65
    # Initial velocities directly, as `simulate_charged` draws them.
    rng = np.random.default_rng(4)
    rng.choice(np.array([-1.0, 1.0]), size=(200, 5, 1))
    rng.standard_normal((200, 5, 3))
    vel = rng.standard_normal((200, 5, 3))
    vel *= 0.5 / np.linalg.norm(vel, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(vel, axis=-1), 0.5, rtol=0, atol=1e-15)
    # Frame 0 = after one kick and one drift: v0 + dt F(x0) (speed no longer exactly 0.5).
    loc0 = out["loc"][:, 0] - 0.001 * out["vel"][:, 0]
    v0 = out["vel"][:, 0] - 0.001 * charged_forces(loc0, q)
    np.testing.assert_allclose(np.linalg.norm(v0, axis=-1), 0.5, atol=1e-9)


def test_force_antisymmetry_and_momentum() -> None:
    loc, _, charges = _initial_state(50, 5)
    f = charged_forces(loc, charges, max_force=None)
    np.testing.assert_allclose(f.sum(axis=1), 0.0, atol=1e-9 * np.abs(f).max())
    # Two particles: equal and opposite, repulsive for like charges, 1/r^2 magnitude.
    x = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    f2 = charged_forces(x, np.array([[1.0], [1.0]]))
    np.testing.assert_allclose(f2, [[-0.25, 0, 0], [0.25, 0, 0]])
    f3 = charged_forces(x, np.array([[1.0], [-1.0]]))
    np.testing.assert_allclose(f3, [[0.25, 0, 0], [-0.25, 0, 0]])
    # Clipping applies per component after summing.
    close = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]])
    fc = charged_forces(close, np.array([[1.0], [1.0]]), max_force=100.0)
    np.testing.assert_allclose(fc, [[-100.0, 0, 0], [100.0, 0, 0]])


def test_integrate_matches_reference_loop_and_frame_indexing() -> None:
    loc0, vel0, q = _initial_state(3, 6)
    dt = 0.001
    loc, vel = integrate(loc0, vel0, q, num_steps=201, sample_every=100, dt=dt)
    assert loc.shape == (3, 2, 5, 3)
    # Straightforward reference loop: kick, then (drift, save if i % 100 == 0, kick).
    x, v = loc0.copy(), vel0 + dt * charged_forces(loc0, q)
    saved_x, saved_v = [], []
    for i in range(1, 201):
        x = x + dt * v
        if i % 100 == 0:
            saved_x.append(x)
            saved_v.append(v)
        v = v + dt * charged_forces(x, q)
    np.testing.assert_allclose(loc, np.stack(saved_x, 1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(vel, np.stack(saved_v, 1), rtol=0, atol=1e-12)
    # 200 steps only reach drift 100 (steps run 1..199): a single frame.
    loc_b, _ = integrate(loc0, vel0, q, num_steps=200, sample_every=100)
    assert loc_b.shape == (3, 1, 5, 3)
    np.testing.assert_array_equal(loc_b[:, 0], loc[:, 0])
    # Selecting frames equals slicing all frames.
    all_loc, _ = integrate(loc0, vel0, q, num_steps=501, sample_every=100)
    sel_loc, _ = integrate(loc0, vel0, q, num_steps=501, sample_every=100, keep_frames=(3, 1))
    np.testing.assert_array_equal(sel_loc, all_loc[:, [3, 1]])


def test_energy_approximately_conserved() -> None:
    out = simulate_charged(16, seed=0, num_steps=1001, sample_every=10, keep_frames=None)
    loc, vel, q = out["loc"], out["vel"], out["charges"]
    i, j = np.triu_indices(5, 1)
    dmin = np.linalg.norm(loc[:, :, i] - loc[:, :, j], axis=-1).min(axis=(1, 2))
    calm = dmin > 0.4  # no close encounters (and so no clipping)
    assert calm.sum() >= 8
    energy = charged_energy(loc, vel, q[:, None])[calm]
    dist0 = np.linalg.norm(loc[calm, 0][:, i] - loc[calm, 0][:, j], axis=-1)
    scale = 0.5 * (vel[calm, 0] ** 2).sum((1, 2)) + (1.0 / dist0).sum(-1)
    drift = np.abs(energy - energy[:, :1]).max(axis=1) / scale
    assert drift.max() < 1e-2, drift


def test_rotation_translation_permutation_equivariance() -> None:
    loc0, vel0, q = _initial_state(16, 7)
    kw = {"num_steps": 601, "sample_every": 100}
    loc, vel = integrate(loc0, vel0, q, **kw)
    # Component-wise clipping is not rotation equivariant: compare only trajectories where
    # clipping never acted.
    loc_free, _ = integrate(loc0, vel0, q, max_force=None, **kw)
    ok = (loc_free == loc).all(axis=(1, 2, 3))
    assert ok.sum() >= 8
    rng = np.random.default_rng(0)
    rot, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    loc_r, vel_r = integrate(loc0 @ rot.T, vel0 @ rot.T, q, **kw)
    np.testing.assert_allclose(loc_r[ok], (loc @ rot.T)[ok], atol=1e-9)
    np.testing.assert_allclose(vel_r[ok], (vel @ rot.T)[ok], atol=1e-9)
    shift = np.array([1.5, -2.0, 0.25])
    loc_t, vel_t = integrate(loc0 + shift, vel0, q, **kw)
    np.testing.assert_allclose(loc_t[ok], (loc + shift)[ok], atol=1e-9)
    np.testing.assert_allclose(vel_t[ok], vel[ok], atol=1e-9)
    perm = np.array([3, 0, 4, 1, 2])
    loc_p, _ = integrate(loc0[:, perm], vel0[:, perm], q[:, perm], **kw)
    np.testing.assert_allclose(loc_p[ok], loc[ok][:, :, perm], atol=1e-9)


def test_invalid_arguments() -> None:
    loc0, vel0, q = _initial_state(2, 0)
    with pytest.raises(ValueError, match="charges"):
        integrate(loc0, vel0, q[:, :4], num_steps=101, sample_every=100)
    with pytest.raises(ValueError, match="out of range"):
        simulate_charged(2, 0, num_steps=101, sample_every=100, keep_frames=(1,))
    with pytest.raises(ValueError, match="unknown split"):
        NBodyDataset("validation")
    with pytest.raises(ValueError, match="num_train"):
        NBodyDataset("train", num_train=10_001)


def test_cache_round_trip_and_checksum(tmp_path) -> None:
    params = {"num_traj": 5, "seed": 11, **SMALL}
    first = cached_simulate("small", tmp_path, **params)
    meta = json.loads((tmp_path / "small.json").read_text())
    assert meta["params"]["seed"] == 11 and meta["params"]["keep_frames"] == [2, 4]
    assert len(meta["sha256"]) == 64
    assert not list(tmp_path.glob("*.tmp"))
    again = cached_simulate("small", tmp_path, regenerate=False, **params)
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])
    with np.load(tmp_path / "small.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["loc"], first["loc"])
    # Other parameters under the same name: mismatch detected.
    with pytest.raises(NBodyCacheError, match="parameters"):
        cached_simulate("small", tmp_path, regenerate=False, **{**params, "seed": 12})
    other = cached_simulate("small", tmp_path, **{**params, "seed": 12})
    assert not np.allclose(other["loc"], first["loc"])


def test_corrupted_cache_detected(tmp_path) -> None:
    params = {"num_traj": 3, "seed": 13, **SMALL}
    first = cached_simulate("c", tmp_path, **params)
    path = tmp_path / "c.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(NBodyCacheError, match="sha256"):
        cached_simulate("c", tmp_path, regenerate=False, **params)
    fixed = cached_simulate("c", tmp_path, **params)  # regenerates
    np.testing.assert_array_equal(fixed["loc"], first["loc"])
    cached_simulate("c", tmp_path, regenerate=False, **params)  # now valid again
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(NBodyCacheError, match="sidecar"):
        cached_simulate("c", tmp_path, regenerate=False, **params)


@pytest.fixture
def small_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the split definitions (frames 30 and 40 need 4101+ steps; keep few traj)."""
    monkeypatch.setattr(
        nbody,
        "SPLITS",
        {
            "train": {"num_traj": 12, "seed": 1},
            "val": {"num_traj": 4, "seed": 2},
            "test": {"num_traj": 5, "seed": 3},
        },
    )


def test_dataset_items_and_collate(tmp_path, small_splits) -> None:
    splits = nbody_splits(tmp_path, num_train=10)
    assert {k: len(v) for k, v in splits.items()} == {"train": 10, "val": 4, "test": 5}
    item = splits["train"][0]
    shapes = {k: tuple(v.shape) for k, v in item.items()}
    assert shapes == {
        "loc": (5, 3),
        "vel": (5, 3),
        "charges": (5, 1),
        "edge_attr": (5, 5, 1),
        "target": (5, 3),
    }
    assert all(v.dtype == torch.float32 for v in item.values())
    q = item["charges"][:, 0]
    expected_edges = torch.outer(q, q) * (1 - torch.eye(5))
    torch.testing.assert_close(item["edge_attr"][..., 0], expected_edges)
    assert (torch.diagonal(item["edge_attr"][..., 0]) == 0).all()
    batch = next(iter(torch.utils.data.DataLoader(splits["val"], batch_size=4)))
    assert batch["loc"].shape == (4, 5, 3) and batch["edge_attr"].shape == (4, 5, 5, 1)
    # Frames 30 (input) and 40 (target) of the cached split.
    raw = nbody.load_split("train", tmp_path)
    assert raw["frames"].tolist() == [30, 40]
    torch.testing.assert_close(splits["train"].target, torch.from_numpy(raw["loc"][:10, 1]).float())
    with pytest.raises(ValueError, match="num_train"):
        NBodyDataset("train", tmp_path, num_train=13)
