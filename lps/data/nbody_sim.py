"""The charged-particle n-body simulator (NRI's ``ChargedParticlesSim``, 3-D, vectorised).

The physics behind :mod:`lps.data.nbody` (see its docstring for the model and the
integration scheme), which re-exports these names and holds the splits, caches and dataset.
Outputs are bit-identical to what ``lps.data.nbody`` always generated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FRAME_IN = 30  # input frame (positions + velocities)
FRAME_OUT = 40  # target frame (positions)
_DEFAULT_CHUNK = 2000


# --------------------------------------------------------------------------------------------
# Physics
# --------------------------------------------------------------------------------------------


def charged_forces(
    loc: np.ndarray,
    charges: np.ndarray,
    max_force: float | None = 100.0,
    interaction_strength: float = 1.0,
) -> np.ndarray:
    """Reference Coulomb-like forces ``F_i = k sum_{j!=i} q_i q_j (x_i - x_j) / |x_i - x_j|^3``.

    Args:
        loc: positions, shape ``(..., n, dim)``.
        charges: charges, shape ``(..., n, 1)``.
        max_force: each component of the summed force is clipped to ``+-max_force``;
            ``None`` disables clipping.
        interaction_strength: the constant ``k``.

    Returns:
        forces, shape ``(..., n, dim)`` (unit masses, so also accelerations).
    """
    loc = np.asarray(loc, dtype=np.float64)
    charges = np.asarray(charges, dtype=np.float64)
    n = loc.shape[-2]
    diff = loc[..., :, None, :] - loc[..., None, :, :]  # (..., n, n, dim): x_i - x_j
    r2 = (diff * diff).sum(-1)
    off_diag = ~np.eye(n, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_r3 = np.where(off_diag, 1.0 / (r2 * np.sqrt(r2)), 0.0)
    qq = charges @ np.swapaxes(charges, -1, -2)  # (..., n, n)
    forces = ((interaction_strength * qq * inv_r3)[..., None] * diff).sum(-2)
    if max_force is not None:
        forces = np.clip(forces, -max_force, max_force)
    return forces


def charged_energy(
    loc: np.ndarray,
    vel: np.ndarray,
    charges: np.ndarray,
    interaction_strength: float = 1.0,
) -> np.ndarray:
    """Total energy ``0.5 sum |v_i|^2 + k sum_{i<j} q_i q_j / |x_i - x_j|`` (unit masses).

    Args:
        loc: positions ``(..., n, dim)``; vel: velocities ``(..., n, dim)``;
        charges: ``(..., n, 1)``, broadcastable against the leading dims of ``loc``.

    Returns:
        energies, shape ``(...)``.
    """
    loc = np.asarray(loc, dtype=np.float64)
    vel = np.asarray(vel, dtype=np.float64)
    charges = np.asarray(charges, dtype=np.float64)
    n = loc.shape[-2]
    kinetic = 0.5 * (vel * vel).sum((-1, -2))
    i, j = np.triu_indices(n, 1)
    dist = np.linalg.norm(loc[..., i, :] - loc[..., j, :], axis=-1)  # (..., P)
    qq = charges[..., i, 0] * charges[..., j, 0]
    potential = (interaction_strength * qq / dist).sum(-1)
    return kinetic + potential


def _num_frames(num_steps: int, sample_every: int) -> int:
    return (num_steps - 1) // sample_every


def _check_frames(
    keep_frames: Sequence[int] | None, num_steps: int, sample_every: int
) -> list[int]:
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if sample_every < 1:
        raise ValueError(f"sample_every must be >= 1, got {sample_every}")
    total = _num_frames(num_steps, sample_every)
    frames = list(range(total)) if keep_frames is None else [int(f) for f in keep_frames]
    if not frames:
        raise ValueError(
            f"no frames to keep (num_steps={num_steps}, sample_every={sample_every} give "
            f"{total} frames)"
        )
    bad = [f for f in frames if not 0 <= f < total]
    if bad:
        raise ValueError(
            f"keep_frames {bad} out of range: num_steps={num_steps}, sample_every={sample_every} "
            f"give frames 0..{total - 1}"
        )
    if len(set(frames)) != len(frames):
        raise ValueError(f"keep_frames has duplicates: {frames}")
    return frames


def _integrate_chunk(
    x: np.ndarray,
    v: np.ndarray,
    qq: np.ndarray,
    pair_diff: np.ndarray,
    pair_scatter: np.ndarray,
    save_at: dict[int, int],
    out_loc: np.ndarray,
    out_vel: np.ndarray,
    dt: float,
    max_force: float | None,
) -> None:
    """Integrate one chunk in place; layout ``(dim, n, C)`` with trajectories last (contiguous).

    ``qq`` is ``(P, C)`` (strength times charge products of the ``P`` unordered pairs),
    ``pair_diff`` ``(P, n)`` maps positions to pair differences ``x_i - x_j`` and
    ``pair_scatter = pair_diff.T`` sums pair forces back onto particles (antisymmetric).
    Frames are written to ``out_loc/out_vel`` of shape ``(C, F, n, dim)``.
    """
    dim, n, c = x.shape
    p = qq.shape[0]
    d = np.empty((dim, p, c))
    sq = np.empty((dim, p, c))
    r2 = np.empty((p, c))
    s = np.empty((p, c))
    kick = np.empty((dim, n, c))
    drift = np.empty((dim, n, c))

    def add_kick() -> None:
        np.matmul(pair_diff, x, out=d)  # x_i - x_j, exact (coefficients are +-1 / 0)
        np.multiply(d, d, out=sq)
        np.add(sq[0], sq[1] if dim > 1 else 0.0, out=r2)
        for k in range(2, dim):  # loop over coordinates (3-D: one iteration)
            np.add(r2, sq[k], out=r2)
        np.sqrt(r2, out=s)
        np.multiply(s, r2, out=s)
        np.divide(qq, s, out=s)  # k q_i q_j / r^3
        np.multiply(d, s, out=d)  # pair force on i (and minus it on j)
        np.matmul(pair_scatter, d, out=kick)  # summed force per particle
        if max_force is not None:
            np.clip(kick, -max_force, max_force, out=kick)
        np.multiply(kick, dt, out=kick)
        np.add(v, kick, out=v)

    last = max(save_at)
    add_kick()
    for i in range(1, last + 1):
        np.multiply(v, dt, out=drift)
        np.add(x, drift, out=x)
        slot = save_at.get(i)
        if slot is not None:
            out_loc[:, slot] = x.transpose(2, 1, 0)
            out_vel[:, slot] = v.transpose(2, 1, 0)
        if i < last:  # the kick after the last kept frame cannot change any kept frame
            add_kick()


def integrate(
    loc0: np.ndarray,
    vel0: np.ndarray,
    charges: np.ndarray,
    num_steps: int = 5000,
    sample_every: int = 100,
    dt: float = 0.001,
    max_force: float | None = 100.0,
    keep_frames: Sequence[int] | None = None,
    *,
    interaction_strength: float = 1.0,
    chunk_size: int = _DEFAULT_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate charged-particle trajectories from explicit initial states (float64).

    Scheme (as in the NRI/EGNN reference): ``v += dt F(x)``; then for ``i = 1 .. num_steps-1``:
    ``x += dt v``; save frame ``i // sample_every - 1`` if ``i % sample_every == 0``;
    ``v += dt F(x)``. Vectorised over trajectories (processed in chunks of ``chunk_size``);
    only the kept frames are stored and stepping stops after the last kept frame.

    Args:
        loc0: initial positions ``(T, n, dim)``.
        vel0: initial velocities ``(T, n, dim)``.
        charges: ``(T, n, 1)``.
        keep_frames: frame indices to return (``None``: all ``(num_steps-1)//sample_every``).
        max_force: component-wise force clip (``None``: no clipping).

    Returns:
        ``(loc, vel)``, each ``(T, F, n, dim)`` for the ``F`` kept frames in the given order.
    """
    loc0 = np.asarray(loc0, dtype=np.float64)
    vel0 = np.asarray(vel0, dtype=np.float64)
    charges = np.asarray(charges, dtype=np.float64)
    if loc0.ndim != 3 or vel0.shape != loc0.shape:
        raise ValueError(
            f"loc0 and vel0 must both have shape (T, n, dim), got {loc0.shape} and {vel0.shape}"
        )
    t, n, dim = loc0.shape
    if charges.shape != (t, n, 1):
        raise ValueError(f"charges must have shape {(t, n, 1)}, got {charges.shape}")
    if n < 2:
        raise ValueError(f"need at least 2 particles, got {n}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    frames = _check_frames(keep_frames, num_steps, sample_every)
    save_at = {(f + 1) * sample_every: k for k, f in enumerate(frames)}

    pi, pj = np.triu_indices(n, 1)
    pair_diff = np.zeros((len(pi), n))
    pair_diff[np.arange(len(pi)), pi] = 1.0
    pair_diff[np.arange(len(pi)), pj] = -1.0
    pair_scatter = np.ascontiguousarray(pair_diff.T)
    q = charges[..., 0]
    qq_all = interaction_strength * q[:, pi] * q[:, pj]  # (T, P)

    out_loc = np.empty((t, len(frames), n, dim))
    out_vel = np.empty((t, len(frames), n, dim))
    for start in range(0, t, chunk_size):
        sl = slice(start, min(start + chunk_size, t))
        # A chunk of one trajectory is padded to two: numpy/BLAS take a matrix-vector path for
        # a single column whose summation order differs, and results should not depend on
        # how trajectories are chunked.
        idx = np.arange(sl.start, sl.stop) if sl.stop - sl.start > 1 else np.full(2, sl.start)
        x = np.ascontiguousarray(loc0[idx].transpose(2, 1, 0))
        v = np.ascontiguousarray(vel0[idx].transpose(2, 1, 0))
        qq = np.ascontiguousarray(qq_all[idx].T)
        chunk_loc = np.empty((len(idx), len(frames), n, dim))
        chunk_vel = np.empty((len(idx), len(frames), n, dim))
        _integrate_chunk(
            x, v, qq, pair_diff, pair_scatter, save_at, chunk_loc, chunk_vel, dt, max_force
        )
        out_loc[sl] = chunk_loc[: sl.stop - sl.start]
        out_vel[sl] = chunk_vel[: sl.stop - sl.start]
    return out_loc, out_vel


def simulate_charged(
    num_traj: int,
    seed: int,
    n_particles: int = 5,
    dim: int = 3,
    num_steps: int = 5000,
    sample_every: int = 100,
    dt: float = 0.001,
    vel_norm: float = 0.5,
    max_force: float | None = 100.0,
    keep_frames: Sequence[int] | None = (FRAME_IN, FRAME_OUT),
    *,
    loc_std: float = 1.0,
    interaction_strength: float = 1.0,
    chunk_size: int = _DEFAULT_CHUNK,
) -> dict[str, np.ndarray]:
    """Sample initial conditions with ``np.random.default_rng(seed)`` and integrate.

    Draw order: charges ``(T, n, 1)`` uniform on {-1, +1}, positions ``N(0, loc_std^2)``
    ``(T, n, dim)``, velocity directions ``N(0, 1)`` ``(T, n, dim)`` rescaled to norm
    ``vel_norm``. All draws happen up front, so results do not depend on ``chunk_size``.

    Returns:
        ``loc`` ``(T, F, n, dim)`` and ``vel`` ``(T, F, n, dim)`` at the kept frames,
        ``charges`` ``(T, n, 1)``, ``frames`` ``(F,)`` (the kept frame indices); all float64
        except ``frames`` (int64). ``keep_frames=None`` keeps every frame.
    """
    if num_traj < 1:
        raise ValueError(f"num_traj must be >= 1, got {num_traj}")
    if n_particles < 2 or dim < 1:
        raise ValueError(f"need n_particles >= 2 and dim >= 1, got {n_particles}, {dim}")
    frames = _check_frames(keep_frames, num_steps, sample_every)
    rng = np.random.default_rng(seed)
    charges = rng.choice(np.array([-1.0, 1.0]), size=(num_traj, n_particles, 1))
    loc0 = rng.standard_normal((num_traj, n_particles, dim)) * loc_std
    vel0 = rng.standard_normal((num_traj, n_particles, dim))
    vel0 *= vel_norm / np.linalg.norm(vel0, axis=-1, keepdims=True)
    loc, vel = integrate(
        loc0,
        vel0,
        charges,
        num_steps=num_steps,
        sample_every=sample_every,
        dt=dt,
        max_force=max_force,
        keep_frames=frames,
        interaction_strength=interaction_strength,
        chunk_size=chunk_size,
    )
    return {"loc": loc, "vel": vel, "charges": charges, "frames": np.asarray(frames, np.int64)}
