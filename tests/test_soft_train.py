"""The soft tasks through ``lps train``: a few-step run, resume, and the bad inputs."""

import json

import pytest
import torch

from lps.cli import main
from lps.train.checkpoint import step_checkpoints
from lps.train.config import ConfigError, load_config, packaged_config
from lps.train.loop import train

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = [
    "task_args.num_train=40",
    "task_args.num_val=40",
    "task_args.num_test=40",
    "task_args.hidden=4x0e + 2x1o@1 + 2x0e@2 + 2x2e@2",
    "task_args.layers=1",
    "task_args.adjust_at=4",
    "data.batch_size=20",
    "trainer.max_steps=6",
    "trainer.eval_every=3",
    "trainer.checkpoint_every=2",
    "trainer.log_every=1",
    "trainer.tracker=none",
    "trainer.progress=false",
]
GROUPS = ["O(3)", "O(2)_x", "O(2)_y", "O(2)_z"]


def _cfg(run, *extra):
    return load_config(packaged_config("soft_inertia.yaml"), TINY + [f"run_dir={run}", *extra])


def test_lps_train_soft_inertia_writes_levels(tmp_path):
    """One evaluation, at the end (the best checkpoint, whose tuner state finish reports,
    is then after T)."""
    run = tmp_path / "run"
    args = [*TINY, "trainer.eval_every=6", f"run_dir={run}"]
    assert main(["train", str(packaged_config("soft_inertia.yaml")), *args]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    res = metrics["task_results"]
    assert res["adjusted"] and sorted(res["strengths"]) == sorted(GROUPS)
    assert max(res["strengths"].values()) == pytest.approx(10.0)  # R_min's group keeps init
    assert min(res["strengths"].values()) < 10.0
    assert res["exact_group"] in GROUPS  # the pathway committed to the strongest group
    assert res["strengths"][res["exact_group"]] == pytest.approx(10.0)
    assert res["true_rel_equiv_error"]["O(2)_z"] < 1e-12 < res["true_rel_equiv_error"]["O(3)"]
    assert set(res["penalties"]) == set(GROUPS) and all(v >= 0 for v in res["penalties"].values())
    eq = metrics["equivariance"]
    assert set(eq) == {f"rel_equiv_error/{g}" for g in GROUPS}
    assert all(0 <= v < 10 for v in eq.values())
    assert metrics["test"]["mse"]["mean"] > 0
    assert (run / "strengths.png").stat().st_size > 1000


def test_lps_train_soft_resume_is_exact(tmp_path, monkeypatch):
    """Killed after the step-2 checkpoint (before T = 4) and resumed: the strengths (the
    tuner's running minima travel in the checkpoint) and the weights match a full run."""
    from safetensors.torch import load_file

    from lps.train.tasks import soft

    full, part = tmp_path / "full", tmp_path / "part"
    train(_cfg(full))
    real_loss, calls = soft.SoftTask.loss, {"n": 0}

    def dying_loss(self, prediction, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return real_loss(self, prediction, batch)

    monkeypatch.setattr(soft.SoftTask, "loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(part))
    assert [s for s, _ in step_checkpoints(part)] == [2]
    monkeypatch.setattr(soft.SoftTask, "loss", real_loss)
    train(_cfg(part), resume=True)
    a = load_file(str(full / "checkpoints" / "step-000006" / "model.safetensors"))
    b = load_file(str(part / "checkpoints" / "step-000006" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"parameter {k} differs")
    ma = json.loads((full / "metrics.json").read_text())["task_results"]
    mb = json.loads((part / "metrics.json").read_text())["task_results"]
    assert ma["strengths"] == mb["strengths"] and ma["exact_group"] == mb["exact_group"]


@pytest.mark.parametrize(
    "override, match",
    [
        ("task_args.groups=[O(3),C4]", "'C4' cannot be a candidate.*3-d vectors"),
        ("task_args.groups=[O(3),O(2)]", "'O\\(2\\)' cannot be a candidate"),
        ("task_args.init=-1", "task_args.init: .*>= 0"),
        ("task_args.pinned={O(3): -0.5}", "task_args.pinned: strength of 'O\\(3\\)'"),
        ("task_args.adjust_at=6", "task_args.adjust_at: .*past the end.*max_steps=6"),
        ("task_args.axis=w", "task_args.axis"),
        ("task_args.lambda=1", "task_args.lambda"),
        ("task_args.exact_penalties=some", "task_args.exact_penalties: expected one of"),
        (
            ["task_args.pathway=false", "task_args.exact_penalties=all"],
            "task_args.exact_penalties needs task_args.pathway",
        ),
        (
            ["task_args.pathway=false", "task_args.exact_penalties=none"],
            "task_args.exact_penalties needs task_args.pathway",
        ),
    ],
)
def test_soft_task_bad_input_before_training(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(tmp_path / "run", *([override] if isinstance(override, str) else override))
    assert not (tmp_path / "run").exists()


def test_soft_task_exact_penalties_default(tmp_path):
    """The pathway's exact path pays its supergroups' penalties unless the config says
    otherwise; without the pathway the setting is absent, not an error."""
    from lps.train.tasks import get_task

    task = get_task("soft_inertia")
    task = task() if isinstance(task, type) else task
    assert task.build_model(_cfg(tmp_path / "a")).exact_penalties == "supergroups"
    cfg = _cfg(tmp_path / "b", "task_args.exact_penalties=none")
    assert task.build_model(cfg).exact_penalties == "none"
    cfg = _cfg(tmp_path / "c", "task_args.pathway=false", "task_args.project=O(2)_z")
    assert type(task.build_model(cfg)).__name__ == "SoftMLP"


def test_soft_cossim_config_loads_and_checks():
    cfg = load_config(packaged_config("soft_cossim.yaml"))
    assert cfg.task_args.breaks == "scale" and list(cfg.task_args.groups)[0] == "SO(3) x Scale"
    with pytest.raises(ConfigError, match="task_args.breaks"):
        load_config(packaged_config("soft_cossim.yaml"), ["task_args.breaks=shear"])
