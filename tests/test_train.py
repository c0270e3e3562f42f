"""Configs, the training loop, checkpoints and the CLI, on tiny EXP runs (seconds each)."""

import contextlib
import io
import json

import pytest
import torch

from lps.cli import main
from lps.train.checkpoint import RunDirError, step_checkpoints
from lps.train.config import ConfigError, load_config
from lps.train.loop import NonFiniteLossError, train

# Thousands of tiny ops: one intra-op thread avoids waiting on descheduled OpenMP workers.
pytestmark = pytest.mark.usefixtures("single_thread")

TINY = [
    "data.num_train=64",
    "data.batch_size=16",
    "data.eval_batch_size=100",
    "model.hidden=32",
    "symmetry.hidden=16",
    "symmetry.layers=1",
    "symmetry.n_samples_eval=2",
    "trainer.max_steps=4",
    "trainer.eval_every=2",
    "trainer.checkpoint_every=2",
    "trainer.log_every=1",
    "trainer.tracker=none",
    "trainer.progress=false",
    "eval.seeds=2",
    "symmetry.walk_steps=0",  # the configs' random-walk features: costly, not tested here
]


def tiny(tmp_path, *extra):
    return load_config(None, TINY + [f"run_dir={tmp_path / 'run'}", *extra])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One TINY run through ``lps train``, shared by the tests that only read it (or that only
    check that it is refused): ``(run_dir, exit_code, stdout, metrics train() returned)``."""
    from lps.train import loop

    run = tmp_path_factory.mktemp("cli") / "run"
    returned = {}
    real_train = loop.train

    def recording_train(cfg, resume=False):
        returned["metrics"] = real_train(cfg, resume=resume)
        return returned["metrics"]

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(loop, "train", recording_train)  # the CLI imports it at call time
        code = main(["train", *TINY, f"run_dir={run}"])
    return run, code, out.getvalue(), returned["metrics"]


def test_default_config_loads_and_overrides():
    cfg = load_config(None, ["trainer.max_steps=7", "symmetry.sampler=haar", "run_dir=/tmp/x"])
    assert cfg.trainer.max_steps == 7
    assert cfg.symmetry.sampler == "haar"
    assert cfg.run_dir == "/tmp/x"
    assert cfg.task == "exp_classify"


@pytest.mark.parametrize(
    "override, match",
    [
        ("trainer.max_stepz=3", "max_stepz"),
        ("trainer.max_steps=abc", "max_steps"),
        ("symmetry.sampler=magic", "symmetry.sampler"),
        ("data.batch_size=0", "data.batch_size"),
        ("eval.n_samples=0", "eval.n_samples"),
        ("no_equals_sign", "key=value"),
    ],
)
def test_config_errors_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_train_writes_metrics_config_and_checkpoints(cli_run):
    run, code, _, metrics = cli_run
    assert code == 0
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["test"]["accuracy"]["mean"] == pytest.approx(metrics["test"]["accuracy"]["mean"])
    assert len(on_disk["test"]["accuracy"]["values"]) == 2
    assert 0.0 <= on_disk["test"]["accuracy"]["mean"] <= 1.0
    # coupled-noise equivariance of the trained model is exact up to float precision
    assert on_disk["equivariance"]["coupled_noise"] < 1e-4
    assert on_disk["train"]["steps"] == 4
    assert (run / "config.yaml").is_file()
    assert [s for s, _ in step_checkpoints(run)] == [2, 4]
    assert (run / "checkpoints" / "best" / "model.safetensors").is_file()
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_run_dir_with_a_run_is_not_overwritten(cli_run):
    run = cli_run[0]
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    same = load_config(None, TINY + [f"run_dir={run}"])
    with pytest.raises(RunDirError, match="already holds a run"):
        train(same)
    with pytest.raises(RunDirError, match="model.hidden"):
        train(load_config(None, TINY + [f"run_dir={run}", "model.hidden=8"]), resume=True)
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # refused: untouched


def test_resume_matches_uninterrupted_run(tmp_path, monkeypatch):
    """A run killed after its step-2 checkpoint and resumed ends with the same weights."""
    from safetensors.torch import load_file

    from lps.train import tasks

    cfg = TINY + ["trainer.eval_every=100"]
    full, part = tmp_path / "full", tmp_path / "part"
    train(load_config(None, cfg + [f"run_dir={full}"]))

    real_loss = tasks.ExpClassify.loss
    calls = {"n": 0}

    def dying_loss(self, prediction, batch):
        calls["n"] += 1
        if calls["n"] == 3:  # the third training step: after the step-2 checkpoint
            raise KeyboardInterrupt("simulated kill")
        return real_loss(self, prediction, batch)

    monkeypatch.setattr(tasks.ExpClassify, "loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        train(load_config(None, cfg + [f"run_dir={part}"]))
    assert [s for s, _ in step_checkpoints(part)] == [2]
    monkeypatch.setattr(tasks.ExpClassify, "loss", real_loss)
    train(load_config(None, cfg + [f"run_dir={part}"]), resume=True)

    a = load_file(str(full / "checkpoints" / "step-000004" / "model.safetensors"))
    b = load_file(str(part / "checkpoints" / "step-000004" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"parameter {k} differs")
    metrics_a = json.loads((full / "metrics.json").read_text())
    metrics_b = json.loads((part / "metrics.json").read_text())
    assert metrics_a["test"] == metrics_b["test"]


def test_nonfinite_loss_stops_with_checkpoint(tmp_path, monkeypatch):
    from lps.train import tasks

    monkeypatch.setattr(tasks.ExpClassify, "loss", lambda self, p, b: p.sum() * float("nan"))
    with pytest.raises(NonFiniteLossError, match="saved in"):
        train(tiny(tmp_path))
    assert list((tmp_path / "run" / "checkpoints").glob("nonfinite-step-*"))


def test_cli_train_and_evaluate(cli_run):
    run, code, out, _ = cli_run
    assert code == 0
    assert "test accuracy" in out and "equivariance error" in out
    assert main(["evaluate", str(run), "eval.seeds=1", "eval.n_samples=3"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["checkpoint"].endswith("best")
    assert "accuracy" in result["test"]
    assert result["eval_n_samples"] == 3  # the final evaluation's k, not n_samples_eval (2)


def test_cli_reports_config_errors(tmp_path, capsys):
    assert main(["train", "trainer.nope=1", f"run_dir={tmp_path}"]) == 2
    assert "trainer.nope" in capsys.readouterr().err


def test_cli_check_json(capsys):
    code = main(["check", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"group", "sampler", "error", "tolerance", "ok"} <= set(rows[0])
    assert all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]
    groups = {r["group"] for r in rows}
    assert {"S_n", "O(3)", "SE(3)", "S_n x E(3)", "C4"} <= groups


def test_resume_accepts_a_config_written_before_a_new_key(tmp_path):
    """A run started before a config key existed resumes when the key keeps its default."""
    cfg = tiny(tmp_path, "trainer.max_steps=2")
    train(cfg)
    saved = tmp_path / "run" / "config.yaml"
    text = saved.read_text()
    assert "  validate: true\n" in text
    saved.write_text(text.replace("  validate: true\n", ""))
    metrics = train(tiny(tmp_path, "trainer.max_steps=4"), resume=True)
    assert metrics["train"]["steps"] == 4
    with pytest.raises(RunDirError, match="symmetry.validate"):
        train(tiny(tmp_path, "trainer.max_steps=6", "symmetry.validate=false"), resume=True)
