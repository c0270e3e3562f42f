"""The soft model in residual-pathway form: a free path under the per-group penalties until
the adjustment step, then an exact path for the group with the largest strength beside it.

Before ``T`` :class:`SoftPathway` is a :class:`~lps.soft.SoftMLP` (the free path) trained with
the projection penalties of every candidate group; its strengths are adjusted at ``T`` as
usual (:class:`~lps.soft.Strengths`). Then :meth:`SoftPathway.commit` turns the group with the
largest strength ``G*`` (the one the data broke least) into an exactly equivariant path: the
exact path starts as the free path's current weights projected onto ``G*`` and is kept
projected after every optimizer step (:meth:`SoftPathway.project_`); the free path keeps its
hidden layers, its head is zeroed (so it starts with zero output) and it stays under the
penalties of every group at the adjusted strengths, so it only carries what the data need
beyond ``G*``. Both paths exist from the start (one optimizer, one state dict); the exact path
is unused before the commit (no gradients, so the optimizer skips it).

``exact_penalties`` says which penalties the exact path pays after the commit, at the
adjusted strengths: ``"supergroups"`` (the default: the candidates that contain ``G*`` on the
declared representations, where every ``G``-equivariant layer is ``G*``-equivariant),
``"none"`` (the earlier default; docs/soft.md, sixth round) or ``"all"`` (every
candidate; its own penalty is 0). The exact path is then exactly
``G*``-equivariant and softly equivariant to the other candidates. Without it a nested
candidate list (``O(2)_z`` inside ``O(3)``) commits to the subgroup even where the whole group
holds, because ``||W - P_G W|| >= ||W - P_H W||`` for ``H`` inside ``G`` ranks ``H`` first, and
nothing pulls the exact path back toward the larger group.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from lps.groups import Group
from lps.soft.mlp import SoftMLP

__all__ = ["DEFAULT_EXACT_PENALTIES", "EXACT_PENALTIES", "SoftPathway"]

#: what the exact path pays after the commit (:class:`SoftPathway`)
EXACT_PENALTIES = ("none", "supergroups", "all")
#: the default: best on the five-seed mean of all eleven soft variants (docs/soft.md)
DEFAULT_EXACT_PENALTIES = "supergroups"


class SoftPathway(nn.Module):
    """``f_free`` before the commit, ``f_exact + f_free`` after ((B, rep_in.dim) ->
    (B, rep_out.dim)).

    Args:
        rep_in, rep_out: the declared representations (as for :class:`SoftMLP`).
        groups: the candidate groups (the exact path is committed to one of them).
        exact_penalties: the exact path's penalties after the commit: ``"supergroups"``
            (the default), ``"none"`` or ``"all"`` (see the module).
        **kwargs: the :class:`SoftMLP` settings of both paths (hidden, layers, ...).
    """

    def __init__(self, rep_in, rep_out, groups: list[str],
                 exact_penalties: str = DEFAULT_EXACT_PENALTIES, **kwargs):  # fmt: skip
        super().__init__()
        self.free = SoftMLP(rep_in, rep_out, **kwargs)
        self.exact = SoftMLP(rep_in, rep_out, **kwargs)
        if exact_penalties not in EXACT_PENALTIES:
            raise ValueError(
                f"SoftPathway: exact_penalties must be one of {EXACT_PENALTIES}, "
                f"got {exact_penalties!r}"
            )
        self.exact_penalties = exact_penalties
        self._supergroups: dict[str, list[str]] = {}
        self.groups = list(groups)
        for g in self.groups:
            self.free.check_group(g)
        self.rep_in, self.rep_out = self.free.rep_in, self.free.rep_out
        #: index into ``groups`` of the exact path's group; -1 before the commit
        self.register_buffer("committed", torch.tensor(-1))

    @property
    def exact_group(self) -> str | None:
        """The exact path's group, or None before the commit."""
        i = int(self.committed)
        return None if i < 0 else self.groups[i]

    def forward(self, x: Tensor) -> Tensor:
        y = self.free(x)
        return y if self.exact_group is None else y + self.exact(x)

    def check_group(self, group: Group | str) -> Group:
        return self.free.check_group(group)

    def penalties(self, groups: list[str]) -> dict[str, Tensor]:
        """The free path's projection penalties (the exact path has none for its group), plus
        the exact path's after the commit as ``exact_penalties`` says."""
        pens = self.free.penalties(groups)
        if self.exact_penalties == "none" or self.exact_group is None:
            return pens
        paid = [g for g in groups if g != self.exact_group]
        if self.exact_penalties == "supergroups":
            paid = [g for g in paid if g in self.supergroups(self.exact_group)]
        for g, p in self.exact.penalties(paid).items():
            pens[g] = pens[g] + p
        return pens

    def penalty(self, group: Group | str) -> Tensor:
        name = self.check_group(group).name
        return self.penalties([name])[name]

    def supergroups(self, group: str) -> list[str]:
        """The other candidates that contain ``group`` on the declared representations:
        ``G`` such that projecting random layers onto ``G`` leaves no ``group`` penalty."""
        if group not in self._supergroups:
            probe = copy.deepcopy(self.exact).double()
            gen = torch.Generator().manual_seed(0)
            out = []
            with torch.no_grad():
                for g in self.groups:
                    if g == group:
                        continue
                    for p in probe.parameters():
                        p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
                    probe.project_(g)
                    size = sum(float(p.pow(2).sum()) for p in probe.parameters())
                    if float(probe.penalty(group)) <= 1e-12 * max(size, 1.0):
                        out.append(g)
            self._supergroups[group] = out
        return self._supergroups[group]

    @torch.no_grad()
    def commit(self, strengths: dict[str, float]) -> str | None:
        """Commit the exact path to the group with the largest strength (the first of equal
        ones; none if every strength is 0). Returns the group, or None."""
        if self.exact_group is not None:
            raise RuntimeError(f"SoftPathway: already committed to {self.exact_group}")
        unknown = sorted(set(strengths) - set(self.groups))
        if unknown:
            raise ValueError(f"SoftPathway: {unknown} are not candidate groups {self.groups}")
        best = max(self.groups, key=lambda g: strengths.get(g, 0.0))
        if strengths.get(best, 0.0) <= 0:
            return None
        self.exact.load_state_dict(self.free.state_dict())
        self.committed.fill_(self.groups.index(best))
        self.project_()
        self.free.head.weight.zero_()
        self.free.head.bias.zero_()
        return best

    @torch.no_grad()
    def project_(self) -> SoftPathway:
        """Project the exact path onto its group (after every optimizer step); a no-op
        before the commit."""
        if self.exact_group is not None:
            self.exact.project_(self.exact_group)
        return self
