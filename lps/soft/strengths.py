"""Self-tuning strengths of the per-group penalties, their logs and their bar chart.

Strengths ``lambda_i`` start equal. Over a window of steps before the adjustment step ``T``
each group's penalty keeps its running minimum ``R_i``; at ``T``,
``lambda_i <- lambda_i (R_min / R_i)^p``. A group whose penalty the data let the model drive
to zero (an exact symmetry) keeps its strength; a group the data break gets a smaller one.
The strengths after ``T`` are the discovered levels of the candidate symmetries. A group can
be pinned (a fixed strength, 0 switches it off); pinned groups are not adjusted and do not
set ``R_min``.
"""

from __future__ import annotations

import math
from pathlib import Path

from lps.io import atomic_write_figure

__all__ = ["Strengths", "plot_strengths"]


class Strengths:
    """Strengths of the candidate groups and their one-off adjustment.

    Args:
        groups: the candidate group names.
        init: the common initial strength (>= 0).
        adjust_at: the adjustment step T (None: never adjust).
        window: steps before T over which the running minimum is kept (default T: all).
        power: the exponent p (default 2).
        pinned: ``{group: fixed strength}``; 0 switches a group off.
        total_steps: the length of training, to reject a T past its end.
        rescale: a factor every free strength is multiplied by at T too (default 1): strong
            strengths before T make the penalties tell the groups apart, weaker ones after
            T fit better; the levels' ratios, the readout, do not change.
    """

    def __init__(
        self,
        groups: list[str],
        init: float = 1.0,
        adjust_at: int | None = None,
        window: int | None = None,
        power: float = 2.0,
        pinned: dict[str, float] | None = None,
        total_steps: int | None = None,
        rescale: float = 1.0,
    ):
        if not groups:
            raise ValueError("Strengths: at least one candidate group is needed")
        if len(set(groups)) != len(groups):
            raise ValueError(f"Strengths: candidate groups repeat: {groups}")
        pinned = dict(pinned or {})
        for name, value in [("init", init), *pinned.items()]:
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"strength of {name!r} must be finite and >= 0, got {value!r}")
        unknown = sorted(set(pinned) - set(groups))
        if unknown:
            raise ValueError(f"pinned groups {unknown} are not candidate groups {groups}")
        if power < 0:
            raise ValueError(f"power must be >= 0, got {power}")
        if not (math.isfinite(rescale) and rescale > 0):
            raise ValueError(f"rescale must be finite and > 0, got {rescale}")
        if adjust_at is not None:
            if adjust_at < 1:
                raise ValueError(f"adjust_at must be a step >= 1, got {adjust_at}")
            if total_steps is not None and adjust_at >= total_steps:
                raise ValueError(
                    f"adjust_at={adjust_at} is past the end of training ({total_steps} steps)"
                )
            window = adjust_at if window is None else window
            if not 1 <= window <= adjust_at:
                raise ValueError(f"window must be in 1..adjust_at={adjust_at}, got {window}")
        self.groups = list(groups)
        self.values = {g: float(pinned.get(g, init)) for g in groups}
        self.pinned = set(pinned)
        self.adjust_at, self.window, self.power = adjust_at, window, float(power)
        self.rescale = float(rescale)
        self.running_min: dict[str, float] = {}
        self.adjusted = False

    def __getitem__(self, group: str) -> float:
        return self.values[group]

    def active(self) -> list[str]:
        """The groups with a non-zero strength (whose penalties need computing)."""
        return [g for g in self.groups if self.values[g] > 0]

    def observe(self, step: int, penalties: dict[str, float]) -> bool:
        """Record the unweighted penalties of training step ``step`` (0-based); adjust at T.
        Returns True on the step where the strengths were adjusted."""
        if self.adjust_at is None or self.adjusted:
            return False
        if step >= self.adjust_at - self.window:
            for g, v in penalties.items():
                v = float(v)
                self.running_min[g] = min(self.running_min.get(g, math.inf), v)
        if step + 1 >= self.adjust_at:
            self.adjust()
            return True
        return False

    def adjust(self) -> dict[str, float]:
        """``lambda_i <- rescale * lambda_i (R_min / R_i)^p`` over the free groups with a
        record."""
        free = [g for g in self.groups if g not in self.pinned and g in self.running_min]
        if free:
            r_min = min(self.running_min[g] for g in free)
            for g in free:
                r = self.running_min[g]
                ratio = 1.0 if r <= 0 else r_min / r
                self.values[g] *= self.rescale * ratio**self.power
        self.adjusted = True
        return dict(self.values)

    def state_dict(self) -> dict:
        """The tuner's state (strengths, running minima, whether adjusted) for checkpoints."""
        return {
            "values": dict(self.values),
            "running_min": dict(self.running_min),
            "adjusted": self.adjusted,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (the same candidate groups), e.g. on ``--resume``."""
        if sorted(state["values"]) != sorted(self.groups):
            raise ValueError(
                f"Strengths: checkpoint groups {sorted(state['values'])} are not {self.groups}"
            )
        self.values = {g: float(state["values"][g]) for g in self.groups}
        self.running_min = {g: float(v) for g, v in state["running_min"].items()}
        self.adjusted = bool(state["adjusted"])

    def log(self, penalties: dict[str, float] | None = None, errors=None) -> dict[str, float]:
        """A flat dict for metrics.json / TensorBoard: ``strength/G``, ``penalty/G`` and
        ``rel_equiv_error/G`` (the sampled relative equivariance error) per group."""
        out = {f"strength/{g}": v for g, v in self.values.items()}
        out.update({f"penalty/{g}": float(v) for g, v in (penalties or {}).items()})
        out.update({f"rel_equiv_error/{g}": float(v) for g, v in (errors or {}).items()})
        return out


def plot_strengths(
    levels: dict[str, float],
    path: str | Path,
    title: str = "discovered symmetry levels",
    reference: dict[str, float] | None = None,
) -> Path:
    """Bar chart (PNG, written atomically) of the strengths per candidate group (log scale),
    with an optional second bar per group, e.g. the ground-truth relative equivariance error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(levels)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(names), 3.2))
    width = 0.4 if reference else 0.7
    xs = range(len(names))
    ax.bar([x - (width / 2 if reference else 0) for x in xs], [levels[n] for n in names], width)
    if reference:
        ax2 = ax.twinx()
        ref = [reference.get(n, 0.0) for n in names]
        ax2.bar([x + width / 2 for x in xs], ref, width, color="tab:orange")
        ax2.set_ylabel("true rel. equivariance error", color="tab:orange")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("strength")
    if all(v > 0 for v in levels.values()):
        ax.set_yscale("log")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    atomic_write_figure(path, fig, dpi=100)
    plt.close(fig)
    return path
