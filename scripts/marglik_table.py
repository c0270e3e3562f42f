"""Layer-wise symmetry discovery tables: tasks x models x seeds, one command, JSON + markdown.

    PYTHONPATH=$PWD python scripts/marglik_table.py --tasks A,B --seeds 0,1,2 \
        --out docs/marglik_digits

Models (:mod:`lps.experiments.marglik`): ``conv``, ``dense``, ``residual_map`` (fixed prior
precision 1), ``residual_ml`` (precisions learned by the Laplace marginal likelihood),
optionally ``factored_ml``. Runs go ``--jobs`` at a time, one thread each. Writes
``OUT.json`` (every run, with its evaluation log), ``OUT.md`` (test accuracy and free-path
share per layer, mean +- std over seeds; the issue's targets checked) and ``OUT.png`` (the
free-path share per layer, learned vs. MAP).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields

TARGET_SHARE = {
    "A": ("every layer < 0.1", lambda s: max(s) < 0.1),
    "B": ("a layer > 0.5", lambda s: max(s) > 0.5),
}


def _job(args: tuple) -> dict:
    import torch

    from lps.experiments.marglik import run_marglik
    from lps.marglik import MarglikSettings

    task, model, seed, settings, canvas, channels, layers, copies = args
    torch.set_num_threads(1)
    r = run_marglik(
        task,
        model,
        seed,
        MarglikSettings(**settings),
        canvas,
        channels,
        layers=layers,
        copies=copies,
    )
    print(
        f"{task} {model} seed {seed}: acc {r['test_acc']:.1f} shares "
        f"{[round(s, 3) for s in r['shares']]} ({r['seconds']:.0f} s)",
        flush=True,
    )
    return r


def _ms(values: list[float], fmt: str = ".1f") -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def render(runs: list[dict], device: str, command: str) -> tuple[str, dict]:
    """The markdown table and the targets, from the runs."""
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    models = list(dict.fromkeys(r["model"] for r in runs))
    lines = [f"Command: `{command}`  ", f"Device: {device}.", ""]
    lines += [
        "| task | model | test acc. (%) | free-path share per layer | seconds / run |",
        "|---|---|---|---|---|",
    ]
    targets = {}
    for t in tasks:
        acc = {}
        for m in models:
            rs = [r for r in runs if r["task"] == t and r["model"] == m]
            if not rs:
                continue
            acc[m] = [r["test_acc"] for r in rs]
            n_layers = len(rs[0]["shares"])
            shares = " / ".join(_ms([r["shares"][j] for r in rs], ".2f") for j in range(n_layers))
            secs = statistics.mean(r["seconds"] for r in rs)
            lines.append(f"| {t} | {m} | {_ms(acc[m])} | {shares} | {secs:.0f} |")
        for ml in [m for m in ("residual_ml", "factored_ml") if m in acc]:
            mean = {m: statistics.mean(v) for m, v in acc.items()}
            singles = [mean[m] for m in ("conv", "dense", "set_equiv") if m in mean]
            rs = [r for r in runs if r["task"] == t and r["model"] == ml]
            shares = [
                statistics.mean(r["shares"][j] for r in rs) for j in range(len(rs[0]["shares"]))
            ]
            entry = {"mean_acc": mean[ml], "shares": shares}
            if singles:
                entry["within_1_of_best_single"] = mean[ml] >= max(singles) - 1.0
                entry["best_single"] = max(singles)
            if "residual_map" in mean:
                entry["above_residual_map"] = mean[ml] > mean["residual_map"]
                entry["residual_map"] = mean["residual_map"]
            if t in TARGET_SHARE:
                entry["share_target"] = TARGET_SHARE[t][0]
                entry["share_met"] = TARGET_SHARE[t][1](shares)
                for key in ("prior_shares", "neff_shares"):  # the other readouts, if recorded
                    if all(key in r for r in rs):
                        other = [statistics.mean(r[key][j] for r in rs) for j in range(len(shares))]
                        entry[key] = other
                        entry[f"share_met_{key.removesuffix('_shares')}"] = TARGET_SHARE[t][1](
                            other
                        )
            targets[f"{t}/{ml}"] = entry
    lines += readout_lines(runs)
    lines += ["", "Targets (means over seeds):", ""]
    for k, e in targets.items():
        lines.append(
            f"- {k}: "
            + ", ".join(
                f"{a} = {round(b, 3) if isinstance(b, float) else b}"
                for a, b in e.items()
                if not a.endswith("shares")
            )
            + "".join(f", {k} = {[round(s, 3) for s in e[k]]}" for k in e if k.endswith("shares"))
        )
    return "\n".join(lines) + "\n", targets


def readout_lines(runs: list[dict]) -> list[str]:
    """Per-layer readout of the learned models: precision per tensor, effective dims per path."""
    out = []
    for t in dict.fromkeys(r["task"] for r in runs):
        for m in ("residual_ml", "factored_ml"):
            rs = [r for r in runs if r["task"] == t and r["model"] == m]
            if not rs:
                continue
            out += [
                "",
                f"Readout, task {t}, {m} (mean over {len(rs)} seeds):",
                "",
                "| layer | prior precision per tensor | effective dims per path | free share: "
                "output RMS / prior RMS / eff. dim per param |",
                "|---|---|---|---|",
            ]
            for j, layer in enumerate(rs[0]["layers"]):
                prec = {
                    k: statistics.mean(r["layers"][j]["precision"][k] for r in rs)
                    for k in layer["precision"]
                }
                eff = {
                    k: statistics.mean(r["layers"][j]["eff_dim"][k] for r in rs)
                    for k in layer["eff_dim"]
                }
                share = " / ".join(
                    f"{statistics.mean(r['layers'][j].get(k, math.nan) for r in rs):.3f}"
                    for k in ("share", "prior_share", "neff_share")
                )
                out.append(
                    f"| {j + 1} | "
                    + ", ".join(f"{k} {v:.3g}" for k, v in prec.items())
                    + " | "
                    + ", ".join(f"{k} {v:.1f}" for k, v in eff.items())
                    + f" | {share} |"
                )
    return out


def figure(runs: list[dict], path: str) -> None:
    from lps.marglik import plot_shares

    results = {}
    for r in runs:
        if r["model"] in ("residual_ml", "residual_map", "factored_ml"):
            results.setdefault(f"{r['task']} {r['model']}", []).append(r["shares"])
    mean = {
        k: [statistics.mean(s[j] for s in v) for j in range(len(v[0]))] for k, v in results.items()
    }
    plot_shares(mean, path, "free-path share per layer (mean over seeds)")


def main() -> None:
    from lps.io import atomic_write_json, atomic_write_text
    from lps.marglik import MarglikSettings

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="A,B")
    p.add_argument("--models", default="conv,dense,residual_map,residual_ml")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--canvas", type=int, default=16)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--layers", type=int, default=3, help="residual layers (image tasks)")
    p.add_argument("--copies", type=int, default=1, help="pastes of every training digit")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", required=True)
    p.add_argument("--render", action="store_true", help="only redo OUT.md/OUT.png from OUT.json")
    for f in fields(MarglikSettings):
        if f.name != "learn_prior":
            kind = type(f.default)
            parse = (lambda v: v.lower() in ("1", "true", "yes")) if kind is bool else kind
            p.add_argument(f"--{f.name.replace('_', '-')}", type=parse, default=f.default)
    a = p.parse_args()
    if a.copies < 1:
        p.error(f"--copies must be >= 1, got {a.copies}")
    if a.render:
        with open(a.out + ".json") as f:
            saved = json.load(f)
        md, targets = render(saved["runs"], saved["device"], saved["command"])
        saved["targets"] = targets
        atomic_write_json(a.out + ".json", saved)
        atomic_write_text(a.out + ".md", md)
        figure(saved["runs"], a.out + ".png")
        print(md)
        return
    settings = {
        f.name: getattr(a, f.name) for f in fields(MarglikSettings) if f.name != "learn_prior"
    }
    jobs = [
        (t, m, int(s), settings, a.canvas, a.channels, a.layers, a.copies)
        for t in a.tasks.split(",")
        for m in a.models.split(",")
        for s in a.seeds.split(",")
    ]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        runs = list(ex.map(_job, jobs))
    device = (
        f"{platform.machine()} CPU, 2 cores shared, one thread per run, {a.jobs} runs at a time"
    )
    # every argument that differs from its default, so the recorded command reruns the table
    given = [("tasks", a.tasks), ("models", a.models), ("seeds", a.seeds)]
    given += [
        (k, v) for k, v in vars(a).items()
        if k not in ("tasks", "models", "seeds", "out", "render", "jobs")
        and v != p.get_default(k)
    ]  # fmt: skip
    given += [("jobs", a.jobs), ("out", a.out)]
    command = "PYTHONPATH=$PWD python scripts/marglik_table.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in given
    )
    md, targets = render(runs, device, command)
    atomic_write_json(
        a.out + ".json",
        {
            "device": device,
            "command": command,
            "settings": settings,
            "wall_seconds": time.perf_counter() - t0,
            "targets": targets,
            "runs": runs,
        },
    )
    atomic_write_text(a.out + ".md", md)
    figure(runs, a.out + ".png")
    print(md)
    print(json.dumps(targets, indent=1))


if __name__ == "__main__":
    main()
