"""Neural-process training plumbing: the pre-drawn task pool and the ConvCNP frame."""

from __future__ import annotations

import pytest
import torch

from lps.np import sample_tasks
from lps.np.base import canonical_shift
from lps.np.train import TaskPool, cached_pool, save_pool


def test_pool_serves_every_task_once_per_pass(tmp_path):
    save_pool(tmp_path / "a.pt", 6, seed=1, chunk=4)
    save_pool(tmp_path / "b.pt", 4, seed=2)
    pool = TaskPool([tmp_path / "a.pt", tmp_path / "b.pt"])
    assert pool.size == 10
    g = torch.Generator().manual_seed(0)
    seen = torch.cat([pool(5, g).yt[:, 0, 0] for _ in range(2)])
    assert torch.equal(seen.sort().values, pool.data["yt"][:, 0, 0].sort().values)
    t = pool(3, g)  # a new pass: reshuffled
    assert t.xc.shape == (3, 64, 1) and t.xt.shape == (3, 128, 1) and t.mask.dtype == torch.bool
    assert pool.served == 13
    with pytest.raises(ValueError, match="larger than the pool"):
        pool(11, g)
    with pytest.raises(ValueError, match="no pool files"):
        TaskPool([])


def test_pool_tasks_match_the_generator(tmp_path):
    save_pool(tmp_path / "a.pt", 3, seed=5)
    direct = sample_tasks(3, torch.Generator().manual_seed(5))
    assert torch.equal(torch.load(tmp_path / "a.pt")["yt"], direct.yt)


def test_cached_pool_draws_once_and_leaves_no_temporary_files(tmp_path):
    path = cached_pool(tmp_path / "pools", 4, seed=3)
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == [path.name]
    stamp = path.stat().st_mtime_ns
    assert cached_pool(tmp_path / "pools", 4, seed=3) == path
    assert path.stat().st_mtime_ns == stamp  # not drawn again
    direct = sample_tasks(4, torch.Generator().manual_seed(3))
    assert torch.equal(TaskPool([path]).data["yt"], direct.yt)


def test_convcnp_frame_is_the_context_centroid():
    t = sample_tasks(3, torch.Generator().manual_seed(0))
    t.mask[2] = False  # an empty context: the targets' centroid
    shift = canonical_shift(t.xc, t.xt, t.mask)[:, 0, 0]
    m = t.mask[0]
    assert shift[0].item() == pytest.approx(t.xc[0, m, 0].double().mean().item(), abs=1e-6)
    assert shift[2].item() == pytest.approx(t.xt[2, :, 0].double().mean().item(), abs=1e-6)
    moved = canonical_shift(t.xc, t.xt + 3.0, t.mask)[:, 0, 0]  # targets do not move the frame
    assert torch.equal(moved[:2], shift[:2])
    assert moved[2].item() == pytest.approx(shift[2].item() + 3.0, abs=1e-6)


def test_equivariant_ceiling():
    from lps.np.gp import equivariant_ceiling, gp_loglik

    t = sample_tasks(6, torch.Generator().manual_seed(4), dtype=torch.float64)
    t.xt, t.yt = t.xt[:, :16], t.yt[:, :16]
    t.mask[0] = False  # empty context: the prior predictive, the same for both
    t.xc[1, 0, 0], t.xc[1, 1, 0] = -2.0, 2.0  # contexts span [-2, 2]: the offset is known
    t.xc[2] = t.xc[2].abs()  # contexts on [0, 2], one at 2: offsets from 0 up, and a target
    t.xc[2, 0, 0], t.mask[2, 0], t.xt[2, 0, 0] = 2.0, True, -3.999  # at the edge
    base = equivariant_ceiling(t, 5)
    assert bool(torch.isfinite(base).all())
    moved = equivariant_ceiling(t.shifted(3.5), 5)
    assert torch.allclose(base, moved, atol=1e-6)  # a translation tells it nothing
    full = gp_loglik(t)
    assert torch.allclose(base[:2], full[:2], atol=1e-9)
    # tasks 3-5 are as drawn: there the absolute position is worth something
    assert float(full[3:].mean()) > float(base[3:].mean())
