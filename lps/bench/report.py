"""Output of ``lps bench``: the JSON (written atomically), the summary, markdown tables and
the PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lps.io import atomic_write_figure, atomic_write_json


def write_json(path: str | Path, result: dict[str, Any]) -> None:
    """Write ``result`` as indented JSON, atomically (:func:`lps.io.atomic_write_json`), so
    that a run killed at any moment leaves the previous complete file."""
    atomic_write_json(path, result)


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """``base/N/k/mode/sampler -> eval ratio`` (symmetrized / base throughput) per row."""
    return {
        f"{r['base']}/N={r['n']}/k={r['k']}/{r['mode']}/{r['sampler']}": round(r["eval_ratio"], 3)
        for r in rows
        if "eval_ratio" in r
    }


def markdown_tables(result: dict[str, Any]) -> str:
    """The benchmark as markdown: one table per base model and mode, and the sampler curve."""
    lines = []
    rows = [r for r in result["rows"] if "error" not in r]
    for base_name in dict.fromkeys(r["base"] for r in rows):
        for mode in dict.fromkeys(r["mode"] for r in rows):
            sel = [r for r in rows if r["base"] == base_name and r["mode"] == mode]
            if not sel:
                continue
            lines += [
                f"**{base_name}, {mode}**",
                "",
                "| N | k | sampler | eval / s | eval ratio | train / s | train ratio "
                "| sampler share | actions share | extra kept for backward |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for r in sel:
                lines.append(
                    f"| {r['n']} | {r['k']} | {r['sampler']} | {_num(r, 'eval_per_s')} "
                    f"| {_pct(r, 'eval_ratio')} | {_num(r, 'train_per_s')} "
                    f"| {_pct(r, 'train_ratio')} | {_pct(r, 'sampler_share')} "
                    f"| {_pct(r, 'actions_share')} | {_pct(r, 'extra_saved_share')} |"
                )
            lines.append("")
    if result.get("sampler_curve"):
        lines += [
            "**learned S_n sampler alone**",
            "",
            "| N | edges | relaxation | dense mass in band | eval ms "
            "| of which walk features ms | train-step ms | kept for backward MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in result["sampler_curve"]:
            band = r.get("relax_band")
            mass = "" if r.get("band_mass") is None else f"{100 * r['band_mass']:.0f}%"
            lines.append(
                f"| {r['n']} | {r['edges']} | {'dense' if band is None else f'band {band}'} "
                f"| {mass} "
                f"| {1e3 * r['eval_s']:.1f} "
                f"| {1e3 * r['walk_features_s']:.1f} | {1e3 * r['train_s']:.1f} "
                f"| {r['saved_for_backward_bytes'] / 2**20:.1f} |"
            )
    return "\n".join(lines)


def gpu_tables(result: dict[str, Any]) -> str:
    """The parts of a gpu-preset result that :func:`markdown_tables` leaves out: training
    steps per second per config and the status of every task."""
    lines = []
    if result.get("training"):
        lines += [
            "**training steps (lps.train.loop.train)**",
            "",
            "| config | batch | k | precision | steps / s | examples / s |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in result["training"]:
            lines.append(
                f"| {r['config']} | {r['batch_size']} | {r['n_samples']} | {r['mixed_precision']} "
                f"| {r['steps_per_s']:.2f} | {r['examples_per_s']:.1f} |"
            )
        lines.append("")
    lines += ["| task | status | seconds | note |", "| --- | --- | --- | --- |"]
    for t in result.get("tasks", []):
        note = t.get("error") or t.get("reason") or ""
        wall = f"{t['wall_s']:.1f}" if "wall_s" in t else ""
        lines.append(f"| {t['name']} | {t['status']} | {wall} | {note} |")
    return "\n".join(lines)


def _num(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.1f}" if key in row else ""


def _pct(row: dict[str, Any], key: str) -> str:
    return f"{100 * row[key]:.0f}%" if key in row else ""


def plot(result: dict[str, Any], path: Path) -> None:
    """Bars of the eval ratio per case and sampler; the sampler's time over N (PNG, atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if "eval_ratio" in r]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    cases = list(dict.fromkeys((r["base"], r["n"], r["k"], r["mode"]) for r in rows))
    width = 0.8 / max(len(samplers), 1)
    for i, s in enumerate(samplers):
        vals = [
            next((r["eval_ratio"] for r in rows if r["sampler"] == s and _case_key(r) == c), 0.0)
            for c in cases
        ]
        ax.bar([j + i * width for j in range(len(cases))], vals, width, label=s)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(0.9, color="k", lw=0.6, ls="--")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cases))])
    ax.set_xticklabels([f"{b}\nN={n} k={k}\n{m}" for b, n, k, m in cases], fontsize=6)
    ax.set_ylabel("symmetrized / base eval throughput")
    if samplers:  # no rows yet (a budget spent before the first): nothing to label
        ax.legend(fontsize=7)
    curve = result.get("sampler_curve", [])
    if curve:
        dense = [r for r in curve if r.get("relax_band") is None]
        ns = [r["n"] for r in dense]
        ax2.loglog(ns, [r["eval_s"] for r in dense], "o-", label="eval")
        ax2.loglog(ns, [r["train_s"] for r in dense], "s-", label="train (dense)")
        for band in dict.fromkeys(r.get("relax_band") for r in curve if r.get("relax_band")):
            sel = [r for r in curve if r.get("relax_band") == band]
            ax2.loglog(
                [r["n"] for r in sel],
                [r["train_s"] for r in sel],
                "s:",
                label=f"train (band {band})",
            )
        ax2.loglog(ns, [r["walk_features_s"] for r in dense], "^--", label="walk features (eval)")
        ax2.set_xticks(ns)
        ax2.set_xticklabels([str(n) for n in ns])
        ax2.minorticks_off()
        ax2.set_xlabel("N (max nodes)")
        ax2.set_ylabel("learned sampler seconds")
        ax2.legend(fontsize=7)
    dev = result["device"]
    fig.suptitle(f"lps bench on {dev['name']} ({dev['type']}, torch {dev['torch']})", fontsize=9)
    fig.tight_layout()
    atomic_write_figure(path, fig, dpi=120)
    plt.close(fig)


def _case_key(r: dict[str, Any]) -> tuple:
    return (r["base"], r["n"], r["k"], r["mode"])
