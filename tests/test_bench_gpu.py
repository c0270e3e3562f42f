"""The gpu preset of `lps bench`, run on the CPU with tiny sizes: its code path, the budget
(partial JSON, skipped tasks) and a failing task (recorded, not fatal)."""

import json
import time

import pytest

import lps.bench.gpu as gpu
from lps.bench.gpu import run_gpu_bench
from lps.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = dict(
    vit="vit_t",
    n=8,
    n_memory=12,
    k_eval=2,
    k_train=1,
    batch=2,
    repeats=1,
    curve=(8,),
    train_configs=("exp_classify.yaml",),
    train_steps=(1, 3),
    train_overrides=("data.batch_size=8", "data.eval_batch_size=64"),
)


def test_gpu_preset_code_path_on_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    result = run_gpu_bench(out, device="cpu", **TINY)
    on_disk = json.loads(out.read_text())
    assert on_disk["preset"] == "gpu" and on_disk["complete"] is True
    assert [t["status"] for t in on_disk["tasks"]] == ["ok"] * 5  # no compile on the CPU
    rows = on_disk["rows"]
    assert {(r["n"], r["k"], r["sampler"]) for r in rows} == {
        (8, k, s) for k in (1, 2) for s in ("base", "learned", "haar")
    } | {(12, 1, "base"), (12, 1, "learned")}
    memory = [r for r in rows if r["n"] == 12]
    assert all("train_s" in r and "eval_s" not in r for r in memory)
    assert on_disk["summary"]["vit_t/N=8/k=2/eager/learned"] > 0
    assert [r["n"] for r in on_disk["sampler_curve"]] == [8]
    (train,) = on_disk["training"]
    assert train["config"] == "exp_classify.yaml" and train["steps_per_s"] > 0
    assert [r["steps"] for r in train["runs"]] == [1, 3]
    assert result["tasks"] == on_disk["tasks"]
    assert out.with_suffix(".png").stat().st_size > 0


def _fake_case(*args, **kwargs):
    return [{"base": "vit_t", "n": args[1], "k": args[2], "mode": "eager", "sampler": "base"}]


def test_gpu_preset_budget_stops_cleanly_with_partial_json(tmp_path, monkeypatch):
    calls = []

    def case(*args, **kwargs):
        calls.append(args[1:3])
        if len(calls) == 2:
            time.sleep(120)  # interrupted by the budget
        return _fake_case(*args, **kwargs)

    monkeypatch.setattr(gpu, "bench_case", case)
    out = tmp_path / "gpu.json"
    start = time.perf_counter()
    result = run_gpu_bench(out, device="cpu", budget_s=8, **TINY)
    assert time.perf_counter() - start < 60
    on_disk = json.loads(out.read_text())
    status = [t["status"] for t in on_disk["tasks"]]
    assert status == ["ok", "timeout", "skipped", "skipped", "skipped"]
    assert on_disk["complete"] is False and result["complete"] is False
    assert all("budget spent" in t["reason"] for t in on_disk["tasks"][2:])
    assert [(r["n"], r["k"]) for r in on_disk["rows"]] == [(8, 2)]  # what was measured
    assert on_disk["training"] == [] and on_disk["sampler_curve"] == []


def test_gpu_preset_skips_tasks_that_do_not_fit(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "bench_case", _fake_case)
    out = tmp_path / "gpu.json"
    need = {"curve": 1e6, "train": 1e6}
    result = run_gpu_bench(out, device="cpu", budget_s=60, task_seconds=need, **TINY)
    status = {t["kind"]: t for t in result["tasks"]}
    assert status["curve"]["status"] == "skipped" and "needs about" in status["curve"]["reason"]
    assert status["train"]["status"] == "skipped"
    assert status["memory"]["status"] == "ok"


def test_gpu_preset_failing_task_is_recorded_not_fatal(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(gpu, "bench_case", _fake_case)
    monkeypatch.setattr(gpu, "sampler_curve", broken)
    fake = dict(config="x", batch_size=1, n_samples=1, mixed_precision="no", examples_per_s=1.0)
    monkeypatch.setattr(gpu, "train_speed", lambda *a, **k: {**fake, "steps_per_s": 1.0})
    out = tmp_path / "gpu.json"
    assert main(["bench", "--preset", "gpu", "--device", "cpu", "--out", str(out)]) == 0
    on_disk = json.loads(out.read_text())
    tasks = {t["kind"]: t for t in on_disk["tasks"]}
    assert tasks["curve"]["status"] == "error" and "RuntimeError: boom" in tasks["curve"]["error"]
    assert "traceback" in tasks["curve"]
    assert on_disk["complete"] is False
    # the tasks after the failure ran: three training configs by default
    assert [t["status"] for t in on_disk["tasks"] if t["kind"] == "train"] == ["ok"] * 3
    assert len(on_disk["training"]) == 3


def test_gpu_preset_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="unknown gpu preset settings"):
        run_gpu_bench(tmp_path / "g.json", device="cpu", sizes=(8,))
    with pytest.raises(ValueError, match="vit must be one of"):
        run_gpu_bench(tmp_path / "g.json", device="cpu", vit="resnet")
