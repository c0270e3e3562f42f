"""Equivariance at every input scale and in float64, and outputs checked against their
declared types: the defects found when lps was tried as a new user would."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lps
from lps.backbones import FlatMLP
from lps.groups import get_group, gram_schmidt
from lps.testing import assert_equivariant, equivariance_error, field_specs

pytestmark = pytest.mark.usefixtures("single_thread")

SCALES = (1e-3, 0.1, 0.3, 1.0, 1e3)


class Base(nn.Module):
    """A user's model, not built by lps: a linear map of the flattened point cloud."""

    def __init__(self, n: int = 6):
        super().__init__()
        self.n = n
        self.lin = nn.Linear(3 * n, 3 * n)

    def forward(self, pos):
        return self.lin(pos.flatten(1)).view(-1, self.n, 3)


@pytest.mark.parametrize("group", ["O(3)", "SO(3)", "E(3)", "SE(3)"])
@pytest.mark.parametrize("sampler", ["canonical", "learned", "frame"])
def test_equivariance_does_not_depend_on_units(group: str, sampler: str) -> None:
    """The issue's reproduction: canonical gave 0.5-1.7 at scales <= 0.3, E(3) canonical
    0.27 at every scale, and learned/canonical 3e-4 to 2e-3 at 1e3."""
    torch.manual_seed(0)
    x = torch.randn(8, 6, 3)
    model = lps.symmetrize(Base(), group, {"pos": "position"}, "position", sampler).eval()
    gen = torch.Generator().manual_seed(1)
    errors = [equivariance_error(model, {"pos": s * x}, generator=gen) for s in SCALES]
    assert max(errors) < 1e-4, dict(zip(SCALES, errors))


@pytest.mark.parametrize("group", ["O(3)", "E(3)", "S_n x E(3)", "S_n x SO(3)", "S_n"])
@pytest.mark.parametrize("sampler", ["haar", "frame", "canonical", "learned"])
def test_float64_models_pass_the_float64_tolerance(group: str, sampler: str) -> None:
    """A ``.double()`` model keeps float64 through the actions and elements (it failed the
    1e-9 check at ~2e-7 when elements were fp32)."""
    g = get_group(group)
    ex = g.example(batch=3, num_nodes=6, seed=0)
    torch.manual_seed(0)
    in_shapes = {k: tuple(v.shape[1:]) for k, v in ex.fields.items()}
    base = FlatMLP(in_shapes, ex.out_shapes, hidden=16)
    args = {"hidden": 8} if sampler in ("learned", "canonical") else None
    model = lps.symmetrize(
        base, g, field_specs(ex.fields, ex.types), ex.out_types, sampler, sampler_args=args
    )
    model = model.double().eval()
    fields = {k: v.double() for k, v in ex.fields.items()}
    err = assert_equivariant(model, example=fields, mask=ex.mask)  # tolerance 1e-9
    assert err < 1e-9
    out = model(mask=ex.mask, **fields)
    assert all(v.dtype == torch.float64 for v in out.prediction.values())


def test_e3nn_judges_a_float64_canonical_model_equivariant() -> None:
    """e3nn's own checker (componentwise, 1e-9 in float64) as an outside judge."""
    from e3nn import o3
    from e3nn.util.test import assert_equivariant as e3nn_assert_equivariant

    torch.manual_seed(0)
    model = lps.symmetrize(Base(), "O(3)", {"pos": "position"}, "position", "canonical")
    model = model.double().eval()

    def f(pos):
        with torch.no_grad():
            return model(pos=pos).prediction

    x = torch.randn(4, 6, 3, dtype=torch.float64)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        errors = e3nn_assert_equivariant(
            f, args_in=[x], irreps_in=[o3.Irreps("1o")], irreps_out=[o3.Irreps("1o")]
        )
    finally:
        torch.set_default_dtype(before)
    assert max(float(e.max()) for e in errors.values()) < 1e-9


@pytest.mark.parametrize("points", ["collinear", "coincident", "planar"])
def test_degenerate_canonical_frames_stay_equivariant(points: str) -> None:
    """A degenerate frame is completed by directions that turn with the input: exact under
    coupled noise, never a fixed axis."""
    torch.manual_seed(0)
    t = torch.randn(4, 6, 1)
    if points == "collinear":
        x = t * torch.tensor([1.0, 2.0, -0.5])
    elif points == "coincident":
        x = torch.zeros(4, 6, 3) + torch.tensor([0.3, -1.0, 2.0])
    else:
        x = torch.cat([torch.randn(4, 6, 2), torch.zeros(4, 6, 1)], -1)
    for group in ("O(3)", "SO(3)"):
        model = lps.symmetrize(Base(), group, {"pos": "position"}, "position", "canonical")
        assert_equivariant(model.eval(), example={"pos": x})


def test_gram_schmidt_completes_from_the_fallback_not_an_axis() -> None:
    """Rank-1 vectors: the completion comes from the fallback directions, so rotating the
    vectors and the fallback together rotates the frame."""
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(5, 3, 1, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 2.0, 3.0])
    vectors = v.expand(5, 3, 3).clone()  # three equal columns: rank 1
    fill = torch.randn(5, 3, 3, generator=gen, dtype=torch.float64)
    rot = get_group("O(3)").haar(5, dtype=torch.float64, generator=gen).matrix
    q = gram_schmidt(vectors, fallback=fill)
    q_rot = gram_schmidt(rot @ vectors, fallback=rot @ fill)
    torch.testing.assert_close(q_rot, rot @ q, atol=1e-12, rtol=0)
    eye = torch.eye(3, dtype=torch.float64).expand(5, 3, 3)
    torch.testing.assert_close(q.transpose(1, 2) @ q, eye, atol=1e-12, rtol=0)
    # The threshold is relative: the same frame at any scale.
    torch.testing.assert_close(gram_schmidt(1e-9 * vectors, fallback=fill), q, atol=1e-9, rtol=0)


class WrongShape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, pos):
        return torch.zeros(pos.shape[0], *self.shape) + self.w


@pytest.mark.parametrize(
    "shape, message",
    [
        ((3,), r"the output \(position\): got shape \(8, 3\), expected \(B, N, d\)"),
        ((5, 3), r"the output \(position\): 5 nodes, but .* N=6; shape \(8, 5, 3\)"),
        ((6, 2), r"the output \(position\): last axis is 2, but the group acts in d=3"),
    ],
)
def test_outputs_are_checked_against_their_declared_type(shape, message) -> None:
    model = lps.symmetrize(
        WrongShape(shape), "O(3)", {"pos": "position"}, "position", "haar", n_samples=2
    )
    with pytest.raises(ValueError, match=r"base model WrongShape: " + message):
        model(pos=torch.randn(4, 6, 3))


def test_named_outputs_name_the_output() -> None:
    class Two(nn.Module):
        def forward(self, x):
            return {"node": x, "graph": x}  # "graph" is declared invariant (B, C): fine

    model = lps.symmetrize(Two(), "S_n", {"x": "node"}, {"node": "node:2", "graph": "node"})
    with pytest.raises(ValueError, match=r"output 'node' \(node\): 3 channels, but 2"):
        model(x=torch.randn(2, 4, 3))


def test_reserved_names_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"\['noise'\] are reserved"):
        lps.symmetrize(nn.Identity(), "S_n", {"noise": "node"}, "node")
