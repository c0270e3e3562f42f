"""The Task hooks of the training loop, on a task whose model is not symmetrized: its own
settings (``task_args``), extra losses, a per-step hook with checkpointed state, evaluation
logs, a custom equivariance report and final artifacts; exact resume through all of them."""

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from lps.symmetrize import SymmetrizedOutput
from lps.train.config import ConfigError, load_config
from lps.train.loop import train
from lps.train.tasks import TASKS, Task, register_task

pytestmark = pytest.mark.usefixtures("single_thread")


class _Dict(TensorDataset):
    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return {"x": x, "y": y}


class Counter:
    """State outside the model: how many steps ran, and the sum of the step numbers seen."""

    def __init__(self):
        self.steps, self.total = 0, 0

    def state_dict(self):
        return {"steps": self.steps, "total": self.total}

    def load_state_dict(self, state):
        self.steps, self.total = state["steps"], state["total"]


class Probe(Task):
    """Linear regression y = x . w with an L2 penalty on the weights as an auxiliary loss."""

    primary, mode = "mse", "min"

    @dataclass
    class Settings:
        l2: float = 0.1
        until: int = 2  # steps after which after_step stops counting

    def check(self, cfg):
        if cfg.task_args.until > cfg.trainer.max_steps:
            raise ValueError(
                f"task_args.until: {cfg.task_args.until} is past trainer.max_steps "
                f"{cfg.trainer.max_steps}"
            )

    def datasets(self, cfg):
        g = torch.Generator().manual_seed(0)
        w = torch.randn(4, generator=g)

        def split(n):
            x = torch.randn(n, 4, generator=g)
            return _Dict(x, x @ w)

        return {"train": split(64), "val": split(32), "test": split(32)}

    def build_model(self, cfg):
        self.l2 = cfg.task_args.l2
        self.until = cfg.task_args.until
        self.counter = Counter()
        return nn.Linear(4, 1)

    def forward(self, model, batch, n_samples=None):
        penalty = self.l2 * model.weight.pow(2).sum()
        return SymmetrizedOutput(
            prediction=model(batch["x"]).squeeze(-1), aux_losses={"l2_penalty": penalty}
        )

    def inputs(self, batch):
        return {"x": batch["x"]}

    def loss(self, prediction, batch):
        return (prediction - batch["y"]).pow(2).mean()

    def targets(self, batch):
        return batch["y"]

    def metrics(self, predictions, targets):
        return {"mse": float((predictions - targets).pow(2).mean())}

    def after_step(self, model, step):
        assert isinstance(model, nn.Linear)  # unwrapped
        if step <= self.until:
            self.counter.steps += 1
            self.counter.total += step
        return {"counted": float(self.counter.steps)}

    def eval_logs(self, model):
        return {"weight_norm": float(model.weight.detach().norm())}

    def equivariance_report(self, accelerator, model, loader, cfg):
        return {"none": 0.0}

    def finish(self, model, run_dir):
        (run_dir / "probe.txt").write_text(f"{self.counter.steps}\n")
        return {"steps": self.counter.steps, "total": self.counter.total}

    def state_objects(self):
        return [self.counter]


@pytest.fixture
def probe():
    register_task("hooks_probe", overwrite=True)(Probe)
    yield Probe
    TASKS.unregister("hooks_probe")


BASE = [
    "task=hooks_probe",
    "data.batch_size=16",
    "trainer.max_steps=6",
    "trainer.eval_every=3",
    "trainer.checkpoint_every=2",
    "trainer.log_every=1",
    "trainer.tracker=none",
    "trainer.progress=false",
    "eval.seeds=1",
    "eval.equivariance_batches=0",
]


def test_task_args_are_typed_and_checked(probe, tmp_path):
    cfg = load_config(None, BASE + ["task_args.l2=0.5"])
    assert cfg.task_args.l2 == 0.5 and cfg.task_args.until == 2  # default filled in
    with pytest.raises(ConfigError, match=r"task_args\.l2"):
        load_config(None, BASE + ["task_args.l2=much"])
    with pytest.raises(ConfigError, match=r"task_args\.nope"):
        load_config(None, BASE + ["task_args.nope=1"])
    with pytest.raises(ConfigError, match=r"task_args\.until: 9 is past trainer.max_steps 6"):
        load_config(None, BASE + ["task_args.until=9"])


def test_task_without_settings_refuses_task_args():
    with pytest.raises(ConfigError, match="takes no task_args; got l2"):
        load_config(None, ["task_args.l2=1"])


def test_hooks_run_and_reach_metrics(probe, tmp_path):
    run = tmp_path / "run"
    metrics = train(load_config(None, BASE + [f"run_dir={run}", "task_args.until=4"]))
    assert metrics["task_results"] == {"steps": 4, "total": 1 + 2 + 3 + 4}
    assert (run / "probe.txt").read_text() == "4\n"
    assert metrics["equivariance"]["none"] == 0.0
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["task_results"]["steps"] == 4


def test_l2_aux_loss_reaches_the_gradient(probe, tmp_path):
    """The auxiliary loss is part of the training loss: a huge L2 weight shrinks the weights."""
    small = train(load_config(None, BASE + [f"run_dir={tmp_path / 'a'}", "task_args.l2=0"]))
    large = train(load_config(None, BASE + [f"run_dir={tmp_path / 'b'}", "task_args.l2=100"]))
    assert large["test"]["mse"]["mean"] > small["test"]["mse"]["mean"]


def test_resume_restores_task_state(probe, tmp_path, monkeypatch):
    """A run killed after its step-4 checkpoint and resumed counts every step exactly once."""
    cfg = BASE + ["task_args.until=6"]
    full = train(load_config(None, cfg + [f"run_dir={tmp_path / 'full'}"]))

    real = Probe.after_step

    def dying(self, model, step):
        if step == 5:
            raise KeyboardInterrupt("simulated kill")
        return real(self, model, step)

    monkeypatch.setattr(Probe, "after_step", dying)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        train(load_config(None, cfg + [f"run_dir={part}"]))
    monkeypatch.setattr(Probe, "after_step", real)
    resumed = train(load_config(None, cfg + [f"run_dir={part}"]), resume=True)
    assert resumed["task_results"] == full["task_results"] == {"steps": 6, "total": 21}
    assert resumed["test"]["mse"]["mean"] == pytest.approx(full["test"]["mse"]["mean"], rel=1e-6)


def test_after_step_logs_between_log_steps_are_kept(probe, tmp_path, monkeypatch):
    """What after_step returns is logged at its own step even when that is no log step."""
    import accelerate

    seen = []
    real_log = accelerate.Accelerator.log

    def record(self, values, step=None, **kw):
        seen.append((step, dict(values)))
        return real_log(self, values, step=step, **kw)

    monkeypatch.setattr(accelerate.Accelerator, "log", record)
    cfg = [x for x in BASE if not x.startswith("trainer.log_every")] + ["trainer.log_every=4"]
    train(load_config(None, cfg + [f"run_dir={tmp_path / 'run'}"]))
    hooked = {step: v for step, v in seen if "train/counted" in v}
    assert sorted(hooked) == [1, 2, 3, 4, 5, 6]
    # log steps (4, and the last) carry the loss with it; the others only the hook's values
    assert [s for s, v in hooked.items() if "train/loss" in v] == [4, 6]
