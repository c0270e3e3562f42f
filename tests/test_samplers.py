"""Samplers: exact coupled-noise equivariance, valid elements on degenerate inputs, frames
with ties, gradients through the relaxations, and property-based checks on S_n."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lps import symmetrize
from lps.backbones import FlatMLP
from lps.fields import FieldType
from lps.groups import (
    GROUP_NAMES,
    Perm,
    Permutation,
    Product,
    ProductElement,
    Rigid,
    get_group,
)
from lps.samplers import (
    SAMPLER_NAMES,
    FrameSampler,
    build_sampler,
    scores_to_perm,
    sinkhorn,
    sinkhorn_log,
    softsort,
    sort_scores,
)
from lps.testing import assert_equivariant, equivariance_error, error_vs_k
from tests.conftest import supported

pytestmark = pytest.mark.usefixtures("single_thread")

FP32_TOL = 1e-4


def combos() -> list[tuple[str, str]]:
    """Every supported group x sampler pair (as in ``lps.testing.audit``)."""
    out = []
    for gname in GROUP_NAMES:
        for sname in SAMPLER_NAMES:
            if supported(gname, sname):
                out.append((gname, sname))
    return out


def perm_of(element) -> Perm | None:
    if isinstance(element, Perm):
        return element
    if isinstance(element, ProductElement):
        return element.perm
    return None


def rigid_of(element) -> Rigid | None:
    if isinstance(element, Rigid):
        return element
    if isinstance(element, ProductElement):
        return element.rigid
    return None


def assert_valid_perm(perm: Perm, mask: torch.Tensor | None, k: int) -> None:
    """Each row is a bijection of its real nodes and fixes the padding."""
    idx = perm.index
    m, n = idx.shape
    sizes = [n] * m if mask is None else mask.repeat_interleave(k, 0).sum(1).tolist()
    for row, s in zip(idx.tolist(), sizes):
        assert sorted(row[:s]) == list(range(s)), row
        assert row[s:] == list(range(s, n)), row


def assert_valid_rotation(rigid: Rigid, special: bool, where: str = "") -> None:
    """fp32, finite, orthogonal to 1e-5, det +-1 (+1 for the special groups)."""
    r = rigid.matrix.detach()
    assert r.dtype == torch.float32, where
    assert torch.isfinite(r).all(), where
    eye = torch.eye(r.shape[-1], device=r.device)
    assert (r.transpose(1, 2) @ r - eye).abs().max() < 1e-5, where
    det = torch.linalg.det(r)
    assert (det.abs() - 1).abs().max() < 1e-5, where
    if special:
        assert (det > 0).all(), where
    if rigid.translation is not None:
        assert torch.isfinite(rigid.translation).all(), where


def is_special(group) -> bool:
    rigid = group.rigid_group if isinstance(group, Product) else group
    return bool(getattr(rigid, "special", False))


# Coupled-noise exact equivariance --------------------------------------------------------


@pytest.mark.parametrize("gname, sname", combos())
def test_coupled_noise_equivariance(gname, sname, build_model, record_property) -> None:
    """One sample per coupled noise is exactly equivariant: error at fp32 precision.

    Measured over 20 seeds of ``lps.testing.audit`` inputs: with a single Gram-Schmidt
    projection pass the learned/canonical rigid rows reached 1e-4 to 4.3e-4 (1-3 seeds in
    20 above the 1e-4 tolerance; the 5e-5 seen for canonical E(3) was the same effect).
    The pooled frame vectors of a freshly initialised network are ill-conditioned
    (condition numbers up to ~3e4), and one pass leaves eps * cond of non-orthogonality.
    With re-orthogonalisation the worst row is 2.4e-5 (canonical SO(3)), learned <= 4e-6,
    frame and haar <= 2e-6, so the fp32 tolerance holds for every row, canonical included.
    """
    errors = []
    for seed in (0, 1, 2):
        model, fields, mask = build_model(gname, sname, seed=seed, n_samples=2)
        tol = FP32_TOL if get_group(gname).exact else get_group(gname).tolerance  # resampling
        gen = torch.Generator().manual_seed(100 + seed)
        errors.append(
            assert_equivariant(model, fields, mask, tolerance=tol, n_trials=2, generator=gen)
        )
    record_property("max_equivariance_error", max(errors))
    if gname in ("S_n", "C2", "C4"):  # pure gathers: bit-exact
        assert max(errors) == 0.0


@pytest.mark.parametrize("gname, sname", [("S_n", "learned"), ("SO(3)", "learned")])
def test_uncoupled_single_sample_is_not_equivariant(gname, sname, build_model) -> None:
    """Sanity check of the test above: without coupling the noise, one sample is not."""
    model, fields, mask = build_model(gname, sname, n_samples=1)
    torch.manual_seed(0)
    err = equivariance_error(model, fields, mask, coupled_noise=False, n_trials=2)
    assert err > 1e-2


# Valid elements --------------------------------------------------------------------------


PERM_GROUPS = [g for g in GROUP_NAMES if g.startswith("S_n")]


@pytest.mark.parametrize("gname", PERM_GROUPS)
@pytest.mark.parametrize("sname", SAMPLER_NAMES)
def test_sampled_permutations_are_bijections(gname, sname, build_model) -> None:
    model, fields, mask = build_model(gname, sname, n_samples=3, batch=5, num_nodes=6)
    assert mask is not None and not mask.all()  # padded graphs of several sizes
    out = model(mask=mask, return_samples=True, **fields)
    k = model.num_samples()
    perm = perm_of(out.element)
    assert perm.index.shape == (5 * k, 6)
    assert_valid_perm(perm, mask, k)
    assert out.samples["node"].shape[:2] == (5, k)


def rigid_inputs(
    case: str, n: int, d: int, batch: int = 2, with_adj: bool = False, seed: int = 0
) -> tuple[dict[str, torch.Tensor], dict[str, str], torch.Tensor | None]:
    """Degenerate (and generic) inputs for the rigid samplers."""
    gen = torch.Generator().manual_seed(seed)
    mask = None
    pos = torch.randn(batch, n, d, generator=gen)
    vel = torch.randn(batch, n, 1, d, generator=gen)
    if case == "coincident":
        pos = torch.randn(batch, 1, d, generator=gen).expand(batch, n, d).clone()
        vel = torch.zeros(batch, n, 1, d)
    elif case == "collinear":
        t = torch.randn(batch, n, 1, generator=gen)
        pos = t * torch.randn(batch, 1, d, generator=gen) + torch.randn(batch, 1, d, generator=gen)
        vel = torch.zeros(batch, n, 1, d)
    elif case == "collinear_velocities":
        axis = torch.randn(batch, 1, 1, d, generator=gen)
        t = torch.randn(batch, n, 1, generator=gen)
        pos = t * axis[:, :, 0]
        vel = torch.randn(batch, n, 1, 1, generator=gen) * axis
    elif case == "zero_velocities":
        vel = torch.zeros(batch, n, 1, d)
    elif case == "all_zero":
        pos, vel = torch.zeros(batch, n, d), torch.zeros(batch, n, 1, d)
    elif case == "single_real_node":
        mask = torch.zeros(batch, n, dtype=torch.bool)
        mask[:, 0] = True
        pos, vel = pos * mask[..., None], vel * mask[..., None, None]
    x = torch.randn(batch, n, 2, generator=gen)
    if mask is not None:
        x = x * mask[..., None]
    fields = {"x": x, "pos": pos, "vel": vel}
    types = {"x": "node", "pos": "position", "vel": "node_vector"}
    if with_adj:
        adj = torch.ones(batch, n, n, 1) - torch.eye(n)[None, :, :, None]
        if mask is not None:
            adj = adj * (mask[:, :, None] & mask[:, None, :])[..., None]
        fields["adj"], types["adj"] = adj, "pair"
    return fields, types, mask


def rigid_model(gname: str, sname: str, fields, types, seed: int = 0, n_samples: int = 3):
    group = get_group(gname)
    torch.manual_seed(seed)
    n, d = fields["pos"].shape[1:]
    kwargs = {}
    if sname in ("learned", "canonical"):
        kwargs = {"scalar_dim": 2, "vector_dim": 1, "pair_dim": int("adj" in fields), "hidden": 16}
    base = FlatMLP(
        {k: tuple(v.shape[1:]) for k, v in fields.items()},
        {"inv": (2,), "pos_out": (n, d)},
        hidden=16,
    )
    return symmetrize(
        base,
        group,
        types,
        {"inv": "invariant", "pos_out": "position"},
        sname,
        n_samples=n_samples,
        sampler_args=kwargs,
    )


DEGENERATE = [
    "coincident",
    "collinear",
    "collinear_velocities",
    "zero_velocities",
    "all_zero",
    "single_real_node",
]


@pytest.mark.parametrize("gname", ["O(3)", "SO(3)", "SE(3)", "S_n x E(3)", "SO(2)", "O(5)"])
@pytest.mark.parametrize("sname", ["learned", "canonical", "frame", "haar"])
def test_rotations_valid_on_degenerate_inputs(gname, sname) -> None:
    group = get_group(gname)
    d = group.d
    for case in DEGENERATE + ["generic", "one_node"]:
        n = 1 if case == "one_node" else 5
        fields, types, mask = rigid_inputs(
            case, n, d, with_adj=isinstance(group, Product), seed=len(case)
        )
        model = rigid_model(gname, sname, fields, types)
        model.train()
        out = model(mask=mask, return_samples=True, **fields)
        where = f"{gname} {sname} {case}"
        assert_valid_rotation(rigid_of(out.element), is_special(group), where)
        if isinstance(group, Product):
            assert_valid_perm(out.element.perm, mask, model.num_samples())
        for name, y in out.prediction.items():
            assert torch.isfinite(y).all(), (where, name)
        # Gradients stay finite (no 0/0 in Gram-Schmidt or in the frame).
        loss = sum(y.square().sum() for y in out.prediction.values())
        loss.backward()
        for pname, p in model.named_parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all(), (where, pname)
        model.zero_grad()


def test_learned_rotations_under_reflection_have_both_dets() -> None:
    """O(3): the learned sampler is not restricted to SO(3) (det -1 appears)."""
    fields, types, mask = rigid_inputs("generic", 5, 3, batch=16)
    model = rigid_model("O(3)", "learned", fields, types, n_samples=4)
    out = model(mask=mask, return_samples=True, **fields)
    det = torch.linalg.det(out.element.matrix)
    assert (det > 0).any() and (det < 0).any()


# Frames with ties ------------------------------------------------------------------------


def cube(batch: int = 2) -> torch.Tensor:
    pts = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=3)))
    return (0.7 * pts + torch.tensor([0.3, -0.2, 0.5])).expand(batch, 8, 3).clone()


def cube_model(tie_tol: float = 1e-4, exact: bool = True):
    torch.manual_seed(0)
    base = FlatMLP({"pos": (8, 3)}, {"inv": (4,)}, hidden=32)
    sampler = FrameSampler(get_group("O(3)"), tie_tol=tie_tol, exact=exact)
    return symmetrize(base, "O(3)", {"pos": "position"}, {"inv": "invariant"}, sampler).eval()


def test_frame_on_cube_is_equivariant_in_expectation() -> None:
    """The cube's covariance is isotropic (one eigenvalue, three times): the frame is the
    whole of O(3) and the Monte-Carlo error falls with k (measured: k=1 0.26-0.42,
    k=64 0.04-0.05). Sampled mode: the exact mode enumerates 8 sign patterns of one Haar
    turn per input, so its k does not grow.
    """
    model = cube_model(1e-4, exact=False)
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    errs = dict(error_vs_k(model, {"pos": cube()}, ks=(1, 64), n_trials=4, generator=gen))
    assert errs[64] < 0.5 * errs[1], errs
    assert errs[64] < 0.2, errs


def test_frame_on_cube_samples_spread_over_o3() -> None:
    sampler = build_sampler("frame", "O(3)", exact=False)
    types = {"pos": FieldType.POSITION}
    torch.manual_seed(0)
    out = sampler({"pos": cube(1)}, types, None, 4000)
    r = out.element.matrix
    assert_valid_rotation(out.element, special=False)
    assert r.mean(0).abs().max() < 0.05  # Haar moments: E[R] = 0, E[R_ij^2] = 1/3
    assert ((r**2).mean(0) - 1 / 3).abs().max() < 0.03


@pytest.mark.parametrize("gname", ["O(3)", "SO(3)", "E(3)", "SE(3)", "S_n x O(3)"])
def test_frame_generic_points_coupled_noise_exact(gname) -> None:
    fields, types, mask = rigid_inputs("generic", 6, 3, batch=3, with_adj="S_n" in gname)
    model = rigid_model(gname, "frame", fields, types, n_samples=4)
    gen = torch.Generator().manual_seed(0)
    err = assert_equivariant(model, fields, mask, tolerance=FP32_TOL, generator=gen)
    assert err < FP32_TOL


@pytest.mark.parametrize("gname", ["O(3)", "SO(3)", "E(3)", "SE(3)", "S_n x O(3)"])
@pytest.mark.parametrize("shape", ["cube", "square_prism"])
def test_frame_tied_eigenvalues_coupled_noise_exact(gname, shape) -> None:
    """Repeated covariance eigenvalues (a cube: three tied; a square prism: two): the
    eigenspace is turned by noise vectors drawn in world coordinates, so eigh's arbitrary
    basis cancels and one coupled sample is exactly equivariant."""
    pos = cube(3)
    if shape == "square_prism":
        pos = pos * torch.tensor([1.0, 1.0, 2.5])
    fields = {"pos": pos, "vel": torch.zeros(3, 8, 1, 3)}
    types = {"pos": "position", "vel": "node_vector"}
    if "S_n" in gname:
        fields["adj"] = torch.zeros(3, 8, 8, 1)
        types["adj"] = "pair"
    model = rigid_model(gname, "frame", fields, types, n_samples=4).eval()
    gen = torch.Generator().manual_seed(0)
    err = assert_equivariant(model, fields, None, tolerance=FP32_TOL, generator=gen)
    assert err < FP32_TOL


def path_or_cycle(n_real: int, n: int, cycle: bool) -> torch.Tensor:
    adj = torch.zeros(n, n)
    for i in range(n_real if cycle else n_real - 1):
        j = (i + 1) % n_real
        adj[i, j] = adj[j, i] = 1.0
    return adj[None, ..., None]


def frame_perms(adj: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    sampler = build_sampler("frame", "S_n", exact=False)  # draws: their distribution
    torch.manual_seed(0)
    out = sampler({"adj": adj}, {"adj": FieldType.PAIR}, mask, k)
    assert_valid_perm(out.element, mask, k)
    return out.element.index


def test_sn_frame_on_cycle_is_uniform_over_tied_nodes() -> None:
    """A 6-cycle is vertex-transitive: every node is tied, so every order can appear and
    each node lands in each canonical position equally often."""
    n_real, n, k = 6, 7, 3000
    mask = (torch.arange(n) < n_real)[None]
    idx = frame_perms(path_or_cycle(n_real, n, cycle=True), mask, k)
    distinct = Counter(tuple(r) for r in idx.tolist())
    assert len(distinct) > 500  # of 720, with 3000 draws (measured ~680)
    counts = torch.stack(
        [torch.bincount((idx == v).float().argmax(1), minlength=n) for v in range(n_real)]
    )
    counts = counts[:, :n_real].double()
    expected = k / n_real
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 80.0, counts  # 36 cells, df ~ 25: mean ~25


def test_sn_frame_on_path_swaps_only_tied_nodes() -> None:
    """A path 0-1-2-3-4 has the reversal automorphism: {0, 4} and {1, 3} are tied, node 2
    is not. Tied nodes trade places (both orders appear, about equally); untied ones never
    move between blocks."""
    n_real, n, k = 5, 6, 2000
    mask = (torch.arange(n) < n_real)[None]
    idx = frame_perms(path_or_cycle(n_real, n, cycle=False), mask, k)
    slots: dict[frozenset, set] = {}
    for block in ({0, 4}, {1, 3}, {2}):
        pos = {int(p) for v in block for p in (idx == v).float().argmax(1).unique()}
        slots[frozenset(block)] = pos
        assert len(pos) == len(block), (block, pos)  # a block keeps its canonical slots
    distinct = Counter(tuple(r) for r in idx.tolist())
    assert len(distinct) == 4, distinct  # 2 orders of {0, 4} x 2 orders of {1, 3}
    for count in distinct.values():
        assert abs(count - k / 4) < 0.1 * k


def test_sn_frame_with_node_features_breaks_ties() -> None:
    """Distinct node features make the frame a single permutation: the sort by features."""
    n = 5
    adj = path_or_cycle(n, n, cycle=True)
    feats = torch.tensor([3.0, 1.0, 4.0, 0.5, 2.0]).view(1, n, 1)
    sampler = build_sampler("frame", "S_n")
    k = sampler.num_samples(1)
    out = sampler({"adj": adj, "x": feats}, {"adj": FieldType.PAIR, "x": FieldType.NODE}, None, k)
    assert (out.element.index == torch.tensor([3, 1, 4, 0, 2])).all()


# Gradients and relaxations ---------------------------------------------------------------


def sn_model(entropy_weight: float = 0.0, n: int = 6, seed: int = 0, **sampler_kwargs):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(n)[None, :] < torch.tensor([n, n - 2, 3])[:, None]
    x = torch.randn(3, n, 2, generator=gen) * mask[..., None]
    adj = (torch.rand(3, n, n, generator=gen) < 0.5).float().triu(1)
    adj = ((adj + adj.transpose(1, 2)) * (mask[:, :, None] & mask[:, None, :]))[..., None]
    torch.manual_seed(seed)
    base = FlatMLP({"x": (n, 2), "adj": (n, n, 1)}, {"g": (2,), "node": (n, 3)}, hidden=32)
    model = symmetrize(
        base,
        "S_n",
        {"x": "node", "adj": "pair"},
        {"g": "invariant", "node": "node"},
        "learned",
        n_samples=2,
        sampler_args={
            "in_dim": 2,
            "hidden": 16,
            "layers": 2,
            "entropy_weight": entropy_weight,
            **sampler_kwargs,
        },
    )
    return model, {"x": x, "adj": adj}, mask


def test_learned_perm_sampler_gets_gradients() -> None:
    model, fields, mask = sn_model(entropy_weight=0.0)
    model.train()
    out = model(mask=mask, **fields)
    loss = sum(y.square().mean() for y in out.prediction.values())
    loss.backward()
    grads = {n: p.grad for n, p in model.sampler.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), grads.keys()
    assert grads["score.weight"].abs().sum() > 0
    assert grads["embed.weight"].abs().sum() > 0  # through the whole GIN
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("convs"))


def test_learned_rigid_sampler_gets_gradients() -> None:
    fields, types, mask = rigid_inputs("generic", 5, 3, batch=3)
    model = rigid_model("SO(3)", "learned", fields, types, n_samples=2)
    model.train()
    out = model(**fields)
    loss = out.prediction["pos_out"].square().mean() + out.prediction["inv"].square().mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.sampler.named_parameters()}
    assert grads["frame.weight"] is not None
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)
    assert grads["frame.weight"].abs().sum() > 0  # through Gram-Schmidt
    assert grads["embed.0.weight"].abs().sum() > 0


def test_product_sampler_gets_gradients_for_both_heads() -> None:
    fields, types, mask = rigid_inputs("generic", 5, 3, batch=3, with_adj=True)
    model = rigid_model("S_n x SO(3)", "learned", fields, types, n_samples=2)
    model.train()
    out = model(**fields)
    loss = out.prediction["pos_out"].square().mean() + out.prediction["inv"].square().mean()
    loss.backward()
    assert model.sampler.score.weight.grad.abs().sum() > 0  # permutation head
    assert model.sampler.frame.weight.grad.abs().sum() > 0  # rotation head


def test_straight_through_value_is_the_exact_gather() -> None:
    model, fields, mask = sn_model()
    model.eval()
    noise = model.sample_noise(mask=mask, **fields)
    with_grad = model(mask=mask, noise=noise, return_samples=True, **fields)
    assert with_grad.element.soft is not None  # the relaxation is active
    assert with_grad.prediction["g"].requires_grad
    with torch.no_grad():
        exact = model(mask=mask, noise=noise, return_samples=True, **fields)
    assert exact.element.soft is None
    assert torch.equal(with_grad.element.index, exact.element.index)
    for name in exact.prediction:
        assert torch.equal(with_grad.prediction[name].detach(), exact.prediction[name])


def test_soft_action_approximates_hard_action() -> None:
    """With a sharp soft matrix the relaxed action is close to the gather (gradient sanity)."""
    scores = torch.tensor([[0.3, -1.0, 2.0, 0.9]], requires_grad=True)
    perm, _ = scores_to_perm(scores, None, tau=0.01, sinkhorn_iters=20)
    x = torch.randn(1, 4, 3)
    hard = Permutation().act(Perm(perm.index), x, FieldType.NODE, inverse=True)
    assert torch.allclose(_dense_relaxed(x, perm.soft, (1,)), hard, atol=1e-3)


def _dense_relaxed(x: torch.Tensor, soft: torch.Tensor, axes) -> torch.Tensor:
    """Reference relaxed action: the soft matrix (M, N, N) multiplied into each node axis."""
    for axis in axes:
        moved = x.movedim(axis, 1)
        x = torch.einsum("mij,mj...->mi...", soft.to(moved.dtype), moved).movedim(1, axis)
    return x


@pytest.mark.parametrize(
    "ftype, shape",
    [
        (FieldType.NODE, (5, 4)),
        (FieldType.PAIR, (5, 5, 2)),
        (FieldType.NODE_VECTOR, (5, 2, 3)),
        (FieldType.POSITION, (5, 3)),
    ],
)
@pytest.mark.parametrize("inverse", [True, False])
def test_straight_through_gradients(ftype, shape, inverse) -> None:
    """The action with a soft matrix: value = gather; d/dx = exact gather gradient (not doubled
    by the relaxed path); d/dsoft = the gradient of the dense relaxed action at the soft matrix.
    """
    gen = torch.Generator().manual_seed(0)
    m, n = 3, shape[0]
    index = torch.stack([torch.randperm(n, generator=gen) for _ in range(m)])
    soft = torch.softmax(torch.randn(m, n, n, generator=gen, dtype=torch.float64), -1)
    soft.requires_grad_(True)
    x = torch.randn(m, *shape, generator=gen, dtype=torch.float64, requires_grad=True)
    group, perm = Permutation(), Perm(index, soft)
    y = group.act(perm, x, ftype, inverse=inverse)
    hard = group.act(Perm(index), x.detach(), ftype, inverse=inverse)
    assert torch.equal(y.detach(), hard)
    weight = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    grad_x, grad_soft = torch.autograd.grad((y * weight).sum(), (x, soft))

    x_ref = x.detach().clone().requires_grad_(True)
    (group.act(Perm(index), x_ref, ftype, inverse=inverse) * weight).sum().backward()
    assert torch.equal(grad_x, x_ref.grad)
    soft_ref = soft.detach().clone().requires_grad_(True)
    axes = (1, 2) if ftype == FieldType.PAIR else (1,)
    mat = soft_ref if inverse else soft_ref.transpose(1, 2)
    (_dense_relaxed(x.detach(), mat, axes) * weight).sum().backward()
    assert torch.allclose(grad_soft, soft_ref.grad, atol=1e-12)


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_perm_entropy_aux_loss(weight: float) -> None:
    model, fields, mask = sn_model(entropy_weight=weight)
    model.train()
    out = model(mask=mask, **fields)
    assert "perm_entropy" in out.diagnostics
    assert not out.diagnostics["perm_entropy"].requires_grad
    if weight > 0:
        aux = out.aux_losses["perm_entropy"]
        assert aux.requires_grad and aux.dim() == 0 and float(aux.detach()) > 0
        assert torch.allclose(aux.detach(), weight * out.diagnostics["perm_entropy"])
        aux.backward()
        assert model.sampler.score.weight.grad.abs().sum() > 0
    else:
        assert "perm_entropy" not in out.aux_losses
        assert out.aux_loss == 0.0
    assert "perm_spread" in out.diagnostics  # k = 2


def test_sinkhorn_doubly_stochastic_with_padding() -> None:
    gen = torch.Generator().manual_seed(0)
    m, n = 6, 7
    sizes = torch.tensor([7, 6, 5, 3, 1, 2])
    mask = torch.arange(n)[None, :] < sizes[:, None]
    scores = torch.randn(m, n, generator=gen).requires_grad_(True)
    perm, entropy = scores_to_perm(scores, mask, tau=0.1, sinkhorn_iters=10)
    soft = perm.soft
    assert soft.shape == (m, n, n) and torch.isfinite(soft).all()
    real = mask[:, :, None] & mask[:, None, :]
    pad_diag = torch.eye(n, dtype=torch.bool) & ~mask[:, :, None]
    assert (soft >= 0).all()
    row, col = (soft * real).sum(2), (soft * real).sum(1)
    assert (col - mask.float()).abs().max() < 1e-5  # the last step normalises columns
    assert (row - mask.float()).abs().max() < 1e-2  # measured 3.5e-3 after 10 iterations
    assert torch.equal(soft[pad_diag], torch.ones(int(pad_diag.sum())))
    assert soft[~real & ~pad_diag].abs().max() == 0.0  # nothing leaks into padding
    # The soft matrix agrees with the hard permutation on the real rows.
    assert torch.equal(soft.argmax(-1)[mask], perm.index[mask])
    assert entropy.dim() == 0 and 0 < float(entropy.detach()) < math.log(n)
    # More iterations: closer to doubly stochastic (same log-weights, 10 vs 100 steps).
    s = scores.detach()
    logits = softsort(s, sort_scores(s, mask), mask, 0.1)
    row_err = [
        ((sinkhorn(logits, it) * real).sum(2) - mask.float()).abs().max() for it in (10, 100)
    ]
    assert row_err[1] <= row_err[0] < 1e-2


@pytest.mark.parametrize("tau", [0.01, 0.1])
def test_exp_domain_sinkhorn_matches_log_domain(tau: float) -> None:
    """The fast exp-domain Sinkhorn gives the log-domain iterates: values and gradients."""
    gen = torch.Generator().manual_seed(1)
    m, n = 5, 40
    mask = torch.arange(n)[None, :] < torch.tensor([40, 31, 20, 2, 1])[:, None]
    raw = torch.randn(m, n, generator=gen) * mask
    scores = (raw / raw.norm(dim=1, keepdim=True)).requires_grad_(True)
    index = sort_scores(scores.detach(), mask)
    weight = torch.randn(m, n, n, generator=gen)
    out = {}
    for name, fn in (("exp", sinkhorn), ("log", sinkhorn_log)):
        soft = fn(softsort(scores, index, mask, tau), 10)
        out[name] = (soft, torch.autograd.grad((soft * weight).sum(), scores)[0])
    assert (out["exp"][0] - out["log"][0]).abs().max() < 1e-6
    grad_err = (out["exp"][1] - out["log"][1]).abs().max() / out["log"][1].abs().max()
    assert grad_err < 1e-5


def test_sort_scores_padding_last_and_stable() -> None:
    scores = torch.tensor([[0.5, -1.0, 0.5, 9.0, -9.0]])
    mask = torch.tensor([[True, True, True, False, False]])
    assert sort_scores(scores, mask).tolist() == [[1, 0, 2, 3, 4]]
    assert sort_scores(scores, None).tolist() == [[4, 1, 0, 2, 3]]


def test_relaxation_off_without_grad() -> None:
    scores = torch.randn(2, 4, requires_grad=True)
    with torch.no_grad():
        perm, entropy = scores_to_perm(scores, None)
    assert perm.soft is None and entropy is None


# Mixed precision inside the samplers -----------------------------------------------------


@pytest.mark.parametrize(
    "gname, sname",
    [("S_n", "learned"), ("SO(3)", "learned"), ("O(3)", "frame"), ("S_n x SE(3)", "learned")],
)
def test_sampler_group_math_is_fp32_under_autocast(gname, sname, build_model) -> None:
    model, fields, mask = build_model(gname, sname, n_samples=3)
    k = model.num_samples(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.sampler(fields, model.input_types, mask, k)
    perm, rigid = perm_of(out.element), rigid_of(out.element)
    if perm is not None:
        assert_valid_perm(perm, mask, k)
        if sname == "learned":  # gradients are on: the Sinkhorn matrix exists, in fp32
            assert perm.soft is not None and perm.soft.dtype == torch.float32
    if rigid is not None:
        assert_valid_rotation(rigid, is_special(model.group))


# Property-based: S_n ---------------------------------------------------------------------


_MODELS: dict[tuple[str, int], object] = {}


def cached_sn_model(sname: str, n: int):
    """One model per (sampler, N): building inside each example would dominate the time."""
    key = (sname, n)
    if key not in _MODELS:
        torch.manual_seed(n)
        base = FlatMLP({"x": (n, 2), "adj": (n, n, 1)}, {"g": (2,), "node": (n, 2)}, hidden=16)
        kwargs = {"in_dim": 2, "hidden": 8, "layers": 1} if sname == "learned" else {}
        _MODELS[key] = symmetrize(
            base,
            "S_n",
            {"x": "node", "adj": "pair"},
            {"g": "invariant", "node": "node"},
            sname,
            n_samples=2,
            sampler_args=kwargs,
        ).eval()
    return _MODELS[key]


@st.composite
def padded_graphs(draw):
    b = draw(st.integers(1, 3))
    n = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, n), min_size=b, max_size=b))
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(n)[None, :] < torch.tensor(sizes)[:, None]
    x = torch.randn(b, n, 2, generator=gen) * mask[..., None]
    adj = (torch.rand(b, n, n, generator=gen) < 0.5).float().triu(1)
    adj = ((adj + adj.transpose(1, 2)) * (mask[:, :, None] & mask[:, None, :]))[..., None]
    return {"x": x, "adj": adj}, mask, seed


@pytest.mark.parametrize("sname", ["haar", "learned"])
@settings(max_examples=20, deadline=None)
@given(data=padded_graphs())
def test_property_sn_bijection_and_equivariance(sname, data) -> None:
    fields, mask, seed = data
    n = mask.shape[1]
    model = cached_sn_model(sname, n)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model(mask=mask, return_samples=True, **fields)
    assert_valid_perm(out.element, mask, 2)
    gen = torch.Generator().manual_seed(seed)
    err = equivariance_error(model, fields, mask, n_trials=2, generator=gen)
    assert err <= FP32_TOL


# GPU -------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize(
    "gname, sname",
    [("S_n", "learned"), ("SO(3)", "learned"), ("E(3)", "frame"), ("S_n x SE(3)", "learned")],
)
def test_coupled_noise_equivariance_cuda(gname, sname, build_model) -> None:
    model, fields, mask = build_model(gname, sname, n_samples=2, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    err = assert_equivariant(model, fields, mask, tolerance=FP32_TOL, generator=gen)
    assert err <= FP32_TOL
    out = model(mask=mask, return_samples=True, **fields)
    perm, rigid = perm_of(out.element), rigid_of(out.element)
    if perm is not None:
        assert perm.index.is_cuda
        assert_valid_perm(Perm(perm.index.cpu()), mask.cpu(), 2)
    if rigid is not None:
        assert_valid_rotation(Rigid(rigid.matrix.cpu()), is_special(model.group))


@pytest.mark.parametrize(
    "name, kwargs, bad",
    [
        ("haar", {"in_dim": 3}, "in_dim"),
        ("frame", {"hidden": 8}, "hidden"),
        ("learned", {"in_dim": 3, "hiden": 8}, "hiden"),
    ],
)
def test_build_sampler_names_unknown_arguments(name, kwargs, bad) -> None:
    with pytest.raises(ValueError, match=f"takes no setting\\(s\\) {bad}"):
        build_sampler(name, "S_n", **kwargs)


def test_relaxation_recomputed_in_backward_not_stored() -> None:
    """The Sinkhorn iterates are not kept for the backward pass (activation checkpointing);
    the gradients are those of the plain computation."""
    from lps.samplers.relax import _relax

    gen = torch.Generator().manual_seed(0)
    m, n = 4, 30
    mask = torch.arange(n)[None, :] < torch.tensor([30, 25, 12, 3])[:, None]
    scores = torch.randn(m, n, generator=gen).requires_grad_(True)
    weight = torch.randn(m, n, n, generator=gen)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel() * t.element_size()) or t, lambda t: t
    ):
        perm, entropy = scores_to_perm(scores, mask, tau=0.1, sinkhorn_iters=10)
    assert sum(saved) < m * n * n * 4  # less than one (M, N, N) fp32 matrix
    grad = torch.autograd.grad((perm.soft * weight).sum() + entropy, scores)[0]

    ref_scores = scores.detach().clone().requires_grad_(True)
    normed = ref_scores / (ref_scores * mask).norm(dim=1, keepdim=True)
    soft, ent = _relax(normed, perm.index, mask, 0.1, 10)
    ref = torch.autograd.grad((soft * weight).sum() + ent, ref_scores)[0]
    assert torch.allclose(perm.soft, soft) and torch.allclose(entropy, ent)
    assert torch.allclose(grad, ref, atol=1e-6)
