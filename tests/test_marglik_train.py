"""``lps train`` on ``digits_quadrants`` (lps.marglik through the Task hooks): the readout in
metrics.json and the figure, checkpointed precisions, config errors, and the NaN rule."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pytest
import torch

from lps.cli import main
from lps.train.config import ConfigError, load_config

pytestmark = pytest.mark.usefixtures("single_thread")

CONFIGS = Path(__file__).resolve().parents[1] / "lps" / "configs"
MODELS = ("conv", "dense", "residual_map", "residual_ml", "factored_ml")

#: A few steps of a 2-layer, 2-channel network; a marginal-likelihood step at steps 2 and 4.
TINY = [
    "trainer.max_steps=5",
    "trainer.eval_every=5",
    "trainer.checkpoint_every=2",
    "trainer.log_every=1",
    "trainer.tracker=none",
    "trainer.progress=false",
    "task_args.burnin_steps=2",
    "task_args.marglik_every=2",
    "task_args.hyper_steps=5",
    "task_args.curv_points=64",
    "task_args.readout_points=32",
    "data.batch_size=32",
    "model.hidden=2",
    "model.layers=2",
]


def _train(run_dir: Path, model: str = "residual_ml", *extra: str) -> int:
    config = str(CONFIGS / f"digits_quadrants_{model}.yaml")
    with contextlib.redirect_stdout(io.StringIO()):
        return main(["train", config, *TINY, f"run_dir={run_dir}", *extra])


@pytest.mark.parametrize("model", MODELS)
def test_configs_load(model):
    cfg = load_config(str(CONFIGS / f"digits_quadrants_{model}.yaml"))
    assert cfg.task == "digits_quadrants" and cfg.task_args.model == model
    assert cfg.model.backbone == "marglik_image"


def test_lps_train_learns_precisions_and_writes_readout(tmp_path):
    run = tmp_path / "run"
    assert _train(run, "residual_ml", "task_args.task=B") == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"]["mean"] <= 1.0
    task = metrics["task_results"]
    assert len(task["shares"]) == 2 and all(0 <= s <= 1 for s in task["shares"])
    assert all(0 <= s <= 1 for s in task["prior_shares"] + task["neff_shares"])
    assert math.isfinite(task["log_marglik_per_point"])
    # two marginal-likelihood steps moved the precisions away from the initial 1.0
    assert max(abs(math.log(v)) for v in task["precisions"].values()) > 0.05
    assert (run / "shares.png").read_bytes()[:4] == b"\x89PNG"
    with contextlib.redirect_stdout(io.StringIO()):  # `lps evaluate` rebuilds the task
        assert main(["evaluate", str(run)]) == 0
    again = json.loads((run / "eval.json").read_text())["test"]["accuracy"]["mean"]
    assert again == pytest.approx(metrics["test"]["accuracy"]["mean"], abs=1e-6)


def test_map_conv_model_keeps_its_prior_and_is_shift_invariant(tmp_path):
    run = tmp_path / "run"
    assert _train(run, "conv") == 0
    metrics = json.loads((run / "metrics.json").read_text())
    task = metrics["task_results"]
    assert task["shares"] == [0.0, 0.0] and set(task["precisions"].values()) == {1.0}
    assert metrics["equivariance"]["shift_error"] < 1e-5  # the conv network is shift invariant


def test_config_errors_name_task_args():
    config = str(CONFIGS / "digits_quadrants_residual_ml.yaml")
    with pytest.raises(ConfigError, match="task_args.model"):
        load_config(config, ["task_args.model=mlp"])
    with pytest.raises(ConfigError, match="task_args.burnin_steps"):
        load_config(config, ["trainer.max_steps=10", "task_args.burnin_steps=10"])
    with pytest.raises(ConfigError, match="task_args.prior"):
        load_config(config, ["task_args.prior=0.0"])
    with pytest.raises(ConfigError, match="task_args.copies: must be >= 1, got 0"):
        load_config(config, ["task_args.copies=0"])


def test_nan_marglik_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import lps.marglik.train as marglik_train
    from lps.marglik import MarglikError

    real = marglik_train.log_marglik
    calls = {"n": 0}

    def nan_after_first_step(model, prec, curv):
        calls["n"] += 1
        value = real(model, prec, curv)
        return value * float("nan") if calls["n"] > 6 else value  # the 2nd hyper step: NaN

    monkeypatch.setattr(marglik_train, "log_marglik", nan_after_first_step)
    run = tmp_path / "run"
    with pytest.raises(MarglikError, match="at step 4.*last good precisions"):
        _train(run)
    ckpts = sorted((run / "checkpoints").glob("step-*"))
    assert [c.name for c in ckpts] == ["step-000002"]
    states = [torch.load(p, weights_only=False) for p in ckpts[0].glob("custom_checkpoint_*")]
    saved = [s for s in states if isinstance(s, dict) and "log_delta" in s]
    assert len(saved) == 1 and torch.isfinite(saved[0]["log_delta"]).all()
