"""The levels layer: autoencoder (phi invariant, psi equivariant), kNN pseudo-labels, the
level network, and the uses (flag, standardize, partial symmetrization)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lps import symmetrize
from lps.levels import (
    InvariantEquivariantAE,
    LevelNetwork,
    SymmetryLevels,
    encode,
    fit_level_network,
    knn_indices,
    pseudo_levels,
    train_autoencoder,
    wrap_degrees,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def digits_like(n: int = 16, seed: int = 0) -> torch.Tensor:
    """Smooth blobs on 28 x 28, zero near the border (a stand-in for digits)."""
    from lps.groups.image import smooth_disc_images

    x = smooth_disc_images(n, 1, 28, torch.Generator().manual_seed(seed))
    return (x - x.amin((1, 2, 3), keepdim=True)) * (x != 0)


@pytest.fixture(scope="module")
def ae():
    torch.manual_seed(0)
    return InvariantEquivariantAE(hidden=8, sampler_hidden=8).eval()


def test_psi_equivariant_phi_invariant_under_quarter_turns(ae) -> None:
    x = digits_like()
    with torch.no_grad():
        a, z = ae.psi(x), ae.phi(x)
        xr = torch.rot90(x, 1, dims=(-2, -1))
        ar, zr = ae.psi(xr), ae.phi(xr)
    diff = wrap_degrees((ar - a).double() * 180 / math.pi - 90)
    # Exact up to float rounding (the blur and 45-degree copies sum in another order),
    # which the near-flat logits of an untrained psi amplify (measured 9e-3 degrees).
    assert diff.abs().max() < 0.05
    assert (zr - z).norm() / z.norm() < 1e-2  # the canonical images agree


def test_loss_terms_and_training_step(ae) -> None:
    x = digits_like(32)
    out = ae(x)
    assert out["recon"].shape == x.shape and out["embedding"].shape == (32, 32)
    assert torch.isfinite(out["loss"]) and float(out["penalty"].detach()) >= 0
    torch.manual_seed(0)
    model = InvariantEquivariantAE(hidden=8, sampler_hidden=8)
    hist = train_autoencoder(model, x, epochs=4, batch_size=16, lr=3e-3)
    assert hist[-1] < hist[0]
    z, angles = encode(model, x)
    assert z.shape == (32, 32) and angles.abs().max() <= 180


@pytest.mark.slow
def test_penalty_pulls_psi_to_identity() -> None:
    """The penalty alone, on upright digits, drives |psi| toward 0 on held-out upright ones
    (and keeps psi equivariant: a quarter turn still adds 90 degrees). ~20 s."""
    from lps.data.digits import upright_digits

    x, _ = upright_digits()
    train, held = x[:512], x[1500:1600]
    torch.manual_seed(1)
    model = InvariantEquivariantAE(hidden=8, sampler_hidden=8)
    _, before = encode(model, held)
    opt = torch.optim.Adam(model.psi_net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        out = model(train[torch.randint(0, 512, (64,), generator=gen)])
        opt.zero_grad()
        out["penalty"].backward()
        opt.step()
    _, after = encode(model, held)
    near = lambda a: float((a.abs() < 45).double().mean())  # noqa: E731
    assert near(after) > near(before) + 0.15
    _, turned = encode(model, torch.rot90(held, 1, dims=(-2, -1)))
    assert wrap_degrees(turned - after - 90).abs().max() < 0.05


def test_bad_images(ae) -> None:
    with pytest.raises(ValueError, match=r"expected \(B, 1, 28, 28\), got \(2, 3, 28, 28\)"):
        ae.psi(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"got \(2, 1, 28, 20\)"):
        ae(torch.zeros(2, 1, 28, 20))
    with pytest.raises(ValueError, match="penalty_kind"):
        InvariantEquivariantAE(penalty_kind="l1")


def test_knn_pseudo_levels_recover_cluster_levels() -> None:
    """Three clusters in the embedding with angles uniform in +-10, +-50, +-120."""
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(3) * 5
    z = torch.cat([c + 0.1 * torch.randn(200, 3, generator=g) for c in centres])
    widths = torch.tensor([10.0, 50.0, 120.0]).repeat_interleave(200)
    angles = (torch.rand(600, generator=g, dtype=torch.float64) * 2 - 1) * widths
    for kind, tol in (("uniform", 0.2), ("uniform_ml", 0.12)):
        lv = pseudo_levels(z, angles, kind, k=60, trim=0.05)
        for i, w in enumerate((10.0, 50.0, 120.0)):
            assert abs(float(lv[i * 200 : (i + 1) * 200].median()) - w) < tol * w, (kind, w)
    idx = knn_indices(z[:5], z, 3, exclude_self=False)
    assert (idx[:, 0] == torch.arange(5)).all()
    with pytest.raises(ValueError, match="unknown level kind"):
        pseudo_levels(z, angles, "laplace")
    with pytest.raises(ValueError, match="bank holds only"):
        knn_indices(z, z[:4], 5)


def test_level_network_fits_and_stays_in_range() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(256, 4, generator=g)
    target = 90 + 60 * torch.tanh(z[:, 0])
    net = LevelNetwork(4, "uniform")
    fit_level_network(net, z, target, epochs=60)
    pred = net.level(z)
    assert (pred >= 0).all() and (pred <= 180).all()
    assert (pred - target).abs().mean() < 8.0
    dnet = LevelNetwork(4, "discrete")
    orders = torch.where(z[:, 1] > 0, 4.0, 2.0)
    fit_level_network(dnet, z, orders, epochs=60)
    assert (dnet.level(z) == orders).double().mean() > 0.9
    with pytest.raises(ValueError, match="kind must be"):
        LevelNetwork(4, "poisson")


class ConstantLevel(LevelNetwork):
    def __init__(self, value: float):
        super().__init__(32, "uniform")
        self.value = value

    def level(self, z):
        return torch.full((z.shape[0],), self.value, dtype=torch.float64)


def test_uses_flag_standardize_partial(ae) -> None:
    x = digits_like(6)
    levels = SymmetryLevels(ae, ConstantLevel(30.0))
    d = levels.describe(x)
    assert torch.equal(d["out"], d["angle"].abs() > 30.0)
    # Turning an input by 180 degrees moves its pose out of a 30-degree level.
    flipped = levels.out_of_symmetry(torch.rot90(x, 2, dims=(-2, -1)))
    assert torch.equal(flipped, wrap_degrees(d["angle"] + 180).abs() > 30)
    std = levels.standardize(x)
    std_r = levels.standardize(torch.rot90(x, 1, dims=(-2, -1)))
    assert (std - std_r).norm() / std.norm() < 1e-2  # one canonical pose per orbit (1.6e-4)
    # Partial symmetrization: samples within +-30 degrees of psi(x).
    sampler = levels.partial_sampler()
    assert not sampler.deterministic
    model = symmetrize(nn.Sequential(nn.Flatten(), nn.Linear(784, 2)), "image-SO(2)",
                       {"input": "image:1"}, "invariant", sampler, n_samples=16)  # fmt: skip
    out = model(input=x, return_samples=True)
    ang = wrap_degrees(out.element.angle.double().view(6, 16) * 180 / math.pi)
    dev = wrap_degrees(ang - d["angle"][:, None])
    assert dev.abs().max() <= 30 + 1e-3 and dev.abs().max() > 10
    sampler.set_levels(None)
    assert sampler.deterministic
    with pytest.raises(ValueError, match="discrete levels need the training bank"):
        SymmetryLevels(ae, LevelNetwork(32, "discrete"))


class ConstantOrder(LevelNetwork):
    def __init__(self, order: int):
        super().__init__(32, "discrete")
        self.order = order

    def level(self, z):
        return torch.full((z.shape[0],), float(self.order), dtype=torch.float64)


def test_partial_sampler_with_discrete_levels_averages_over_c_n(ae) -> None:
    x = digits_like(4)
    bank = (torch.randn(40, 32), torch.zeros(40))
    levels = SymmetryLevels(ae, ConstantOrder(4), bank=bank)
    psi = levels.describe(x)["angle"]
    sampler = levels.partial_sampler()
    model = symmetrize(nn.Sequential(nn.Flatten(), nn.Linear(784, 2)), "image-SO(2)",
                       {"input": "image:1"}, "invariant", sampler, n_samples=32)  # fmt: skip
    out = model(input=x, return_samples=True)
    ang = wrap_degrees(out.element.angle.double().view(4, 32) * 180 / math.pi)
    rel = torch.remainder(ang - psi[:, None], 360.0)
    quarter = torch.round(rel / 90.0)
    assert (rel - 90.0 * quarter).abs().max() < 1e-3  # psi(x) turned by a quarter turn
    assert set(torch.remainder(quarter, 4).long().flatten().tolist()) == {0, 1, 2, 3}
    sampler.set_levels(None)


def test_level_table_averages_seeds_and_checks_targets_on_the_means() -> None:
    """scripts/levels_table.py: one row per set with mean ± sd over seeds, every run listed,
    the targets checked on the means; a column missing from a set is a dash."""
    import runpy
    from dataclasses import asdict
    from pathlib import Path

    from lps.experiments.levels import LevelSettings

    script = Path(__file__).resolve().parents[1] / "scripts" / "levels_table.py"
    table = runpy.run_path(str(script))

    def row(name, seed, gain, ood, mae=None):
        r = {"set": name, "settings": asdict(LevelSettings(seed=seed)), "kmeans_gain": gain}
        r.update(ood_accuracy=ood, kmeans_raw=0.3, kmeans_standardized=0.3 + gain)
        return r if mae is None else {**r, "level_mae_deg": mae}

    rows = [
        row("multiple", 0, 0.2, 0.7, mae=20.0),
        row("multiple", 1, 0.3, 0.8, mae=10.0),
        row("c2c4", 0, -0.1, 0.85),
    ]
    md = table["markdown"](rows, "cmd", 2)
    assert "| DigitsMultiple (±18c) | 2 | 15.0 ± 7.1 |" in md
    assert "+0.250 ± 0.071" in md and "seeds [0, 1]" in md
    assert md.count("| DigitsMultiple (±18c) | 0 |") == 1  # the per-run rows
    assert "level MAE <= 10: 15.0" in md and "out-of-symmetry >= 0.90: 0.750" in md
    assert "out-of-symmetry >= 0.85: 0.850; k-means gain >= 0.25: -0.100" in md
    assert "| C2 (0-4) / C4 (5-9) | 1 | — |" in md


def test_partial_table_markdown_names_the_set_and_readout() -> None:
    """scripts/images_partial_table.py: mean ± sd and per-seed accuracy per method, under a
    header naming the rotation set and psi's readout; a method without runs has no row."""
    import runpy
    from pathlib import Path

    from lps.experiments.images import ViTSettings

    script = Path(__file__).resolve().parents[1] / "scripts" / "images_partial_table.py"
    table = runpy.run_path(str(script))
    rows = [
        {"method": "plain", "seed": 0, "test_acc": 0.8},
        {"method": "partial", "seed": 0, "test_acc": 0.9},
        {"method": "partial", "seed": 1, "test_acc": 0.7},
    ]
    md = table["markdown"](rows, ViTSettings(), 20, 2, "mode", "c2c4")
    assert md.startswith("Set `c2c4`;") and "psi readout `mode`" in md
    assert "| partial | 0.800 ± 0.141 | 0.900, 0.700 |" in md and "| plain | 0.800" in md
    assert "| full |" not in md
