"""``lps bench``: throughput of a base model alone and symmetrized with each sampler.

Eval throughput (graphs per second) on random padded graphs, for the base model run on the
same ``B * k`` copies and for the symmetrized model, so the ratio is the overhead of
symmetrization (sampler, group actions, densifying). Writes JSON with the device, versions
and settings, and a PNG plot beside it.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from lps.backbones import FlatMLP
from lps.symmetrize import symmetrize


def _random_graphs(batch: int, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    sizes = torch.randint(n // 2, n + 1, (batch,), generator=gen)
    mask = torch.arange(n)[None] < sizes[:, None]
    adj = torch.triu((torch.rand(batch, n, n, generator=gen) < 0.1).float(), 1)
    adj = (adj + adj.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
    x = torch.randn(batch, n, 4, generator=gen) * mask[..., None]
    return {"x": x, "adj": adj.unsqueeze(-1), "mask": mask}


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


@torch.no_grad()
def run_bench(
    out: str | Path = "runs/bench.json", quick: bool = False, device: str | None = None
) -> dict[str, Any]:
    """Measure and write the benchmark; returns the result dict (``summary`` holds ratios)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    gen = torch.Generator().manual_seed(0)
    sizes = (16, 32) if quick else (32, 64)
    ks = (1, 4) if quick else (1, 10)
    batch, repeats = (8, 3) if quick else (32, 5)
    rows = []
    for n in sizes:
        data = {k: v.to(device) for k, v in _random_graphs(batch, n, gen).items()}
        base = FlatMLP({"x": (n, 4), "adj": (n, n, 1)}, (2,), hidden=256).to(device).eval()
        for k in ks:
            rep = {key: v.repeat_interleave(k, 0) for key, v in data.items()}
            t_base = _time(lambda: base(**rep), repeats)  # noqa: B023
            rows.append(
                {
                    "n": n,
                    "k": k,
                    "sampler": "base",
                    "seconds": t_base,
                    "graphs_per_s": batch / t_base,
                    "ratio_to_base": 1.0,
                }
            )
            for name in ("haar", "frame", "canonical", "learned"):
                kw = {"in_dim": 4} if name in ("learned", "canonical") else {}
                model = (
                    symmetrize(
                        base,
                        "S_n",
                        {"x": "node", "adj": "pair"},
                        "invariant",
                        name,
                        n_samples=k,
                        validate=False,
                        **kw,
                    )
                    .to(device)
                    .eval()
                )
                if model.sampler.deterministic and k > 1:
                    continue
                t = _time(lambda: model(**data), repeats)  # noqa: B023
                rows.append(
                    {
                        "n": n,
                        "k": k,
                        "sampler": name,
                        "seconds": t,
                        "graphs_per_s": batch / t,
                        "ratio_to_base": t / t_base,
                    }
                )
    result = {
        "settings": {
            "batch": batch,
            "sizes": sizes,
            "ks": ks,
            "repeats": repeats,
            "base": "FlatMLP(hidden=256)",
            "group": "S_n",
            "mode": "eval, no_grad",
        },
        "device": {
            "type": device,
            "name": torch.cuda.get_device_name()
            if device == "cuda"
            else platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "rows": rows,
        "summary": {
            f"n={r['n']},k={r['k']},{r['sampler']}": round(r["ratio_to_base"], 3)
            for r in rows
            if r["sampler"] != "base"
        },
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    _plot(rows, out.with_suffix(".png"))
    return result


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    samplers = sorted({r["sampler"] for r in rows if r["sampler"] != "base"})
    labels = sorted({(r["n"], r["k"]) for r in rows})
    width = 0.8 / max(len(samplers), 1)
    for i, s in enumerate(samplers):
        vals = [
            next(
                (r["ratio_to_base"] for r in rows if r["sampler"] == s and (r["n"], r["k"]) == lab),
                float("nan"),
            )
            for lab in labels
        ]
        ax.bar([j + i * width for j in range(len(labels))], vals, width, label=s)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))])
    ax.set_xticklabels([f"N={n}\nk={k}" for n, k in labels])
    ax.set_ylabel("time / base model time")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
