"""Tables of separation results, and the published numbers they are compared with."""

from __future__ import annotations

from typing import Any

__all__ = ["PUBLISHED_SEPARATION", "markdown_table", "row_label"]

#: Published undistinguished pairs (GRAPH8c, EXP) with untrained models: Balcilar et al. 2021
#: (GCN, GAT, GIN, ChebNet, PPGN, GNNML3); Puny et al. 2022 (MLP-FA, GIN-ID-FA).
PUBLISHED_SEPARATION: dict[str, dict[str, int]] = {
    "GCN": {"graph8c": 4755, "exp": 600},
    "GAT": {"graph8c": 1828, "exp": 600},
    "GIN": {"graph8c": 386, "exp": 600},
    "ChebNet": {"graph8c": 44, "exp": 71},
    "PPGN": {"graph8c": 0, "exp": 0},
    "GNNML3": {"graph8c": 0, "exp": 0},
    "MLP-FA": {"graph8c": 0, "exp": 0},
    "GIN-ID-FA": {"graph8c": 0, "exp": 0},
}

_MODEL_LABEL = {"mlp": "MLP", "gin_id": "GIN-ID", "node_sum": "NodeSum (control)"}
_SAMPLER_LABEL = {"learned": "PS", "canonical": "Canon", "haar": "GA", "frame": "FA"}


def row_label(row: dict[str, Any]) -> str:
    """``MLP-PS``, ``GIN-ID-FA``, ...; non-default sampler settings are added in brackets."""
    label = f"{_MODEL_LABEL.get(row['model'], row['model'])}-"
    label += _SAMPLER_LABEL.get(row["sampler"], row["sampler"])
    extras = [f"{k}={v}" for k, v in sorted(row.get("sampler_kwargs", {}).items())]
    if row.get("noise_scale", 1.0) != 1.0:
        extras.insert(0, f"noise x{row['noise_scale']:g}")
    return f"{label} ({', '.join(extras)})" if extras else label


def markdown_table(rows: list[dict[str, Any]], published: bool = True) -> str:
    """A markdown table: one line per model x sampler, GRAPH8c and EXP side by side.

    Cells: undistinguished pairs (literature rule) / noise-aware undistinguished, and
    isomorphic copies identified / total. Published rows (undistinguished only) follow.
    """
    keyed: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        keyed.setdefault(row_label(r), {})[r["dataset"]] = r
    head = (
        "| model | k | GRAPH8c undist. (lit. / noise-aware) | GRAPH8c iso. identified "
        "| EXP undist. (lit. / noise-aware) | EXP iso. identified |"
    )
    lines = [head, "| --- | --- | --- | --- | --- | --- |"]

    def cells(r: dict[str, Any] | None) -> str:
        if r is None:
            return "– | –"
        und = f"{r['undistinguished']} / {r['undistinguished_noise_aware']}"
        return f"{und} | {r['isomorphic_identified']} / {r['isomorphic_copies']}"

    for label, by_ds in keyed.items():
        k = next(iter(by_ds.values()))["n_samples"]
        lines.append(
            f"| {label} | {k} | {cells(by_ds.get('graph8c'))} | {cells(by_ds.get('exp'))} |"
        )
    if published:
        for name, vals in PUBLISHED_SEPARATION.items():
            lines.append(f"| {name} (published) | – | {vals['graph8c']} | – | {vals['exp']} | – |")
    return "\n".join(lines)
