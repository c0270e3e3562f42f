"""SoftPathway (the soft model in residual-pathway form) and the Strengths tuner's state."""

import math

import pytest
import torch

from lps.data.soft import INERTIA_REP
from lps.soft import DEFAULT_EXACT_PENALTIES, SoftPathway, Strengths, relative_error

# Many tiny ops: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_thread")

GROUPS = ["O(3)", "O(2)_x", "O(2)_y", "O(2)_z"]
HIDDEN = "4x0e + 2x1o@1 + 2x0e@2 + 2x2e@2"


def _model(seed=0):
    torch.manual_seed(seed)
    return SoftPathway(*INERTIA_REP, GROUPS, hidden=HIDDEN, layers=1).double()


def _x(n=32, seed=1):
    return torch.randn(n, 20, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_pathway_before_commit_is_the_free_path_and_exact_path_gets_no_grads():
    model, x = _model(), _x()
    assert model.exact_group is None
    torch.testing.assert_close(model(x), model.free(x))
    model(x).pow(2).mean().backward()
    assert all(p.grad is None for p in model.exact.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.free.parameters())


def test_pathway_commit_to_strongest_group_is_continuous_in_the_exact_path():
    model, x = _model(), _x()
    assert model.commit({"O(3)": 0.3, "O(2)_x": 0.5, "O(2)_y": 0.4, "O(2)_z": 10.0}) == "O(2)_z"
    assert model.exact_group == "O(2)_z" and int(model.committed) == 3
    torch.testing.assert_close(model(x), model.exact(x))  # the free head starts at zero
    err = {g: relative_error(model, g, x, *INERTIA_REP) for g in GROUPS}
    assert err["O(2)_z"] < 1e-6  # the exact path is O(2)_z-equivariant ...
    assert min(err["O(3)"], err["O(2)_x"]) > 1e-3  # ... and not more
    with pytest.raises(RuntimeError, match="already committed"):
        model.commit({"O(3)": 1.0})


def test_pathway_stays_exact_after_steps_and_free_path_breaks_it():
    model, x = _model(), _x()
    model.commit({"O(2)_z": 1.0})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    y = torch.randn(32, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for _ in range(3):
        opt.zero_grad()
        (model(x) - y).pow(2).mean().backward()
        opt.step()
        model.project_()
    assert relative_error(model.exact, "O(2)_z", x, *INERTIA_REP) < 1e-6
    assert relative_error(model, "O(2)_z", x, *INERTIA_REP) > 1e-4  # the free path has grown
    assert float(model.penalties(["O(2)_z"])["O(2)_z"].detach()) > 0
    assert float(model.exact.penalty("O(2)_z").detach()) < 1e-20


def test_pathway_state_dict_restores_the_commit():
    model, x = _model(), _x()
    model.commit({"O(2)_x": 2.0, "O(3)": 1.0})
    fresh = _model(seed=5)
    fresh.load_state_dict(model.state_dict())
    assert fresh.exact_group == "O(2)_x"
    torch.testing.assert_close(fresh(x), model(x))


def test_pathway_bad_input():
    assert _model().commit({g: 0.0 for g in GROUPS}) is None  # every group off: no commit
    with pytest.raises(ValueError, match="not candidate groups"):
        _model().commit({"SO(3)": 1.0})
    with pytest.raises(ValueError, match="S_3"):
        SoftPathway(*INERTIA_REP, ["O(3)", "S_3"], hidden=HIDDEN, layers=1)


def test_strengths_state_dict_round_trip():
    lam = Strengths(GROUPS, init=10.0, adjust_at=4, total_steps=10)
    lam.observe(0, {"O(3)": 2.0, "O(2)_x": 1.0, "O(2)_y": 1.0, "O(2)_z": 0.5})
    state = lam.state_dict()
    other = Strengths(GROUPS, init=10.0, adjust_at=4, total_steps=10)
    other.load_state_dict(state)
    for step in range(1, 4):  # both see the same penalties after the "resume"
        pens = {"O(3)": 1.0, "O(2)_x": 0.8, "O(2)_y": 0.9, "O(2)_z": 0.1 * step}
        assert lam.observe(step, pens) == other.observe(step, pens)
    assert lam.adjusted and other.adjusted
    assert other.values == pytest.approx(lam.values)
    assert other.values["O(2)_z"] == 10.0
    assert other.values["O(3)"] == pytest.approx(10.0 * (0.1 / 1.0) ** 2)
    with pytest.raises(ValueError, match="checkpoint groups"):
        Strengths(["O(3)"]).load_state_dict(state)
    assert math.isfinite(sum(other.values.values()))


def test_supergroups_are_the_candidates_containing_the_group():
    model = _model()
    assert model.supergroups("O(2)_z") == ["O(3)"]
    assert model.supergroups("O(2)_x") == ["O(3)"]
    assert model.supergroups("O(3)") == []


@pytest.mark.parametrize("mode", ["supergroups", "all"])
def test_exact_penalties_only_after_commit_and_only_the_chosen_groups(mode):
    torch.manual_seed(0)
    model = SoftPathway(*INERTIA_REP, GROUPS, mode, hidden=HIDDEN, layers=1).double()
    with torch.no_grad():
        free = {g: float(p) for g, p in model.free.penalties(GROUPS).items()}
        before = {g: float(p) for g, p in model.penalties(GROUPS).items()}
    assert before == pytest.approx(free, rel=1e-12)  # exact path unused before the commit
    model.commit({"O(3)": 1.0, "O(2)_z": 10.0})
    pens = model.penalties(GROUPS)
    paid = ["O(3)"] if mode == "supergroups" else ["O(3)", "O(2)_x", "O(2)_y"]
    for g in GROUPS:
        exact = float(model.exact.penalty(g).detach())
        expected = float(model.free.penalty(g).detach()) + (exact if g in paid else 0.0)
        assert float(pens[g].detach()) == pytest.approx(expected, rel=1e-12), g
        if g in paid:
            assert exact > 1e-3  # the committed O(2)_z path is not equivariant to g
    assert float(model.exact.penalty("O(2)_z").detach()) < 1e-20
    pens["O(3)"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.exact.parameters())
    torch.manual_seed(0)
    plain = SoftPathway(*INERTIA_REP, GROUPS, "none", hidden=HIDDEN, layers=1).double()
    plain.commit({"O(3)": 1.0, "O(2)_z": 10.0})
    assert float(plain.penalties(["O(3)"])["O(3)"].detach()) == pytest.approx(
        float(plain.free.penalty("O(3)").detach()), rel=1e-12
    )


def test_exact_penalties_move_the_exact_path_toward_o3_in_training():
    """With a strong O(3) strength the exact O(2)_z path drifts toward O(3) under training."""
    x = _x(64)
    y = torch.randn(64, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    errs = {}
    for mode in ("none", "supergroups"):
        torch.manual_seed(0)
        model = SoftPathway(*INERTIA_REP, GROUPS, mode, hidden=HIDDEN, layers=1).double()
        model.commit({"O(3)": 10.0, "O(2)_z": 20.0})
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(30):
            opt.zero_grad()
            pens = model.penalties(["O(3)"])
            ((model(x) - y).pow(2).mean() + 10.0 * pens["O(3)"]).backward()
            opt.step()
            model.project_()
        errs[mode] = float(model.exact.penalty("O(3)").detach())
        assert relative_error(model.exact, "O(2)_z", x, *INERTIA_REP) < 1e-6
    assert errs["supergroups"] < 0.5 * errs["none"]


def test_exact_penalties_default_is_supergroups():
    from lps.experiments.soft import run_soft_variant

    assert _model().exact_penalties == DEFAULT_EXACT_PENALTIES == "supergroups"
    kw = {"epochs": 2, "adjust_at": 1, "sizes": (60, 30, 30), "hidden": HIDDEN}
    run = run_soft_variant(pathway=True, **kw)
    assert run["settings"]["exact_penalties"] == "supergroups"
    assert run_soft_variant(**kw)["settings"]["exact_penalties"] is None  # no pathway


def test_exact_penalties_bad_input():
    from lps.experiments.soft import run_soft_variant

    with pytest.raises(ValueError, match="exact_penalties must be one of"):
        SoftPathway(*INERTIA_REP, GROUPS, "some", hidden=HIDDEN, layers=1)
    with pytest.raises(ValueError, match="exact_penalties= needs pathway"):
        run_soft_variant(exact_penalties="all", epochs=1)
    with pytest.raises(ValueError, match="exact_penalties= needs pathway"):  # any value
        run_soft_variant(exact_penalties="none", epochs=1)
    with pytest.raises(ValueError, match="exact_penalties= needs pathway"):  # not ignored
        run_soft_variant(exact_penalties="all", residual_prior=0.5, project="O(3)", epochs=1)
