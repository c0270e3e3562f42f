"""The learned image sampler (C2, C4, C8, image-SO(2)): exactness, modes, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lps import symmetrize
from lps.fields import FieldSpec, FieldType
from lps.groups import Angle, get_group
from lps.groups.image import smooth_disc_images
from lps.samplers import LearnedImageSampler, build_sampler
from lps.testing import assert_equivariant, equivariance_error

pytestmark = pytest.mark.usefixtures("single_thread")


class Flat(nn.Module):
    """A plain MLP on the flattened image: no symmetry of its own."""

    def __init__(self, c: int, size: int, out: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(c * size * size, 32), nn.Tanh())
        self.out = nn.Linear(32, out)

    def forward(self, img):
        return self.out(self.net(img))


def model_for(group: str, sampler: str, size: int = 12, c: int = 2, k: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    return symmetrize(
        Flat(c, size), group, {"img": f"image:{c}"}, "invariant", sampler, n_samples=k
    ).eval()


@pytest.mark.parametrize("group", ["C2", "C4"])
@pytest.mark.parametrize("sampler", ["learned", "canonical"])
def test_cyclic_exact_under_coupled_noise(group, sampler) -> None:
    """C2/C4: the rotated copies are pixel permutations, so the error is exactly 0."""
    model = model_for(group, sampler)
    x = torch.randn(5, 2, 12, 12)
    err = assert_equivariant(model, {"img": x}, tolerance=1e-6, n_trials=3)
    assert err == 0.0


def test_c4_one_sample_not_invariant_without_coupling() -> None:
    """Sanity check: with fresh noise on both sides a single learned sample is not exact."""
    model = model_for("C4", "learned", k=1)
    torch.manual_seed(1)
    err = equivariance_error(model, {"img": torch.randn(8, 2, 12, 12)}, coupled_noise=False)
    assert err > 1e-3


def test_c4_canonical_maps_orbit_to_one_pose() -> None:
    """The canonical element of rot_m . x is rot_m times that of x, for every m."""
    sampler = build_sampler("canonical", "C4", in_channels=1)
    x = torch.randn(3, 1, 10, 10)
    types = {"img": FieldType.IMAGE}
    g0 = sampler({"img": x}, types, None, 1).element
    c4 = get_group("C4")
    for m in range(4):
        h = c4.from_index(torch.full((3,), m))
        xh = c4.act(h, x, FieldType.IMAGE)
        gh = sampler({"img": xh}, types, None, 1).element
        assert torch.equal(c4.index(gh), (c4.index(g0) + m) % 4)
        canon = c4.act(gh, xh, FieldType.IMAGE, inverse=True)
        assert torch.equal(canon, c4.act(g0, x, FieldType.IMAGE, inverse=True))


@pytest.mark.parametrize("group", ["C8", "image-SO(2)"])
def test_resampled_groups_within_tolerance(group) -> None:
    """C8 / image-SO(2) on smooth images: within the resampling tolerance (0.05)."""
    torch.manual_seed(0)
    model = symmetrize(
        Flat(1, 32), group, {"img": "image:1"}, "invariant", "learned", n_samples=2
    ).eval()
    x = smooth_disc_images(4, 1, 32, torch.Generator().manual_seed(0))
    err = equivariance_error(model, {"img": x}, n_trials=2)
    assert err < get_group(group).tolerance == 0.05


@pytest.mark.parametrize("readout", ["mean", "mode"])
@pytest.mark.parametrize("scale, dtype", [(1.0, "float32"), (1e-3, "float32"), (1e3, "float32"),
                                          (1.0, "float64")])  # fmt: skip
def test_so2_angle_turns_with_quarter_turns(readout, scale, dtype) -> None:
    """image-SO(2): a quarter turn of the input (exact) adds pi/2 to the canonical angle, at
    any scale and in float64; a blank image gets a finite angle."""
    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    sampler = build_sampler("canonical", "image-SO(2)", in_channels=1, readout=readout, dtype=dt)
    x = scale * smooth_disc_images(3, 1, 24, torch.Generator().manual_seed(2)).to(dt)
    x[0] = 0.0
    t = {"img": FieldType.IMAGE}
    a = sampler({"img": x}, t, None, 1).element.angle
    b = sampler({"img": torch.rot90(x, 1, dims=(-2, -1))}, t, None, 1).element.angle
    diff = torch.remainder(b - a - math.pi / 2 + math.pi, 2 * math.pi) - math.pi
    assert torch.isfinite(a).all() and diff[1:].abs().max() < 1e-4


def test_straight_through_gradient_reaches_sampler() -> None:
    """C4 learned: the loss gradient reaches the CNN through the soft weights."""
    torch.manual_seed(0)
    model = symmetrize(Flat(1, 8), "C4", {"img": "image:1"}, "invariant", "learned")
    model.train()
    out = model(img=torch.randn(4, 1, 8, 8))
    out.prediction.pow(2).sum().backward()
    grads = [p.grad for p in model.sampler.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # The forward value is the exact rotation (soft part is zero in value).
    with torch.no_grad():
        g = model.sampler({"img": torch.ones(1, 1, 8, 8)}, model.input_types, None, 1).element
    assert g.soft is None


def test_soft_action_value_is_exact() -> None:
    c4 = get_group("C4")
    x = torch.randn(2, 1, 6, 6)
    soft = torch.softmax(torch.randn(2, 4), -1).requires_grad_(True)
    g = Angle(torch.tensor([math.pi / 2, math.pi]), soft)
    y = c4.act(g, x, FieldType.IMAGE)
    assert torch.equal(y, c4.act(Angle(g.angle), x, FieldType.IMAGE))
    y_inv = c4.act(g, x, FieldType.IMAGE, inverse=True)
    assert torch.equal(y_inv, c4.act(c4.inverse(Angle(g.angle)), x, FieldType.IMAGE))
    y.sum().backward()
    assert soft.grad is not None and soft.grad.abs().sum() > 0


def test_canonical_is_deterministic_and_learned_spreads() -> None:
    t = {"img": FieldType.IMAGE}
    x = torch.randn(2, 1, 8, 8)
    torch.manual_seed(0)
    can = build_sampler("canonical", "C8", in_channels=1)
    assert can.deterministic and can.num_samples(5) == 1
    a = can({"img": x}, t, None, 1).element.angle
    assert torch.equal(a, can({"img": x}, t, None, 1).element.angle)
    torch.manual_seed(0)
    lea = build_sampler("learned", "C8", in_channels=1)
    ang = lea({"img": x}, t, None, 64).element.angle
    assert len(set(torch.round(ang / (math.pi / 4)).long().tolist())) > 2  # several rotations


def test_partial_mode_stays_within_level() -> None:
    t = {"img": FieldType.IMAGE}
    x = torch.randn(3, 1, 12, 12)
    sampler = build_sampler("canonical", "image-SO(2)", in_channels=1)
    base = sampler({"img": x}, t, None, 1).element.angle
    level = torch.tensor([0.0, math.pi / 6, math.pi])
    sampler.set_levels(lambda img: level)
    noise = sampler.sample_noise({"img": x}, t, None, 50)
    ang = sampler.sample({"img": x}, t, None, 50, noise).element.angle.view(3, 50)
    dev = torch.remainder(ang - base[:, None] + math.pi, 2 * math.pi) - math.pi
    assert dev[0].abs().max() < 1e-6
    assert dev[1].abs().max() <= math.pi / 6 + 1e-5 and dev[1].abs().max() > 0.2
    assert dev[2].abs().max() > math.pi / 2
    sampler.set_levels(lambda img: torch.full((3,), 3.5))
    with pytest.raises(ValueError, match=r"levels in \[0, pi\] radians.*got 3.5"):
        sampler.sample({"img": x}, t, None, 50, noise)


def test_bad_inputs_are_named() -> None:
    model = model_for("C4", "learned", size=8, c=2)
    with pytest.raises(ValueError, match=r"img.*square.*\(2, 2, 8, 6\)"):
        model(img=torch.randn(2, 2, 8, 6))
    model.validate = False  # the sampler's own checks
    with pytest.raises(ValueError, match=r"built for 2 image channel\(s\), got 3"):
        model(img=torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="needs square images"):
        model.sampler({"img": torch.randn(2, 2, 8, 6)}, model.input_types, None, 1)
    with pytest.raises(ValueError, match="orientations must be a multiple of 4"):
        build_sampler("learned", "image-SO(2)", in_channels=1, orientations=6)
    with pytest.raises(ValueError, match="takes no setting"):
        build_sampler("learned", "C4", in_channels=1, walk_steps=3)
    with pytest.raises(ValueError, match="needs the channel count"):
        build_sampler("learned", "C4", inputs={"img": FieldSpec.parse("image")})
    with pytest.raises(ValueError, match="readout must be one of"):
        build_sampler("canonical", "image-SO(2)", in_channels=1, readout="median")
    assert isinstance(build_sampler("learned", "C2", in_channels=3), LearnedImageSampler)


def test_vit_experiment_models() -> None:
    """The experiment's five models build and classify (B, 1, 28, 28) digits."""
    from lps.experiments.images import ViTSettings, build_model

    s = ViTSettings(embed_dim=24, depth=1, k_eval=2)
    x = torch.rand(2, 1, 28, 28)
    for method in ("plain", "haar", "learned", "canonical"):
        out = build_model(method, s).eval()(img=x)
        logits = out.prediction if hasattr(out, "prediction") else out
        assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="unknown method 'mixup'"):
        build_model("mixup", s)


def test_fit_trains_and_keeps_frozen_modules_in_eval_mode():
    """The experiments' shared training loop: parameters move, a frozen part stays in eval
    mode, augmentation runs; models called as ``model(img=x)`` like the symmetrized ones."""
    from lps.experiments.images import ViTSettings, fit

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen = nn.Dropout(0.5)
            self.head = nn.Linear(28 * 28, 10)

        def forward(self, img):
            return self.head(self.frozen(img).flatten(1))

    torch.manual_seed(0)
    net = Net()
    before = net.head.weight.detach().clone()
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    s = ViTSettings(epochs=2, batch_size=8)
    seconds = fit(net, x, y, s, seed=0, augment=True, frozen=net.frozen)
    assert seconds >= 0
    assert not torch.allclose(net.head.weight, before)
    assert net.head.training and not net.frozen.training


def test_partial_mode_cyclic_levels_turn_by_the_order() -> None:
    t = {"img": FieldType.IMAGE}
    x = torch.randn(3, 1, 12, 12)
    sampler = build_sampler("canonical", "image-SO(2)", in_channels=1)
    base = sampler({"img": x}, t, None, 1).element.angle
    orders = torch.tensor([1.0, 2.0, 4.0])
    sampler.set_levels(lambda img: orders, "cyclic")
    assert not sampler.deterministic
    noise = sampler.sample_noise({"img": x}, t, None, 200)
    ang = sampler.sample({"img": x}, t, None, 200, noise).element.angle.view(3, 200)
    steps = torch.remainder(ang - base[:, None], 2 * math.pi) / (2 * math.pi / orders[:, None])
    j = torch.round(steps)
    assert (steps - j).abs().max() < 1e-4  # every turn is a multiple of 2 pi / n
    for i, n in enumerate([1, 2, 4]):
        assert set(torch.remainder(j[i], n).long().tolist()) == set(range(n))  # all of C_n
    for bad in (0.0, 2.5, float("nan")):
        sampler.set_levels(lambda img, b=bad: torch.full((3,), b), "cyclic")
        with pytest.raises(ValueError, match="orders n >= 1"):
            sampler.sample({"img": x}, t, None, 200, noise)
    with pytest.raises(ValueError, match="unknown level kind 'discrete'"):
        sampler.set_levels(lambda img: orders, "discrete")


def test_mode_readout_picks_one_of_equal_peaks() -> None:
    """Four equal peaks (a shape seen in all four right-angle poses): the mean readout's
    vector cancels, the mode readout lands on one peak."""
    mean = build_sampler("canonical", "image-SO(2)", in_channels=1, orientations=8)
    mode = build_sampler("canonical", "image-SO(2)", in_channels=1, orientations=8, readout="mode")
    logits = torch.tensor([[5.0, 0, 5.0, 0, 5.0, 0, 5.0, 0], [0, 1.0, 6.0, 1.0, 0, 0, 0, 0]])
    assert mean.vector(logits)[0].norm() < 1e-6
    v = mode.vector(logits)
    angle = torch.atan2(v[:, 1], v[:, 0])
    assert v[0].norm() > 0.7 and angle[0].abs() < 1e-6  # the first of the tied peaks
    assert (angle[1] - math.pi / 2).abs() < 1e-6  # a symmetric bump: its centre
    two = torch.tensor([[4.0, 0, 0, 0, 3.9, 0, 0, 0]])  # two peaks half a turn apart
    assert mean.vector(two).norm() < 0.1 < 0.5 < mode.vector(two).norm()
    assert torch.atan2(*mode.vector(two)[0].flip(0)).abs() < 0.05  # the higher one
    plateau = torch.tensor([[3.0, 3.0, 0, 0, 0, 0, 0, 3.0]])  # flat over -45..45 degrees
    plateau[0, 1] += 0.01  # the argmax is on the plateau's edge; the shift finds its centre
    assert torch.atan2(*mode.vector(plateau)[0].flip(0)).abs() < 0.01
