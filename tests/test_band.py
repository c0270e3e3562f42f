"""The banded soft permutation: band ops against dense matrices, the banded relaxation
against the dense one, the straight-through action with a band, and the sampler option."""

from __future__ import annotations

import pytest
import torch

from lps.fields import FieldType
from lps.groups import Perm, Permutation
from lps.groups.band import BandedSoft, band_grad, band_outer, sorted_dense
from lps.samplers import scores_to_perm, sort_scores
from lps.samplers.relax import _relax, band_mass, sinkhorn_band, softsort_band
from lps.testing import assert_equivariant
from tests.test_samplers import _dense_relaxed, sn_model

pytestmark = pytest.mark.usefixtures("single_thread")


def _masked_scores(seed: int, sizes, n: int):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(n)[None, :] < torch.tensor(sizes)[:, None]
    raw = torch.randn(len(sizes), n, generator=gen, dtype=torch.float64) * mask
    return raw / (raw * mask).norm(dim=1, keepdim=True), mask, gen


def test_band_layout_and_outer_product() -> None:
    gen = torch.Generator().manual_seed(0)
    m, n, w = 3, 9, 2
    values = torch.randn(m, n, 2 * w + 1, generator=gen, dtype=torch.float64)
    q = sorted_dense(values)
    # Entries outside [0, N) are not stored: the dense Q has exactly the in-range band.
    offsets = torch.arange(n)[None, :] - torch.arange(n)[:, None]
    assert (q[:, offsets.abs() > w] == 0).all()
    u = torch.randn(m, n, 4, generator=gen, dtype=torch.float64)
    v = torch.randn(m, n, 4, generator=gen, dtype=torch.float64)
    outer = band_outer(u, v, w)
    assert torch.allclose(sorted_dense(outer), (u @ v.transpose(1, 2)) * (offsets.abs() <= w))


@pytest.mark.parametrize("pair", [False, True])
def test_band_grad_is_the_gradient_on_the_band(pair: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    m, n, w = 2, 7, 2
    values = torch.randn(m, n, 2 * w + 1, generator=gen, dtype=torch.float64)
    shape = (m, n, n, 3) if pair else (m, n, 3)
    u = torch.randn(shape, generator=gen, dtype=torch.float64)
    v = torch.randn(shape, generator=gen, dtype=torch.float64)
    leaf = values.clone().requires_grad_(True)
    q = sorted_dense(leaf)
    relaxed = torch.einsum("mij,mjb...->mib...", q, v)
    if pair:
        relaxed = torch.einsum("mib...,mab->mia...", relaxed, q)
    (grad,) = torch.autograd.grad((u * relaxed).sum(), leaf)
    assert torch.allclose(band_grad(values, u, v, pair), grad)


def test_full_band_relaxation_equals_dense() -> None:
    """With w = N - 1 the band holds every entry: the same matrix, entropy and gradients."""
    scores, mask, gen = _masked_scores(2, [10, 7, 3, 1], 10)
    s = scores.float().requires_grad_(True)
    index = sort_scores(scores, mask)
    weight = torch.randn(4, 10, 10, generator=gen)
    dense, ent_d = _relax(s, index, mask, 0.2, 10)
    band, ent_b = _relax(s, index, mask, 0.2, 10, band=9)
    band_dense = BandedSoft(band).to_dense(index)
    assert (band_dense - dense).abs().max() < 1e-6 and torch.allclose(ent_b, ent_d)
    g_d = torch.autograd.grad((dense * weight).sum() + ent_d, s)[0]
    g_b = torch.autograd.grad((band_dense * weight).sum() + ent_b, s)[0]
    assert (g_b - g_d).abs().max() < 1e-5 * g_d.abs().max()


def test_band_mass_of_dense_relaxation() -> None:
    """The share of a dense relaxation's mass within w sorted positions: 1 for a matrix that
    is zero outside the band, between 0 and 1 for a wide one, growing with w."""
    scores, mask, _ = _masked_scores(7, [20, 15, 9], 20)
    index = sort_scores(scores, mask)
    banded = BandedSoft(_relax(scores.float(), index, mask, 0.5, 10, band=3)[0]).to_dense(index)
    assert abs(float(band_mass(banded, index, mask, 3)) - 1.0) < 1e-6
    dense = _relax(scores.float(), index, mask, 0.5, 10)[0]
    shares = [float(band_mass(dense, index, mask, w)) for w in (0, 3, 19)]
    assert 0 < shares[0] < shares[1] < shares[2] and abs(shares[2] - 1.0) < 1e-6


def test_band_sinkhorn_doubly_stochastic_with_padding() -> None:
    n, w = 12, 3
    scores, mask, _ = _masked_scores(3, [12, 9, 5, 2, 1], n)
    index = sort_scores(scores, mask)
    logits = softsort_band(scores, index, mask, 0.05, w)
    soft = BandedSoft(sinkhorn_band(logits, 10)).to_dense(index)
    real = mask[:, :, None] & mask[:, None, :]
    pad_diag = torch.eye(n, dtype=torch.bool) & ~mask[:, :, None]
    assert (soft >= 0).all() and torch.isfinite(soft).all()
    assert ((soft * real).sum(1) - mask.float()).abs().max() < 1e-5  # columns: last step
    assert ((soft * real).sum(2) - mask.float()).abs().max() < 1e-2
    assert torch.equal(soft[pad_diag], torch.ones(int(pad_diag.sum())))
    assert soft[~real & ~pad_diag].abs().max() == 0.0
    # Nothing beyond w sorted positions: column p[r] of row i is zero for |r - i| > w.
    q = torch.gather(soft, 2, index.unsqueeze(1).expand(-1, n, -1))
    offsets = (torch.arange(n)[None, :] - torch.arange(n)[:, None]).abs()
    assert q[:, offsets > w].abs().max() == 0.0


@pytest.mark.parametrize(
    "ftype, shape",
    [(FieldType.NODE, (8, 3)), (FieldType.PAIR, (8, 8, 2)), (FieldType.NODE_VECTOR, (8, 2, 3))],
)
@pytest.mark.parametrize("inverse", [True, False])
@pytest.mark.parametrize("of_inverse", [False, True])
def test_banded_straight_through_gradients(ftype, shape, inverse, of_inverse) -> None:
    """The action with a band: value = gather; d/dx = exact gather gradient; d/dband = the
    gradient of the dense relaxed action through the band's dense matrix. Also for the
    inverse element (transposed band) and for both directions of the action."""
    gen = torch.Generator().manual_seed(4)
    m, n, w = 3, shape[0], 2
    index = torch.stack([torch.randperm(n, generator=gen) for _ in range(m)])
    values = torch.rand(m, n, 2 * w + 1, generator=gen, dtype=torch.float64)
    values = values.requires_grad_(True)
    x = torch.randn(m, *shape, generator=gen, dtype=torch.float64, requires_grad=True)
    group = Permutation()
    perm = Perm(index, BandedSoft(values))
    hard = Perm(index)
    if of_inverse:
        perm, hard = group.inverse(perm), group.inverse(hard)
    y = group.act(perm, x, ftype, inverse=inverse)
    assert torch.equal(y.detach(), group.act(hard, x.detach(), ftype, inverse=inverse))
    weight = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    grad_x, grad_band = torch.autograd.grad((y * weight).sum(), (x, values))

    x_ref = x.detach().clone().requires_grad_(True)
    (group.act(hard, x_ref, ftype, inverse=inverse) * weight).sum().backward()
    assert torch.equal(grad_x, x_ref.grad)
    values_ref = values.detach().clone().requires_grad_(True)
    dense = Perm(hard.index, BandedSoft(values_ref, of_inverse)).soft_matrix()
    mat = dense if inverse else dense.transpose(1, 2)
    axes = (1, 2) if ftype == FieldType.PAIR else (1,)
    (_dense_relaxed(x.detach(), mat, axes) * weight).sum().backward()
    assert torch.allclose(grad_band, values_ref.grad, atol=1e-12)


def test_band_keeps_less_for_backward_than_one_dense_matrix() -> None:
    scores, mask, _ = _masked_scores(5, [60, 50, 40, 30], 60)
    s = scores.float().requires_grad_(True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel() * t.element_size()) or t, lambda t: t
    ):
        perm, _ = scores_to_perm(s, mask, tau=0.05, sinkhorn_iters=10, band=4)
    assert isinstance(perm.soft, BandedSoft) and perm.soft.values.shape == (4, 60, 9)
    assert sum(saved) < 4 * 60 * 60 * 4 / 4  # a quarter of one dense (M, N, N) fp32 matrix


def test_band_at_least_n_minus_one_uses_the_dense_matrix() -> None:
    scores = torch.randn(2, 5, requires_grad=True)
    perm, _ = scores_to_perm(scores, None, band=4)
    assert isinstance(perm.soft, torch.Tensor) and perm.soft.shape == (2, 5, 5)
    perm, _ = scores_to_perm(scores, None, band=3)
    assert isinstance(perm.soft, BandedSoft)
    with pytest.raises(ValueError, match="band must be >= 0"):
        scores_to_perm(scores, None, band=-1)


def _banded_model(band):
    return sn_model(n=10, seed=6, relax_band=band)


def test_sampler_with_band_trains_and_stays_equivariant() -> None:
    model, fields, mask = _banded_model(2)
    dense_model, _, _ = _banded_model(None)
    dense_model.load_state_dict(model.state_dict())
    model.train()
    dense_model.train()
    noise = model.sample_noise(mask=mask, **fields)
    out = model(mask=mask, noise=noise, return_samples=True, **fields)
    ref = dense_model(mask=mask, noise=noise, return_samples=True, **fields)
    assert isinstance(out.element.soft, BandedSoft)
    # The band changes only the gradient path: the same elements and predictions.
    assert torch.equal(out.element.index, ref.element.index)
    for name in ref.prediction:
        assert torch.allclose(out.prediction[name], ref.prediction[name])
    loss = out.prediction["node"].square().mean() + out.prediction["g"].square().mean()
    loss.backward()
    grads = [p.grad for p in model.sampler.parameters()]
    assert model.sampler.score.weight.grad.abs().sum() > 0
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    model.eval()
    gen = torch.Generator().manual_seed(0)
    assert assert_equivariant(model, fields, mask, tolerance=1e-4, generator=gen) <= 1e-4


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_relax_band_bad_value_is_named(bad) -> None:
    with pytest.raises(ValueError, match="relax_band"):
        _banded_model(bad)
