"""Exact frame averaging: the frame is enumerated, so the Monte-Carlo error (fresh noise on
both sides) is at float precision where the sampled frame left 1e-2 to 1e-1."""

from __future__ import annotations

import pytest
import torch

from lps import symmetrize
from lps.backbones import FlatMLP
from lps.fields import FieldType
from lps.samplers import build_sampler
from lps.testing import equivariance_error, error_vs_k

pytestmark = pytest.mark.usefixtures("single_thread")

FRAME_SIZE = {"O(3)": 8, "SO(3)": 4, "E(3)": 8, "SE(3)": 4, "S_n x E(3)": 8, "S_n x SO(3)": 4}


def cloud_model(gname: str, n: int = 6, exact: bool = True, dtype=torch.float32):
    torch.manual_seed(0)
    base = FlatMLP({"pos": (n, 3)}, {"inv": (2,), "out": (n, 3)}, hidden=32).to(dtype)
    outputs = {"inv": "invariant", "out": "position"}
    return symmetrize(
        base, gname, {"pos": "position"}, outputs, "frame", sampler_args={"exact": exact}
    ).eval()


def generic_cloud(batch: int = 3, n: int = 6, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(batch, n, 3, generator=torch.Generator().manual_seed(5), dtype=dtype)


@pytest.mark.parametrize("gname", list(FRAME_SIZE))
def test_exact_frame_has_no_monte_carlo_error(gname) -> None:
    """Measured (2-core CPU, this test's inputs): exact 7e-8 to 2.3e-7 for every group;
    sampled (exact=False), k=64: 1.3e-2 (E(3), SE(3), S_n x E(3)) to 0.46 (O(3))."""
    pos = generic_cloud()
    model = cloud_model(gname)
    assert model.num_samples() == model.num_samples(64) == FRAME_SIZE[gname]
    gen = torch.Generator().manual_seed(0)
    errs = dict(error_vs_k(model, {"pos": pos}, ks=(1, 64), n_trials=3, generator=gen))
    assert max(errs.values()) < 1e-5, errs
    sampled = cloud_model(gname, exact=False)
    assert sampled.num_samples(64) == 64
    err = dict(error_vs_k(sampled, {"pos": pos}, ks=(64,), n_trials=3, generator=gen))[64]
    assert err > 1e-3, err  # the flag turns the Monte-Carlo frame back on


@pytest.mark.parametrize("gname", ["O(3)", "S_n x SE(3)"])
def test_exact_frame_float64(gname) -> None:
    pos = generic_cloud(dtype=torch.float64)
    model = cloud_model(gname, dtype=torch.float64)
    out = model(pos=pos, return_samples=True)
    assert out.prediction["out"].dtype == torch.float64
    gen = torch.Generator().manual_seed(0)
    err = equivariance_error(model, {"pos": pos}, coupled_noise=False, generator=gen)
    assert err < 1e-12, err


@pytest.mark.parametrize("gname", ["O(3)", "SO(3)"])
def test_exact_frame_lists_every_sign_pattern(gname) -> None:
    """The k elements of an input are its eigenvectors with every sign pattern (det +1 ones
    for SO(3)): R_0^T R_j is diagonal, +-1, and all k are different."""
    sampler = build_sampler("frame", gname)
    k = sampler.num_samples(1)
    out = sampler({"pos": generic_cloud(2)}, {"pos": FieldType.POSITION}, None, k)
    r = out.element.matrix.double().view(2, k, 3, 3)
    rel = r[:, :1].transpose(-1, -2) @ r
    signs = torch.diagonal(rel, dim1=-2, dim2=-1)
    assert (rel - torch.diag_embed(signs)).abs().max() < 1e-5
    assert (signs.abs() - 1).abs().max() < 1e-5
    for b in range(2):
        assert len({tuple(s) for s in signs[b].round().tolist()}) == k
    if gname == "SO(3)":
        assert (torch.linalg.det(r) > 0).all()


def graph(n: int, edges: list[tuple[int, int]], batch: int = 2) -> torch.Tensor:
    adj = torch.zeros(n, n)
    for i, j in edges:
        adj[i, j] = adj[j, i] = 1.0
    return adj[None, ..., None].expand(batch, n, n, 1).clone()


GRAPHS = {  # orderings of the tie classes: 2 * 2 * 2 = 8, 3! = 6, 2 * 2 = 4
    "path6": [(i, i + 1) for i in range(5)],
    "claw_with_tail": [(0, 1), (0, 2), (0, 3), (0, 4), (4, 5)],
    "path5": [(i, i + 1) for i in range(4)],
}


def sn_model(n: int, exact: bool = True):
    torch.manual_seed(0)
    base = FlatMLP({"x": (n, 2), "adj": (n, n, 1)}, (n, 3), hidden=32)
    inputs = {"x": "node", "adj": "pair"}
    args = {"exact": exact}
    return symmetrize(base, "S_n", inputs, "node", "frame", sampler_args=args).eval()


@pytest.mark.parametrize("name", list(GRAPHS))
def test_sn_frame_enumerates_small_tie_classes(name) -> None:
    """Featureless graphs with automorphisms: every ordering of the tied nodes is listed
    (weighted when they do not fill the slots evenly), so the average is exact. Measured
    (2-core CPU): exact 1.5e-8 to 3.9e-8; sampled (exact=False), k=64: 0.087 to 0.32."""
    n = 7
    mask = (torch.arange(n) < 6).expand(2, n).clone()
    fields = {"x": torch.zeros(2, n, 2), "adj": graph(n, GRAPHS[name])}
    model = sn_model(n)
    assert model.num_samples() == 2**3 * 8
    out = model(mask=mask, return_samples=True, **fields)
    assert torch.allclose(out.weights.sum(1), torch.ones(2, dtype=out.weights.dtype))
    weighted = (out.weights.unsqueeze(-1).unsqueeze(-1).float() * out.samples).sum(1)
    assert torch.allclose(out.prediction, weighted, atol=1e-6)
    gen = torch.Generator().manual_seed(0)
    err = dict(error_vs_k(model, fields, ks=(1,), mask=mask, n_trials=3, generator=gen))[1]
    assert err < 1e-5, err
    sampled = sn_model(n, exact=False)
    err = dict(error_vs_k(sampled, fields, ks=(64,), mask=mask, n_trials=3, generator=gen))[64]
    assert err > 1e-3, err


def test_sn_frame_uneven_slots_are_weighted() -> None:
    """3! = 6 orderings in 8 slots: orderings 0 and 1 fill two slots each (1/12 a slot)."""
    n = 6
    fields = {"x": torch.zeros(1, n, 2), "adj": graph(n, GRAPHS["claw_with_tail"], 1)}
    out = sn_model(n)(return_samples=True, **fields)
    first = out.weights[0, :8] * 8  # the first sign pattern's slots, scaled to sum to 1
    want = torch.tensor([1, 1, 2, 2, 2, 2, 1, 1], dtype=first.dtype) / 12
    assert torch.allclose(first, want)


def test_sn_frame_many_ties_fall_back_to_draws() -> None:
    """A 6-cycle has 720 orderings of its tied nodes, more than the slots: they are drawn,
    uniformly weighted, and every sort is still a bijection."""
    n = 6
    fields = {"x": torch.zeros(2, n, 2), "adj": graph(n, [(i, (i + 1) % n) for i in range(n)])}
    model = sn_model(n)
    out = model(return_samples=True, **fields)
    k = model.num_samples()
    assert torch.allclose(out.weights, torch.full_like(out.weights, 1 / k))
    idx = out.element.index
    assert (idx.sort(1).values == torch.arange(n)).all()
    assert len({tuple(r) for r in idx.tolist()}) > k // 2


def test_frame_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="exact must be True or False"):
        build_sampler("frame", "O(3)", exact="yes")
    with pytest.raises(ValueError, match="max_orderings"):
        build_sampler("frame", "S_n", max_orderings=0)
    sampler = build_sampler("frame", "O(3)")
    with pytest.raises(ValueError, match="enumerates 8 elements per input"):
        sampler({"pos": generic_cloud(1)}, {"pos": FieldType.POSITION}, None, 3)
