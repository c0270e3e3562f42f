"""lps.marglik: Laplace evidence vs. closed form, equivariance of paths, factored layers, errors."""

import math

import pytest
import torch

from lps.data.marglik import digits_in_quadrants, set_task
from lps.marglik import (
    ConvPath,
    DensePath,
    FactoredPath,
    MarglikError,
    MarglikSettings,
    Precisions,
    Readout,
    ResidualConvLayer,
    ResidualImageNet,
    ResidualSetNet,
    aps_subsample,
    collect_curvature,
    hyper_step,
    layer_readout,
    log_marglik,
    prior_rms,
    save_checkpoint,
    train_marglik,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def _blr(delta: float, sigma: float = 0.7, n: int = 40, p: int = 5):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, p, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(p, 1, generator=gen, dtype=torch.float64) + 0.3 * torch.randn(
        n, 1, generator=gen, dtype=torch.float64
    )
    return x, y, sigma


def _closed_form(x, y, sigma, delta):
    cov = sigma**2 * torch.eye(len(x), dtype=x.dtype) + x @ x.T / delta
    dist = torch.distributions.MultivariateNormal(torch.zeros(len(x), dtype=x.dtype), cov)
    return float(dist.log_prob(y[:, 0]))


def _laplace(x, y, sigma, delta, log_delta=None):
    """Laplace estimate at the posterior mode, autograd-able through ``log_delta``."""
    model = Readout(x.shape[1], 1, bias=False).double()
    a = x.T @ x / sigma**2 + delta * torch.eye(x.shape[1], dtype=x.dtype)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.solve(a, x.T @ y / sigma**2).T)
    prec = Precisions(model, delta)
    if log_delta is not None:
        prec.log_delta = log_delta
    curv = collect_curvature(model, [(x, y)], likelihood="gaussian", mode="exact", sigma=sigma)
    return log_marglik(model, prec, curv)


@pytest.mark.parametrize("delta", [0.1, 2.0, 30.0])
def test_blr_evidence_matches_closed_form(delta):
    x, y, sigma = _blr(delta)
    assert (
        abs(float(_laplace(x, y, sigma, delta).detach()) - _closed_form(x, y, sigma, delta)) < 1e-6
    )


def test_blr_gradient_matches_finite_differences():
    x, y, sigma = _blr(1.0)
    log_d = torch.nn.Parameter(torch.tensor([math.log(1.5)], dtype=torch.float64))
    (grad,) = torch.autograd.grad(_laplace(x, y, sigma, 1.5, log_d), log_d)
    eps = 1e-5
    fd = (
        _closed_form(x, y, sigma, math.exp(math.log(1.5) + eps))
        - _closed_form(x, y, sigma, math.exp(math.log(1.5) - eps))
    ) / (2 * eps)
    assert abs(float(grad) - fd) < 1e-6 * max(1.0, abs(fd))
    assert abs(fd) > 1e-3  # not a trivial zero


def test_conv_path_and_conv_net_shift_equivariant():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 8, 8)
    conv = ConvPath(2, 4)
    for s in [(1, 0), (3, 5), (-2, 1)]:
        shifted = conv(torch.roll(x, s, (2, 3)))
        assert torch.allclose(shifted, torch.roll(conv(x), s, (2, 3)), atol=1e-5)
    layer = ResidualConvLayer(2, 4, (8, 8), free=None)
    net = ResidualImageNet(16, 5, channels=4, layers=3, free=None)
    img = torch.randn(4, 1, 16, 16)
    ref = net.features(img)
    for s in [(1, 0), (0, 3), (5, 7)]:
        assert torch.allclose(net.features(torch.roll(img, s, (2, 3))), ref, atol=1e-5)
        # one layer with subsampling: a shifted output (by s // 2 up to the chosen phase)
        out, out_s = layer(x), layer(torch.roll(x, s, (2, 3)))
        for o, o_s in zip(out, out_s):  # the phase, hence the shift, is chosen per input
            assert any(
                torch.allclose(o_s, torch.roll(o, (a, b), (1, 2)), atol=1e-5)
                for a in range(4)
                for b in range(4)
            )
    free = ResidualImageNet(16, 5, channels=4, layers=3, free="dense")
    assert not torch.allclose(
        free.features(torch.roll(img, (1, 0), (2, 3))), free.features(img), atol=1e-3
    )


def test_factored_equals_dense_from_u_v():
    torch.manual_seed(1)
    fac = FactoredPath(3, 4, (4, 6))
    dense = DensePath((3, 4, 6), (4, 4, 6))
    with torch.no_grad():
        dense.weight.copy_(fac.dense_weight())
    x = torch.randn(5, 3, 4, 6)
    assert torch.allclose(fac(x), dense(x), atol=1e-5)
    w = torch.einsum("dcx,ydc->dcyx", fac.U, fac.V)  # W[d, c, y, x] = U[d, c, x] V[y, d, c]
    assert torch.allclose(
        torch.einsum("dcyx,bcx->bdy", w, x.flatten(2)), fac(x).flatten(2), atol=1e-5
    )


def test_kfac_exact_for_single_output_linear_and_curvature_covers_all_params():
    x, y, sigma = _blr(1.0)
    model = Readout(5, 1, bias=True).double()
    curv = collect_curvature(model, [(x, y)], likelihood="gaussian", mode="exact", sigma=sigma)
    eg, ea = curv.eigs["weight"][0]
    h = torch.outer(eg[0], ea[0]).flatten().sort().values
    assert torch.allclose(h, torch.linalg.eigvalsh(x.T @ x / sigma**2), rtol=1e-9)
    for net in [ResidualImageNet(8, 3, 2, 2, free="factored"), ResidualSetNet(4, 2, 2, 4)]:
        shape = (6, 1, 8, 8) if isinstance(net, ResidualImageNet) else (6, 4, 2)
        c = collect_curvature(net, [(torch.randn(shape), torch.randint(0, 2, (6,)))])
        assert set(c.eigs) == {n for n, _ in net.named_parameters()}
        rows = layer_readout(net, torch.randn(shape), Precisions(net), c)
        assert all(0 <= r["share"] <= 1 and all(v > 0 for v in r["eff_dim"].values()) for r in rows)


def test_digits_in_quadrants_copies_extend_only_the_training_set():
    (x1, y1), (xt1, yt1) = digits_in_quadrants("B", seed=2)
    (x3, y3), (xt3, yt3) = digits_in_quadrants("B", seed=2, copies=3)
    n = len(x1)
    assert len(x3) == 3 * n and torch.equal(x3[:n], x1) and torch.equal(y3[:n], y1)
    assert torch.equal(xt3, xt1) and torch.equal(yt3, yt1)
    for k in (1, 2):  # the same digits and ink, each at a fresh quadrant and offset
        xc, yc = x3[k * n : (k + 1) * n], y3[k * n : (k + 1) * n]
        assert torch.equal(yc % 10, y1 % 10)
        assert torch.allclose(xc.sum((1, 2, 3)), x1.sum((1, 2, 3)))
        assert (yc // 10 != y1 // 10).float().mean() > 0.5  # new quadrants, not a copy


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="not divisible"):
        ResidualConvLayer(1, 2, (7, 8))
    with pytest.raises(ValueError, match="not divisible"):
        ResidualImageNet(20, 3, layers=4)
    with pytest.raises(ValueError, match="even H and W"):
        aps_subsample(torch.randn(1, 1, 5, 4))
    with pytest.raises(ValueError, match=r"expected input \(B, 1, 8, 8\)"):
        ResidualConvLayer(1, 2, (8, 8))(torch.randn(2, 1, 6, 8))
    with pytest.raises(ValueError, match="must be > 0"):
        Precisions(Readout(3, 2), 0.0)
    with pytest.raises(ValueError, match="must be > 0"):
        MarglikSettings(prior=-1.0)
    with pytest.raises(ValueError, match="task must be"):
        digits_in_quadrants("C")
    with pytest.raises(ValueError, match="copies must be >= 1, got 0"):
        digits_in_quadrants("B", copies=0)
    with pytest.raises(ValueError, match="task must be"):
        set_task("x")


def test_nan_marglik_keeps_last_good_state(tmp_path):
    torch.manual_seed(0)
    model = ResidualSetNet(4, 2, 2, channels=4)
    x, y = torch.randn(16, 4, 2), torch.randint(0, 2, (16,))
    prec = Precisions(model, 1.0)
    opt = torch.optim.Adam(prec.parameters(), lr=0.1)
    curv = collect_curvature(model, [(x, y)])
    hyper_step(model, prec, opt, curv, 2)
    good = prec.log_delta.detach().clone()
    save_checkpoint(tmp_path / "ok.pt", model, prec)
    before = (tmp_path / "ok.pt").read_bytes()
    curv.nll = float("nan")
    with pytest.raises(MarglikError, match="last good"):
        hyper_step(model, prec, opt, curv, 3)
    assert torch.equal(prec.log_delta.detach(), good)
    curv.nll = 0.0
    with torch.no_grad():
        prec.log_delta[0] = -1e4  # precision underflows to 0: not positive
    with pytest.raises(MarglikError, match="non-positive"):
        prec.check()
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    with pytest.raises(MarglikError, match="not written"):
        save_checkpoint(tmp_path / "ok.pt", model, prec)
    assert (tmp_path / "ok.pt").read_bytes() == before


def test_marglik_training_switches_off_unneeded_free_path():
    """Set task 'inv': the dense path is not needed, its precision grows and share falls."""
    train, test = set_task("inv", n=4, train=256, test=256)
    torch.manual_seed(0)
    model = ResidualSetNet(4, 2, 2, channels=8, layers=1)
    s = MarglikSettings(
        epochs=20, batch=32, lr=1e-2, burnin=2, every=2, hyper_steps=30, curv_points=256
    )
    out = train_marglik(model, train, test, s)
    prec = out["precisions"]
    assert prec["layers.0.free.weight"] > 1.5 * max(prec["layers.0.equiv.a"], 1.0)
    assert out["final"]["test_acc"] > 70
    assert len(out["history"]) >= 7 and all(0 < r["share"] < 1 for r in out["final"]["layers"])


@pytest.mark.parametrize("free", ["dense", "factored"])
def test_prior_rms_is_the_rms_output_under_prior_draws(free):
    """The closed form equals the mean over many weight draws from ``N(0, 1/delta)``; for a
    circular 3x3 conv it is ``9 mean ||x||^2 / (HW delta)``."""
    torch.manual_seed(0)
    layer = ResidualConvLayer(2, 3, (8, 8), free=free, subsample=False)
    x = torch.rand(16, 2, 8, 8)
    prec = {f"l.{k}": v for k, v in zip(("conv.weight", "free.weight"), (2.0, 50.0))}
    prec.update({"l.free.U": 5.0, "l.free.V": 4.0})
    rms = prior_rms(layer, "l", x, prec)
    msq = float(x.flatten(1).pow(2).sum(1).mean())
    assert rms["conv"] ** 2 == pytest.approx(9 * msq / (64 * 2.0), rel=1e-5)
    for name, path in layer.paths().items():
        draws = []
        for _ in range(400):
            w = {
                k: torch.randn(p.shape) / prec[f"l.{name}.{k}"] ** 0.5
                for k, p in path.named_parameters()
            }
            draws.append(float(torch.func.functional_call(path, w, (x,)).pow(2).mean()))
        assert rms[name] ** 2 == pytest.approx(sum(draws) / len(draws), rel=0.1)
    net = ResidualImageNet(8, 3, 2, 2, free="dense")
    p = Precisions(net, {"layers.0.free.weight": 1e6, "layers.1.conv.weight": 1e6})
    c = collect_curvature(net, [(torch.rand(6, 1, 8, 8), torch.randint(0, 3, (6,)))])
    rows = layer_readout(net, torch.rand(6, 1, 8, 8), p, c)
    assert rows[0]["prior_share"] < 0.01 and rows[1]["prior_share"] > 0.99
    assert rows[0]["neff_share"] < 0.01 and rows[1]["neff_share"] > 0.99
    assert all(0 <= r["share"] <= 1 for r in rows)


def test_residual_nets_are_registered_backbones():
    from lps.backbones import create_backbone, list_backbones

    assert {"marglik_image", "marglik_set"} <= set(list_backbones())
    net = create_backbone("marglik_image", "logits", size=8, classes=4, hidden=3, layers=2)
    assert isinstance(net, ResidualImageNet) and net(torch.rand(2, 1, 8, 8)).shape == (2, 4)
    sets = create_backbone("marglik_set", "logits", max_nodes=4, node_dim=2, classes=3)
    assert sets(torch.randn(5, 4, 2)).shape == (5, 3)
    with pytest.raises(ValueError, match="kind 'logits'"):
        create_backbone("marglik_image", "node", size=8, classes=4)
