"""The ``np_gibbs`` task through ``lps train``: tiny runs of its configs, and its config checks."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from lps.cli import main
from lps.train.config import ConfigError, load_config, packaged_config

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = [
    "data.num_train=32",
    "data.batch_size=8",
    "data.eval_batch_size=32",
    "task_args.val_tasks=16",
    "task_args.test_tasks=16",
    "trainer.max_steps=3",
    "trainer.eval_every=3",
    "trainer.checkpoint_every=3",
    "trainer.log_every=1",
    "trainer.tracker=none",
    "trainer.progress=false",
]
SMALL = {
    "convcnp": ["task_args.channels=8", "task_args.conv_layers=2", "task_args.density=4"],
    "tetnp": ["task_args.width=16", "task_args.heads=2", "task_args.tnp_layers=1"],
}


@pytest.mark.parametrize("config", ["np_gibbs_convcnp_fixed", "np_gibbs_tetnp"])
def test_lps_train_np_gibbs(tmp_path, config):
    run = tmp_path / "run"
    model = "convcnp" if "convcnp" in config else "tetnp"
    args = [str(packaged_config(config + ".yaml")), *TINY, *SMALL[model], f"run_dir={run}"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", *args]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["primary_metric"] == "loglik"
    ll = metrics["test"]["loglik"]["mean"]
    assert -10.0 < ll < 0.5  # a Gaussian log-likelihood per target of untrained models
    task = metrics["task_results"]
    assert task["ceiling"] > ll
    assert task["gap_to_ceiling"] == pytest.approx(task["ceiling"] - task["test_loglik"])
    assert task["test_loglik"] == pytest.approx(ll, abs=1e-4)
    eq = metrics["equivariance"]
    if model == "convcnp":  # fixed inputs: strict when off, departs when on
        assert eq["fixed_off"] < 1e-5 < eq["fixed_on"]
        assert "fixed_off_loglik" in task
    else:
        assert eq["translation"] < 1e-5
        assert task["off_region_loglik"] == pytest.approx(ll, abs=1e-3)  # equivariant


def test_np_gibbs_config_errors():
    with pytest.raises(ConfigError, match="task_args.model"):
        load_config(packaged_config("np_gibbs_tnp.yaml"), ["task_args.model=gp"])
    with pytest.raises(ConfigError, match="task_args.fixed_inputs"):
        load_config(packaged_config("np_gibbs_tnp.yaml"), ["task_args.fixed_inputs=4"])
    with pytest.raises(ConfigError, match="task_args.dropout"):
        load_config(packaged_config("np_gibbs_convcnp.yaml"), ["task_args.dropout=1.5"])
    with pytest.raises(ConfigError, match="task_args.nonsense"):
        load_config(packaged_config("np_gibbs_convcnp.yaml"), ["task_args.nonsense=1"])
