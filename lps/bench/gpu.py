"""The ``gpu`` preset of ``lps bench``: every GPU figure of ``docs/benchmarks.md`` in one run.

GPU time comes in short slices, so the run is a list of tasks done in order of importance,
under a wall-clock budget:

1. ViT-B at N = 188, eval at k = 10 against the base model on the same copies (eager);
2. the same at k = 1 (the training-step figure);
3. the training step's peak memory at N = 444, k = 1 (base vs symmetrized);
4. ``torch.compile`` eval at N = 188, k = 10 (to set against task 1);
5. the learned sampler's cost curve over N;
6. training steps per second of the n-body and PATTERN GPU configs, through
   :func:`lps.train.loop.train` (a short and a long run; the rate is their difference, so
   data loading, warm-up, the final evaluation and the last checkpoint cancel);
7. ``torch.compile`` training step at N = 188, k = 1.

The JSON is written atomically at the start and after every task, so a run killed at any
point leaves everything measured so far. A task starts only when the budget has at least its
rough cost (:data:`~lps.bench.settings.GPU_TASK_SECONDS`, on CUDA) left; a running task is
interrupted when the budget is spent (``SIGALRM``, main thread only); the rest are recorded
as skipped, with the reason. A task that fails is recorded with its error, and the run goes
on.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from lps.bench.cases import bench_case
from lps.bench.curve import sampler_curve
from lps.bench.report import plot, summarize, write_json
from lps.bench.runner import device_info
from lps.bench.settings import GPU_PRESET, GPU_TASK_SECONDS, SN_SAMPLER, VIT_NAMES


class BudgetSpent(BaseException):
    """Raised inside a task when the run's wall-clock budget is spent. A BaseException, so
    that library code catching ``Exception`` does not swallow it."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`BudgetSpent` in the main thread after ``seconds`` (no-op elsewhere)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame) -> None:
        raise BudgetSpent(f"the budget was spent while this task ran ({seconds:.0f} s left)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def train_speed(
    config: str,
    steps: tuple[int, ...],
    device: torch.device,
    overrides: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Training steps per second of ``config`` (a path, or a name in ``lps/configs``).

    Runs :func:`lps.train.loop.train` once per entry of ``steps`` (``trainer.max_steps``),
    each in a temporary ``run_dir``, with evaluation and checkpoints pushed past the end, one
    evaluation seed and k = 1 at evaluation (only the final ones run). With two or more
    runs, ``steps_per_s`` is (longest - shortest steps) / (difference of the loops' wall
    times), so the one-off costs (first steps, the last evaluation and checkpoint) cancel;
    with one run it is steps / wall time."""
    from lps.train.config import load_config, packaged_config
    from lps.train.loop import train

    path = Path(config) if Path(config).is_file() else packaged_config(config)
    runs = []
    for max_steps in steps:
        with tempfile.TemporaryDirectory(prefix="lps-bench-train-") as tmp:
            over = [
                f"run_dir={Path(tmp) / 'run'}",
                f"trainer.max_steps={max_steps}",
                "trainer.eval_every=1000000000",
                "trainer.checkpoint_every=1000000000",
                "trainer.log_every=1000000000",
                "trainer.keep_last=1",
                "trainer.tracker=none",
                "trainer.progress=false",
                "eval.seeds=1",
                "symmetry.n_samples_eval=1",
                *(["trainer.cpu=true"] if device.type == "cpu" else []),
                *overrides,
            ]
            cfg = load_config(path, over)
            start = time.perf_counter()
            metrics = train(cfg)
            runs.append(
                {
                    "max_steps": max_steps,
                    "steps": metrics["train"]["steps"],
                    "loop_wall_s": metrics["train"]["wall_time_s"],
                    "total_wall_s": time.perf_counter() - start,
                    "final_loss": metrics["train"]["final_loss"],
                }
            )
    first, last = runs[0], runs[-1]
    if len(runs) > 1 and last["loop_wall_s"] > first["loop_wall_s"]:
        rate = (last["steps"] - first["steps"]) / (last["loop_wall_s"] - first["loop_wall_s"])
        how = "difference of the longest and the shortest run"
    else:
        rate, how = last["steps"] / last["loop_wall_s"], "steps / loop wall time"
    return {
        "config": path.name,
        "task": cfg.task,
        "backbone": cfg.model.backbone,
        "group": cfg.symmetry.group,
        "sampler": cfg.symmetry.sampler,
        "batch_size": cfg.data.batch_size,
        "n_samples": cfg.symmetry.n_samples,
        "mixed_precision": cfg.trainer.mixed_precision,
        "steps_per_s": rate,
        "examples_per_s": rate * cfg.data.batch_size,
        "rate_from": how,
        "runs": runs,
        "overrides": list(overrides),
    }


def gpu_tasks(
    device: torch.device,
    settings: dict[str, Any],
    compile: bool,
) -> list[dict[str, Any]]:
    """The tasks of the gpu preset, in order: ``name``, ``kind`` (a key of
    GPU_TASK_SECONDS), ``output`` (the result list it extends: ``rows``, ``sampler_curve``
    or ``training``) and ``fn`` (returns the entries)."""
    s = settings
    vit, batch, repeats, degree = s["vit"], s["batch"], s["repeats"], s["mean_degree"]
    n, n_mem, k_eval, k_train = s["n"], s["n_memory"], s["k_eval"], s["k_train"]
    tasks: list[dict[str, Any]] = []

    def case(name: str, kind: str, n: int, k: int, samplers, compiled: bool, phases) -> None:
        def fn() -> list[dict[str, Any]]:
            return bench_case(
                vit, n, k, tuple(samplers), batch, repeats, device, compiled, degree, phases=phases
            )

        tasks.append({"name": name, "kind": kind, "output": "rows", "fn": fn})

    both = ("eval", "train")
    case(f"{vit} N={n} k={k_eval} eager", "eager_eval", n, k_eval, s["samplers"], False, both)
    case(f"{vit} N={n} k={k_train} eager", "eager_train", n, k_train, s["samplers"], False, both)
    case(
        f"{vit} N={n_mem} k={k_train} eager training memory",
        "memory",
        n_mem,
        k_train,
        ("learned",),
        False,
        ("train",),
    )
    if compile:
        name = f"{vit} N={n} k={k_eval} compile eval"
        case(name, "compile_eval", n, k_eval, s["compile_samplers"], True, ("eval",))
    if s["curve"]:
        curve = tuple(s["curve"])

        def curve_fn() -> list[dict[str, Any]]:
            return sampler_curve(curve, k_eval, batch, degree, repeats, device)

        name = f"learned sampler curve N={','.join(map(str, curve))} k={k_eval}"
        tasks.append({"name": name, "kind": "curve", "output": "sampler_curve", "fn": curve_fn})
    for config in s["train_configs"]:

        def train_fn(config: str = config) -> list[dict[str, Any]]:
            steps, over = tuple(s["train_steps"]), tuple(s["train_overrides"])
            return [train_speed(config, steps, device, over)]

        tasks.append(
            {"name": f"train {config}", "kind": "train", "output": "training", "fn": train_fn}
        )
    if compile:
        name = f"{vit} N={n} k={k_train} compile train"
        case(name, "compile_train", n, k_train, s["compile_samplers"], True, ("train",))
    return tasks


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_gpu_bench(
    out: str | Path = "runs/bench_gpu.json",
    device: str | None = None,
    budget_s: float | None = None,
    compile: bool | None = None,
    task_seconds: dict[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Run the gpu preset and write ONE JSON (plus a PNG plot beside it); returns the result.

    ``overrides`` replace entries of :data:`~lps.bench.settings.GPU_PRESET` (e.g. ``vit``,
    ``n``, ``n_memory``, ``k_eval``, ``k_train``, ``batch``, ``repeats``, ``samplers``,
    ``curve``, ``train_configs``, ``train_steps``, plus ``train_overrides``: ``key=value``
    strings for every training config, and ``mean_degree``). ``compile`` defaults to True on
    CUDA only; ``task_seconds`` (default: :data:`~lps.bench.settings.GPU_TASK_SECONDS` on
    CUDA, none elsewhere) is the least budget left for a task to start.

    The JSON has ``rows`` (as in :func:`lps.bench.run_bench`), ``sampler_curve``,
    ``training`` (steps per second per config), ``summary``, and ``tasks``: per task its
    ``status`` (``pending``, ``ok``, ``error`` with ``error`` and ``traceback``, ``timeout``
    or ``skipped`` with ``reason``) and ``wall_s``; ``complete`` is True when every task
    is ``ok``.
    """
    unknown = set(overrides) - set(GPU_PRESET) - {"train_overrides", "mean_degree"}
    if unknown:
        raise ValueError(f"bench: unknown gpu preset settings {', '.join(sorted(unknown))}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    settings = {**GPU_PRESET, "train_overrides": (), "mean_degree": 8.0, **overrides}
    if settings["vit"] not in VIT_NAMES:
        raise ValueError(f"bench: vit must be one of {', '.join(VIT_NAMES)}")
    budget = float(settings.pop("budget_s") if budget_s is None else budget_s)
    settings.pop("budget_s", None)
    compile = dev.type == "cuda" if compile is None else compile
    need = dict(GPU_TASK_SECONDS if dev.type == "cuda" else {}, **(task_seconds or {}))
    say = progress or (lambda msg: None)
    tasks = gpu_tasks(dev, settings, compile)
    start = time.perf_counter()
    result: dict[str, Any] = {
        "preset": "gpu",
        "settings": {
            **{key: list(v) if isinstance(v, tuple) else v for key, v in settings.items()},
            "compile": compile,
            "sn_sampler": {**SN_SAMPLER, "relax_band": None},
            "graph_outputs": "node (2 classes); ViTs with patch 16",
            "timing": "median of repeats after 2 warm-up calls",
        },
        "device": device_info(dev),
        "budget_s": budget,
        "complete": False,
        "wall_s": 0.0,
        "tasks": [{"name": t["name"], "kind": t["kind"], "status": "pending"} for t in tasks],
        "rows": [],
        "sampler_curve": [],
        "training": [],
        "summary": {},
    }
    out = Path(out)
    write_json(out, result)
    stop_reason = None
    for task, record in zip(tasks, result["tasks"], strict=True):
        left = budget - (time.perf_counter() - start)
        wanted = need.get(task["kind"], 0.0)
        if stop_reason is None and left <= 0:
            stop_reason = "budget spent"
        if stop_reason is not None or left < wanted:
            record["status"] = "skipped"
            record["reason"] = stop_reason or (
                f"needs about {wanted:.0f} s, {max(left, 0):.0f} s of the budget left"
            )
            continue
        say(f"{task['name']} ({left:.0f} s of the budget left)")
        t0 = time.perf_counter()
        try:
            with _deadline(left):
                produced = task["fn"]()
            result[task["output"]].extend(produced)
            record["status"] = "ok"
        except BudgetSpent as err:
            record.update(status="timeout", error=str(err))
            stop_reason = f"budget spent during {task['name']!r}"
        except Exception as err:  # record it and go on: the other figures are still wanted
            record.update(status="error", error=f"{type(err).__name__}: {err}")
            record["traceback"] = traceback.format_exc(limit=-8)
        finally:
            record["wall_s"] = time.perf_counter() - t0
            if task["kind"].startswith("compile"):
                torch._dynamo.reset()
            _free(dev)
        result["summary"] = summarize(result["rows"])
        result["wall_s"] = time.perf_counter() - start
        write_json(out, result)
    result["complete"] = all(r["status"] == "ok" for r in result["tasks"])
    result["wall_s"] = time.perf_counter() - start
    write_json(out, result)
    if result["rows"] or result["sampler_curve"]:
        try:
            plot(result, out.with_suffix(".png"))
        except Exception as err:  # the JSON is what matters
            result["plot_error"] = f"{type(err).__name__}: {err}"
            write_json(out, result)
    return result
