"""``lps train`` on ``set_marglik`` (lps.marglik on sets through the Task hooks): the logged
readout, metrics.json and the figure, exact resume of the precisions, the permutation report,
and config errors naming ``task_args.<key>``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from lps.train.checkpoint import step_checkpoints
from lps.train.config import ConfigError, load_config
from lps.train.loop import train

pytestmark = pytest.mark.usefixtures("single_thread")

CONFIGS = Path(__file__).resolve().parents[1] / "lps" / "configs"
MODELS = ("equiv", "dense", "residual_map", "residual_ml")

#: 24 steps of a 4-channel network on 200 sets; marginal-likelihood steps at 4, 10, 16, 22.
TINY = [
    "task_args.num_train=200",
    "task_args.num_test=100",
    "task_args.burnin_steps=4",
    "task_args.marglik_every=6",
    "task_args.hyper_steps=5",
    "task_args.curv_points=64",
    "task_args.readout_points=32",
    "data.batch_size=32",
    "data.eval_batch_size=100",
    "model.hidden=4",
    "trainer.max_steps=24",
    "trainer.eval_every=12",
    "trainer.checkpoint_every=8",
    "trainer.log_every=1",
    "trainer.tracker=none",
    "trainer.progress=false",
]


def _cfg(run: Path, model: str = "residual_ml", *extra: str):
    config = CONFIGS / f"set_marglik_{model}.yaml"
    return load_config(str(config), [*TINY, f"run_dir={run}", *extra])


@pytest.mark.parametrize("model", MODELS)
def test_configs_load(model):
    cfg = load_config(str(CONFIGS / f"set_marglik_{model}.yaml"))
    assert cfg.task == "set_marglik" and cfg.task_args.model == model
    assert cfg.model.backbone == "marglik_set"
    assert cfg.task_args.burnin_steps < cfg.trainer.max_steps


def test_lps_train_logs_readout_and_writes_results(tmp_path, monkeypatch):
    from lps.cli import main

    logged: list[dict] = []
    monkeypatch.setattr(Accelerator, "log", lambda self, values, step=None: logged.append(values))
    run = tmp_path / "run"
    # the README's command: configs/set_marglik_residual_ml.yaml task_args.task=order, shortened
    metrics = train(_cfg(run, "residual_ml", "task_args.task=order"))
    val = [d for d in logged if "val/accuracy" in d]
    assert len(val) == 2
    for i in (1, 2):
        for key in ("share", "prior_share", "neff_share", "eff_dim/equiv", "eff_dim/free"):
            assert f"val/layer{i}/{key}" in val[-1]
        for tensor in ("equiv.a", "equiv.b", "free.weight", "bias"):
            assert f"val/layer{i}/precision/{tensor}" in val[-1]
    steps = [d for d in logged if "train/log_marglik_per_point" in d]
    assert len(steps) == 4 and all(math.isfinite(d["train/log_marglik_per_point"]) for d in steps)
    assert 0.0 <= metrics["test"]["accuracy"]["mean"] <= 1.0
    task = metrics["task_results"]
    assert len(task["shares"]) == 2 and all(0 <= s <= 1 for s in task["shares"])
    assert all(0 <= s <= 1 for s in task["prior_shares"] + task["neff_shares"])
    assert math.isfinite(task["log_marglik_per_point"])
    assert max(abs(math.log(v)) for v in task["precisions"].values()) > 0.05  # learned
    assert task["figure"] == "shares.png"
    assert (run / "shares.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run / "metrics.json").read_text())["task_results"] == task
    assert metrics["equivariance"]["perm_error"] > 1e-3  # the free path sees the order
    assert main(["evaluate", str(run)]) == 0  # `lps evaluate` rebuilds the task
    again = json.loads((run / "eval.json").read_text())["test"]["accuracy"]["mean"]
    assert again == pytest.approx(metrics["test"]["accuracy"]["mean"], abs=1e-6)


def test_equiv_model_is_permutation_invariant_and_keeps_its_prior(tmp_path):
    metrics = train(_cfg(tmp_path / "run", "equiv", "trainer.max_steps=6"))
    assert metrics["equivariance"]["perm_error"] < 1e-5
    task = metrics["task_results"]
    assert task["shares"] == [0.0, 0.0] and set(task["precisions"].values()) == {1.0}


def test_resume_restores_the_precisions_exactly(tmp_path, monkeypatch):
    """Killed after the step-8 checkpoint (two marginal-likelihood steps done, two to come) and
    resumed: weights and precisions match an uninterrupted run bit for bit."""
    from safetensors.torch import load_file

    from lps.train.tasks.marglik import MarglikTask

    full, part = tmp_path / "full", tmp_path / "part"
    a = train(_cfg(full))
    real_loss, calls = MarglikTask.loss, {"n": 0}

    def dying_loss(self, prediction, batch):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt("simulated kill")
        return real_loss(self, prediction, batch)

    monkeypatch.setattr(MarglikTask, "loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(part))
    assert [s for s, _ in step_checkpoints(part)] == [8]
    monkeypatch.setattr(MarglikTask, "loss", real_loss)
    b = train(_cfg(part), resume=True)
    assert a["task_results"]["precisions"] == b["task_results"]["precisions"]
    assert a["task_results"]["log_marglik_per_point"] == b["task_results"]["log_marglik_per_point"]
    wa = load_file(str(full / "checkpoints" / "step-000024" / "model.safetensors"))
    wb = load_file(str(part / "checkpoints" / "step-000024" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=f"parameter {k} differs")


@pytest.mark.parametrize(
    "override, match",
    [
        ("task_args.model=mlp", "task_args.model: expected one of .*'mlp'"),
        ("task_args.model=factored_ml", "task_args.model: .*no factored free path"),
        ("task_args.model=conv", "task_args.model: .*'equiv'"),
        ("task_args.task=B", "task_args.task: expected 'inv' or 'order'"),
        ("task_args.set_size=7", "task_args.set_size"),
        ("task_args.num_train=1", "task_args.num_train"),
        ("task_args.val_fraction=0.999", "task_args.val_fraction: .*leaves none to train on"),
        ("task_args.curv_mode=kfac", "task_args.curv_mode"),
        ("task_args.burnin_steps=24", "task_args.burnin_steps: .*past the end"),
        ("task_args.prior=-1.0", "task_args.prior"),
        ("task_args.canvas=16", "task_args.canvas"),  # a digits key: not a set setting
    ],
)
def test_bad_task_args_name_the_key(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(tmp_path / "run", "residual_ml", override)
