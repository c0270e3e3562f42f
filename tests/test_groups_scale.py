"""Positive scalings ``Scale`` and ``SO(3) x Scale``: positivity and the log-uniform sampling
range, group laws, commutation, the RMS frame, and symmetrization at every input scale."""

from __future__ import annotations

import math

import pytest
import torch

from lps import symmetrize
from lps.backbones import FlatMLP
from lps.fields import FieldType
from lps.groups import Product, Scale, get_group
from lps.samplers import ScaleFrame, UnsupportedGroupError, build_sampler
from lps.samplers.frame_scale import rms_scale
from lps.testing import assert_equivariant, equivariance_error, field_specs

pytestmark = pytest.mark.usefixtures("single_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_haar_is_positive_and_log_uniform_on_the_documented_range() -> None:
    group = get_group("Scale")
    s = group.haar(20000, generator=gen(), dtype=torch.float64)
    assert s.shape == (20000,) and s.dtype == torch.float64 and (s > 0).all()
    log_s = s.log()
    r = math.log(2.0)
    assert group.log_range == pytest.approx(r)
    assert log_s.min() >= -r - 1e-12 and log_s.max() <= r + 1e-12
    assert log_s.min() < -0.99 * r and log_s.max() > 0.99 * r
    counts = torch.histc(log_s, bins=10, min=-r, max=r)
    chi2 = float(((counts - 2000.0) ** 2 / 2000.0).sum())
    assert chi2 < 33.7, chi2  # 1e-4 critical value for 9 degrees of freedom
    wide = Scale(log_range=3.0).haar(1000, generator=gen(1))
    assert (
        wide.dtype == torch.float32 and wide.max() > math.exp(2.5) and wide.min() < math.exp(-2.5)
    )
    with pytest.raises(ValueError, match="log_range must be a positive number"):
        Scale(log_range=0.0)


def test_group_laws_and_action() -> None:
    group = get_group("Scale")
    g, h = group.haar(4, generator=gen(0)), group.haar(4, generator=gen(1))
    e = group.identity(4, None, "cpu")
    assert torch.allclose(group.compose(g, group.inverse(g)), e)
    assert torch.allclose(group.compose(g, e), g) and torch.allclose(group.compose(e, g), g)
    pos, vec = torch.randn(4, 5, 3, generator=gen(2)), torch.randn(4, 5, 2, 3, generator=gen(3))
    assert torch.allclose(group.act(g, pos, FieldType.POSITION), g.view(4, 1, 1) * pos)
    assert torch.allclose(group.act(g, vec, FieldType.NODE_VECTOR), g.view(4, 1, 1, 1) * vec)
    gh = group.act(group.compose(g, h), pos, FieldType.POSITION)
    assert torch.allclose(
        gh, group.act(g, group.act(h, pos, FieldType.POSITION), FieldType.POSITION)
    )
    back = group.act(g, group.act(g, pos, FieldType.POSITION), FieldType.POSITION, inverse=True)
    assert torch.allclose(back, pos)
    for ftype, x in [
        (FieldType.NODE, torch.randn(4, 5, 2)),
        (FieldType.PAIR, torch.randn(4, 5, 5, 1)),
        (FieldType.INVARIANT, torch.randn(4, 3)),
    ]:
        assert torch.equal(group.act(g, x, ftype), x)
    with pytest.raises(ValueError, match="cannot act on field type 'image'"):
        group.act(g, torch.zeros(4, 1, 8, 8), FieldType.IMAGE)
    # float64 stays float64.
    g64 = group.haar(4, generator=gen(0), dtype=torch.float64)
    assert group.act(g64, pos.double(), FieldType.POSITION).dtype == torch.float64
    assert group.compose(g64, g).dtype == torch.float64


def test_names_and_commutation() -> None:
    assert get_group("Scale").name == "Scale"
    for name in ("SO(3) x Scale", "SO(3)xScale", "SO(3) × Scale"):
        group = get_group(name)
        assert isinstance(group, Product) and group.name == "SO(3) x Scale"
        assert group.kinds == ("rigid", "scale") and not group.compact
    assert get_group("Scale x SO(3)").name == "Scale x SO(3)"  # both orders: either may say so
    scale = get_group("Scale")
    for other in ("SO(3)", "O(3)", "O(2)_z", "S_n"):
        assert scale.commutes_with(get_group(other)), other
    for other in ("E(3)", "SE(3)"):
        assert not scale.commutes_with(get_group(other)), other
        with pytest.raises(ValueError, match="do not commute"):
            get_group(f"{other} x Scale")


def test_product_acts_as_both_in_either_order() -> None:
    group = get_group("SO(3) x Scale")
    g = group.random_element(3, generator=gen(0))
    parts = group.split(g)
    rot, s = parts["rigid"], parts["scale"]
    so3, scale = group.factor("rigid"), group.factor("scale")
    pos = torch.randn(3, 6, 3, generator=gen(1))
    both = group.act(g, pos, FieldType.POSITION)
    expected = s.view(3, 1, 1) * (pos @ rot.matrix.transpose(1, 2))
    assert torch.allclose(both, expected, atol=1e-6)
    scale_first = so3.act(rot, scale.act(s, pos, FieldType.POSITION), FieldType.POSITION)
    assert torch.allclose(both, scale_first, atol=1e-6)
    assert torch.allclose(group.act(g, both, FieldType.POSITION, inverse=True), pos, atol=1e-5)


@pytest.mark.parametrize("name", ["Scale", "SO(3) x Scale"])
@pytest.mark.parametrize("sampler", ["haar", "learned", "canonical"])
def test_samplers_without_a_construction_refuse(name: str, sampler: str) -> None:
    """Scale has no Haar measure, and no learned sampler handles it."""
    ex = get_group(name).example()
    match = "not compact" if sampler == "haar" else "no learned sampler"
    with pytest.raises(UnsupportedGroupError, match=match):
        args = {} if sampler == "haar" else {"hidden": 16}
        build_sampler(sampler, name, inputs=field_specs(ex.fields, ex.types), **args)


def test_rms_frame_canonicalizes_and_ignores_padding() -> None:
    pos = torch.randn(2, 5, 3, generator=gen(0)) * 7.0 + 3.0
    types = {"pos": FieldType.POSITION}
    s = rms_scale({"pos": pos}, types, None)
    centred = pos - pos.mean(1, keepdim=True)
    assert torch.allclose(s, centred.double().pow(2).sum(-1).mean(1).sqrt())
    assert torch.allclose(rms_scale({"pos": 4.0 * pos}, types, None), 4.0 * s)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    padded = pos.clone()
    padded[1, 3:] = 100.0
    masked = rms_scale({"pos": padded}, types, mask)
    assert torch.allclose(masked[1], rms_scale({"pos": pos[1:, :3]}, types, None)[0])
    # Node vectors when there is no position input.
    vel = torch.randn(2, 5, 2, 3, generator=gen(1))
    s_vel = rms_scale({"vel": vel}, {"vel": FieldType.NODE_VECTOR}, None)
    assert torch.allclose(s_vel, vel.double().pow(2).sum(-1).mean((1, 2)).sqrt())
    with pytest.raises(ValueError, match="needs a 'position' or 'node_vector' input"):
        rms_scale({"x": torch.zeros(2, 5, 1)}, {"x": FieldType.NODE}, None)


def symmetrized(name: str, seed: int = 0, **kwargs):
    group = get_group(name)
    ex = group.example(3, 6, seed)
    torch.manual_seed(seed)
    base = FlatMLP({k: tuple(v.shape[1:]) for k, v in ex.fields.items()}, ex.out_shapes, 32)
    specs = field_specs(ex.fields, ex.types)
    model = symmetrize(base, group, specs, ex.out_types, "frame", n_samples=3, **kwargs)
    return model.eval(), ex


def test_scale_frame_is_one_element() -> None:
    model, ex = symmetrized("Scale")
    assert isinstance(model.sampler, ScaleFrame) and model.sampler.deterministic
    out = model(return_samples=True, **ex.fields)
    assert out.samples["pos_out"].shape[1] == 1  # k = 1


@pytest.mark.parametrize("name", ["Scale", "SO(3) x Scale"])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_symmetrize_frame_is_equivariant(name: str, scale: float) -> None:
    model, ex = symmetrized(name)
    assert_equivariant(model, {k: v * scale for k, v in ex.fields.items()})


@pytest.mark.parametrize("name", ["Scale", "SO(3) x Scale"])
def test_symmetrize_frame_float64(name: str) -> None:
    model, ex = symmetrized(name)
    model = model.double()
    fields = {k: v.double() for k, v in ex.fields.items()}
    assert assert_equivariant(model, fields) <= 1e-9
    assert all(v.dtype == torch.float64 for v in model(**fields).prediction.values())


def test_zero_input_is_finite_and_maps_vectors_to_zero() -> None:
    model, ex = symmetrized("Scale")
    fields = {k: torch.zeros_like(v) if k != "x" else v for k, v in ex.fields.items()}
    out = model(**fields).prediction
    assert all(torch.isfinite(v).all() for v in out.values())
    assert out["pos_out"].abs().max() < 1e-30


def test_scale_equivariance_is_measured_apart_from_rotations() -> None:
    """A fixed linear map is Scale- but not SO(3)-equivariant; ``x |x|`` is the reverse."""
    a = torch.randn(3, 3, generator=gen(0))
    example = {"vel": torch.randn(4, 7, 1, 3, generator=gen(1))}
    kwargs = dict(inputs={"vel": "node_vector"}, outputs="node_vector", example=example)

    def linear(vel):
        return vel @ a.T

    def radial(vel):
        return vel * vel.norm(dim=-1, keepdim=True)

    assert equivariance_error(linear, "Scale", generator=gen(2), **kwargs) < 1e-6
    assert equivariance_error(linear, "SO(3)", generator=gen(2), **kwargs) > 0.1
    assert equivariance_error(radial, "SO(3)", generator=gen(2), **kwargs) < 1e-5
    assert equivariance_error(radial, "Scale", generator=gen(2), **kwargs) > 0.05
    assert equivariance_error(radial, "SO(3) x Scale", generator=gen(2), **kwargs) > 0.05
