"""Part 2 table of docs/images.md: per-input symmetry levels on the rotated digits.

    python scripts/levels_table.py --sets multiple --seeds 0,1,2 --out runs/levels_multiple

For each rotation set and seed: fit phi/psi (no labels), kNN pseudo-labels, the level
network; then level error per class, out-of-symmetry detection on full-circle rotations, and
k-means accuracy on raw vs standardized images (:mod:`lps.experiments.levels`). ``--jobs``
one-thread runs at a time. Writes ``OUT.json`` and ``OUT.md`` (means ± sd per set, every run,
and the issue's targets checked on the means), after every finished run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from lps.experiments.levels import LEVEL_SETS, LevelSettings, run_levels
from lps.experiments.pool import job_pool
from lps.io import atomic_write_text
from lps.samplers.settings import READOUTS

NAMES = {
    "multiple": "DigitsMultiple (±18c)",
    "uniform60": "uniform ±60",
    "uniform60_90": "±60 (0-4) / ±90 (5-9)",
    "gaussian": "Gaussian σ = 9c",
    "c2c4": "C2 (0-4) / C4 (5-9)",
}


def fmt(v, spec=".3f") -> str:
    return "—" if v is None else format(v, spec)


COLUMNS = (
    ("level_mae_deg", "level MAE (deg)", ".1f"),
    ("spearman", "Spearman", ".3f"),
    ("order_accuracy", "C_n order acc.", ".3f"),
    ("ood_accuracy", "out-of-symmetry acc.", ".3f"),
    ("kmeans_raw", "k-means raw", ".3f"),
    ("kmeans_standardized", "k-means standardized", ".3f"),
    ("kmeans_gain", "k-means gain", "+.3f"),
    ("psi_abs_error_deg", "median psi error (deg)", ".1f"),
    ("fit_seconds", "fit s", ".0f"),
    ("knn_purity", "kNN purity", ".3f"),
    ("level_mae_true_angles", "level MAE, true angles", ".1f"),
    ("ood_accuracy_true_levels", "out-of-symmetry acc., true levels", ".3f"),
)


def _mean(rows: list[dict], key: str) -> tuple[float | None, float | None]:
    vals = [r[key] for r in rows if r.get(key) is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else None)


def _cell(rows: list[dict], key: str, spec: str) -> str:
    m, sd = _mean(rows, key)
    return fmt(m, spec) + ("" if sd is None else " ± " + format(sd, spec.lstrip("+")))


def targets(name: str, rows: list[dict]) -> str:
    """The issue's targets for set ``name``, checked on the means over ``rows`` (seeds)."""
    checks = []
    if name == "multiple":
        checks.append(f"level MAE <= 10: {fmt(_mean(rows, 'level_mae_deg')[0], '.1f')}")
        checks.append(f"Spearman >= 0.95: {fmt(_mean(rows, 'spearman')[0])}")
    need = 0.90 if name in ("multiple", "uniform60", "uniform60_90") else 0.85
    checks.append(f"out-of-symmetry >= {need:.2f}: {fmt(_mean(rows, 'ood_accuracy')[0])}")
    checks.append(f"k-means gain >= 0.25: {fmt(_mean(rows, 'kmeans_gain')[0], '+.3f')}")
    return f"- {NAMES.get(name, name)}: " + "; ".join(checks)


def markdown(rows: list[dict], command: str, jobs: int) -> str:
    """Per-set means ± sd over seeds (one row per set), the per-run rows, the targets."""
    s = rows[0]["settings"]
    sets = list(dict.fromkeys(r["set"] for r in rows))
    seeds = sorted({r["settings"]["seed"] for r in rows})
    head = "| " + " | ".join(c[1] for c in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    lines = [
        f"Command: `{command}`  ",
        f"Autoencoder {s['ae_epochs']} epochs"
        f"{' (cosine lr)' if s.get('ae_cosine') else ''}, psi readout `{s['psi_readout']}`, k = "
        f"{s['neighbours']} neighbours, trim {s['trim']}; seeds {seeds}; x86_64 CPU, 2 cores, "
        f"one thread per run, {jobs} run(s) at a time.",
        "",
        "Means ± sd over seeds:",
        "",
        "| set | seeds " + head,
        "|---" + rule,
    ]
    for name in sets:
        sub = [r for r in rows if r["set"] == name]
        cells = " | ".join(_cell(sub, key, spec) for key, _, spec in COLUMNS)
        lines.append(f"| {NAMES.get(name, name)} | {len(sub)} | {cells} |")
    lines += ["", "Per run:", "", "| set | seed " + head, "|---" + rule]
    for r in rows:
        cells = " | ".join(fmt(r.get(key), spec) for key, _, spec in COLUMNS)
        lines.append(f"| {NAMES.get(r['set'], r['set'])} | {r['settings']['seed']} | {cells} |")
    lines += ["", "Targets (issue 14), on the means over seeds:"]
    lines += [targets(name, [r for r in rows if r["set"] == name]) for name in sets]
    return "\n".join(lines) + "\n"


def _job(item: tuple[str, LevelSettings]) -> dict:
    torch.set_num_threads(1)
    name, settings = item
    row = run_levels(name, settings)
    row["kmeans_gain"] = row["kmeans_standardized"] - row["kmeans_raw"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default=",".join(LEVEL_SETS))
    p.add_argument("--ae-epochs", type=int, default=30)
    p.add_argument("--neighbours", type=int, default=30)
    p.add_argument("--trim", type=float, default=0.1)
    p.add_argument("--seeds", default="0", help="comma-separated seeds of the whole pipeline")
    p.add_argument("--psi-readout", default="mode", choices=READOUTS)
    p.add_argument("--ae-cosine", action="store_true", help="cosine decay of the AE's lr")
    p.add_argument("--jobs", type=int, default=2, help="parallel runs (1: in this process)")
    p.add_argument("--out", default="runs/levels")
    a = p.parse_args()
    if a.jobs < 1:
        p.error(f"--jobs must be >= 1, got {a.jobs}")
    unknown = [n for n in a.sets.split(",") if n not in LEVEL_SETS]
    if unknown:
        p.error(f"--sets: unknown rotation set(s) {unknown}; expected some of {list(LEVEL_SETS)}")
    torch.set_num_threads(1)
    items = [
        (
            name,
            LevelSettings(
                ae_epochs=a.ae_epochs,
                neighbours=a.neighbours,
                trim=a.trim,
                seed=int(seed),
                psi_readout=a.psi_readout,
                ae_cosine=a.ae_cosine,
            ),
        )
        for seed in a.seeds.split(",")
        for name in a.sets.split(",")
    ]
    command = "PYTHONPATH=$PWD python scripts/levels_table.py " + " ".join(sys.argv[1:])
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with job_pool(a.jobs) as pool:
        for row in pool.map(_job, items):  # in order; each finished run is saved at once
            print(json.dumps({k: v for k, v in row.items() if k != "settings"}), flush=True)
            rows.append(row)
            record = {"command": command, "device": "x86_64 CPU, 2 cores", "runs": rows}
            atomic_write_text(out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
            atomic_write_text(out.with_suffix(".md"), markdown(rows, command, a.jobs))
    print(markdown(rows, command, a.jobs))


if __name__ == "__main__":
    main()
