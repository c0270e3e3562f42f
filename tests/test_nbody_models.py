"""The n-body base models, their symmetrization over S_n x E(3) / E(3), and the nbody task."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lps.backbones.gnn import PointGNN
from lps.backbones.transformer import PointTransformer, ordered_pairs
from lps.data import nbody
from lps.groups import get_group
from lps.symmetrize import symmetrize
from lps.testing import assert_equivariant, equivariance_error, error_vs_k
from lps.train.tasks.nbody import NBODY_INPUTS

pytestmark = pytest.mark.usefixtures("single_thread")

SAMPLERS = ("haar", "frame", "canonical", "learned")
SMALL_SAMPLER = {"scalar_dim": 1, "vector_dim": 1, "pair_dim": 1, "hidden": 16, "layers": 2}


def nbody_inputs(batch: int = 3, n: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs shaped like the n-body data (positions, velocities, charges, q_i q_j)."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.where(torch.rand(batch, n, 1, generator=gen) < 0.5, -1.0, 1.0)
    edge = (q @ q.transpose(1, 2)) * (1 - torch.eye(n))
    return {
        "pos": torch.randn(batch, n, 3, generator=gen) + 2.0,  # off-centre: translations matter
        "vel": 0.5 * torch.randn(batch, n, 1, 3, generator=gen),
        "charges": q,
        "edge_attr": edge.unsqueeze(-1),
    }


def small_transformer(seed: int = 0) -> PointTransformer:
    torch.manual_seed(seed)
    return PointTransformer(max_nodes=5, hidden=16, layers=1, heads=2)


def small_gnn(seed: int = 0) -> PointGNN:
    torch.manual_seed(seed)
    return PointGNN(hidden=16, layers=2)


def wrap(base, group: str, sampler: str, n_samples: int = 2):
    kwargs = SMALL_SAMPLER if sampler in ("learned", "canonical") else {}
    model = symmetrize(
        base, group, NBODY_INPUTS, "position", sampler, n_samples=n_samples, sampler_args=kwargs
    )
    return model.eval()


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


# Base models -------------------------------------------------------------------------------


def test_shapes_and_size() -> None:
    x = nbody_inputs(4)
    default = PointTransformer()
    assert 150_000 < sum(p.numel() for p in default.parameters()) < 260_000
    assert default(**x).shape == (4, 5, 3)
    assert PointGNN()(**x).shape == (4, 5, 3)
    src, dst = ordered_pairs(4)
    assert len(src) == 12 and bool((src != dst).all())
    assert len(set(zip(src.tolist(), dst.tolist()))) == 12
    with pytest.raises(ValueError, match="vel"):
        default(x["pos"], x["vel"][:, :, 0], x["charges"], x["edge_attr"])
    with pytest.raises(ValueError, match="max_nodes"):
        small_transformer()(**nbody_inputs(2, n=6))


def test_transformer_alone_is_not_equivariant() -> None:
    model, x = small_transformer(), nbody_inputs()
    group = get_group("S_n x E(3)")
    h = group.random_element(3, 5, generator=torch.Generator().manual_seed(1))
    moved = {k: group.act(h, v, NBODY_INPUTS[k]) for k, v in x.items()}
    with torch.no_grad():
        y, y_moved = model(**x), model(**moved)
    expected = group.act(h, y, "position")
    # Compare the displacements (the output adds the input positions back).
    assert rel(y_moved - moved["pos"], expected - moved["pos"]) > 0.1
    # Not even permutation-equivariant on its own: the index embeddings see the order.
    perm = group.perm_group.random_element(3, 5, generator=torch.Generator().manual_seed(2))
    permuted = {k: group.perm_group.act(perm, v, NBODY_INPUTS[k]) for k, v in x.items()}
    with torch.no_grad():
        y_perm = model(**permuted)
    want = group.perm_group.act(perm, y, "position")
    assert rel(y_perm - permuted["pos"], want - permuted["pos"]) > 0.01


def test_gnn_is_permutation_but_not_rotation_equivariant() -> None:
    model, x = small_gnn(), nbody_inputs()
    group = get_group("S_n x E(3)")
    perm = group.perm_group.random_element(3, 5, generator=torch.Generator().manual_seed(3))
    permuted = {k: group.perm_group.act(perm, v, NBODY_INPUTS[k]) for k, v in x.items()}
    with torch.no_grad():
        y, y_perm = model(**x), model(**permuted)
    torch.testing.assert_close(y_perm, group.perm_group.act(perm, y, "position"))
    rot = get_group("O(3)").random_element(3, generator=torch.Generator().manual_seed(4))
    rotated = {k: get_group("O(3)").act(rot, v, NBODY_INPUTS[k]) for k, v in x.items()}
    with torch.no_grad():
        y_rot = model(**rotated)
    expected = get_group("O(3)").act(rot, y, "position")
    assert rel(y_rot - rotated["pos"], expected - rotated["pos"]) > 0.1


# Symmetrized --------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_symmetrized_transformer_is_exactly_equivariant(sampler: str) -> None:
    model = wrap(small_transformer(), "S_n x E(3)", sampler)
    err = assert_equivariant(model, nbody_inputs(), n_trials=2)
    assert err < 1e-4


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_symmetrized_gnn_is_exactly_equivariant(sampler: str) -> None:
    model = wrap(small_gnn(), "E(3)", sampler)
    assert_equivariant(model, nbody_inputs(), n_trials=2)
    # and still permutation-equivariant, from the GNN itself (same noise, relabelled nodes;
    # the haar noise does not depend on the nodes, the others are per-node or per-graph)
    if sampler == "haar":
        x = nbody_inputs()
        group = get_group("S_n x E(3)")
        perm = group.perm_group.random_element(3, 5, generator=torch.Generator().manual_seed(5))
        permuted = {k: group.perm_group.act(perm, v, NBODY_INPUTS[k]) for k, v in x.items()}
        noise = model.sample_noise(**x)
        with torch.no_grad():
            y = model(noise=noise, **x).prediction
            y_perm = model(noise=noise, **permuted).prediction
        torch.testing.assert_close(y_perm, group.perm_group.act(perm, y, "position"))


@pytest.mark.parametrize("sampler", ("haar", "learned"))
def test_monte_carlo_error_falls_with_k(sampler: str) -> None:
    torch.manual_seed(0)
    model = wrap(small_transformer(), "S_n x E(3)", sampler)
    x = nbody_inputs(batch=2)
    rows = dict(error_vs_k(model, x, ks=(1, 64), n_trials=3))
    assert rows[1] > 1e-3  # a single sample is not equivariant...
    assert rows[64] < 0.4 * rows[1]  # ...and the estimate converges (1/sqrt(64) = 0.125)


def test_translations_move_the_prediction() -> None:
    for base, group in ((small_transformer(), "S_n x E(3)"), (small_gnn(), "E(3)")):
        model = wrap(base, group, "learned")
        x = nbody_inputs()
        shift = torch.tensor([[3.0, -1.0, 0.5]])
        moved = {**x, "pos": x["pos"] + shift.unsqueeze(1)}
        noise = model.sample_noise(**x)  # a pure translation leaves the noise unchanged
        with torch.no_grad():
            y = model(noise=noise, **x).prediction
            y_moved = model(noise=noise, **moved).prediction
        torch.testing.assert_close(y_moved, y + shift.unsqueeze(1), atol=1e-4, rtol=1e-4)


# Bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_degenerate_inputs_give_finite_outputs(sampler: str) -> None:
    model = wrap(small_transformer(), "S_n x E(3)", sampler)
    gnn = wrap(small_gnn(), "E(3)", sampler)
    x = nbody_inputs()
    coincident = {**x, "pos": x["pos"][:, :1].expand(-1, 5, -1).clone()}
    still = {**x, "vel": torch.zeros_like(x["vel"])}
    both = {**coincident, "vel": torch.zeros_like(x["vel"])}
    single = {
        "pos": x["pos"][:, :1],
        "vel": x["vel"][:, :1],
        "charges": x["charges"][:, :1],
        "edge_attr": x["edge_attr"][:, :1, :1],
    }
    for name, inputs in (
        ("coincident", coincident),
        ("zero velocities", still),
        ("coincident and still", both),
        ("single particle", single),
    ):
        for m in (model, gnn):
            with torch.no_grad():
                y = m(**inputs).prediction
            assert y.shape == inputs["pos"].shape, name
            assert bool(torch.isfinite(y).all()), name
            # Coupled noise stays exact while the input has directions to orient by. With
            # every vector zero (or a single particle) there are none: the frame is averaged
            # over a Haar subgroup and the learned frame rests on the noise alone
            # (Gram-Schmidt on near-dependent vectors), which is equivariant in expectation,
            # not sample by sample. Canonicalization (no noise) of an untrained sampler is
            # also ill-conditioned on the informative degenerate inputs (measured: 2 of 6
            # random inits give errors of 5e-2 to 1e-1), so it is only checked for finiteness.
            informative = name in ("coincident", "zero velocities")
            if sampler == "haar" or (informative and sampler != "canonical"):
                assert equivariance_error(m, inputs, n_trials=1) < 1e-4, name
    # training on coincident particles gives finite gradients
    model.train()
    out = model(**coincident)
    (out.prediction.sum() + out.aux_loss).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)


def test_nan_positions_are_refused() -> None:
    model = wrap(small_transformer(), "S_n x E(3)", "learned")
    x = nbody_inputs()
    x["pos"][1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="'pos'.*NaN"):
        model(**x)
    x = nbody_inputs()
    x["vel"][0, 0, 0, 1] = float("inf")
    with pytest.raises(ValueError, match="'vel'.*infinite"):
        model(**x)
    with pytest.raises(ValueError, match="'vel'"):
        model(**{**nbody_inputs(), "vel": torch.zeros(3, 5, 3)})


# The task, end to end ------------------------------------------------------------------------


@pytest.fixture
def small_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        nbody,
        "SPLITS",
        {
            "train": {"num_traj": 24, "seed": 1},
            "val": {"num_traj": 8, "seed": 2},
            "test": {"num_traj": 8, "seed": 3},
        },
    )


TINY = [
    "data.num_train=20",
    "data.batch_size=10",
    "data.eval_batch_size=8",
    "model.hidden=16",
    "model.layers=1",
    "model.heads=2",
    "symmetry.hidden=16",
    "symmetry.layers=1",
    "symmetry.n_samples=2",
    "symmetry.n_samples_eval=3",
    "trainer.max_steps=4",
    "trainer.eval_every=2",
    "trainer.checkpoint_every=2",
    "trainer.log_every=1",
    "trainer.tracker=none",
    "trainer.progress=false",
    "eval.seeds=2",
]


@pytest.mark.parametrize("config", ("nbody_transformer_ps.yaml", "nbody_gnn_ps.yaml"))
def test_train_nbody_end_to_end(tmp_path, small_splits, config: str) -> None:
    from lps.train.config import load_config, packaged_config
    from lps.train.loop import train

    cfg = load_config(
        packaged_config(config),
        TINY + [f"data.root={tmp_path / 'data'}", f"run_dir={tmp_path / 'run'}"],
    )
    metrics = train(cfg)
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["task"] == "nbody" and on_disk["primary_metric"] == "mse"
    mse = on_disk["test"]["mse"]
    assert len(mse["values"]) == 2 and math.isfinite(mse["mean"]) and mse["mean"] > 0
    assert mse["mean"] == pytest.approx(metrics["test"]["mse"]["mean"])
    assert on_disk["equivariance"]["coupled_noise"] < 1e-4
    assert math.isfinite(on_disk["equivariance"]["monte_carlo"])
    assert on_disk["train"]["steps"] == 4


def test_all_nbody_configs_build() -> None:
    from lps.train.config import load_config, packaged_config
    from lps.train.tasks import get_task

    task = get_task("nbody")
    x = nbody_inputs(2)
    for backbone in ("transformer", "gnn"):
        for sampler, name in zip(SAMPLERS, ("ga", "fa", "canonical", "ps")):
            cfg = load_config(packaged_config(f"nbody_{backbone}_{name}.yaml"))
            assert cfg.task == "nbody" and cfg.symmetry.sampler == sampler
            assert cfg.model.backbone == backbone
            want = "S_n x E(3)" if backbone == "transformer" else "E(3)"
            assert cfg.symmetry.group == want
            model = task.build_model(cfg).eval()
            with torch.no_grad():
                y = model(**x, n_samples=2).prediction
            assert y.shape == (2, 5, 3)


# The shipped checkpoint ---------------------------------------------------------------------

#: Test MSE of lps/pretrained/nbody_transformer_ps with k = 2 samples and evaluation seed
#: 10,000 (the first of ``eval.seeds``), as reported in docs/nbody.md.
PRETRAINED_TEST_MSE_K2 = 0.008815


def test_shipped_checkpoint_reproduces_its_figure(tmp_path, monkeypatch) -> None:
    from pathlib import Path

    import lps
    from lps.train.evaluate import evaluate_run

    run_dir = Path(lps.__file__).parent / "pretrained" / "nbody_transformer_ps"
    assert (run_dir / "checkpoints" / "best" / "model.safetensors").is_file()
    # The figure is on the full val/test splits; the training split is not used, so only a
    # few training trajectories are generated.
    monkeypatch.setitem(nbody.SPLITS, "train", {"num_traj": 10, "seed": 43})
    overrides = [
        f"data.root={tmp_path}",
        "data.num_train=10",
        "symmetry.n_samples_eval=2",
        "eval.seeds=1",
    ]
    results = evaluate_run(run_dir, overrides, write=False)
    mse = results["test"]["mse"]["mean"]
    assert mse == pytest.approx(PRETRAINED_TEST_MSE_K2, rel=0.01)
    assert results["equivariance"]["coupled_noise"] < 1e-4
    assert not (run_dir / "eval.json").exists()
