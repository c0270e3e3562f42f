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
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lps.groups import Group
from lps.soft.mlp import SoftMLP

__all__ = ["SoftPathway"]


class SoftPathway(nn.Module):
    """``f_free`` before the commit, ``f_exact + f_free`` after ((B, rep_in.dim) ->
    (B, rep_out.dim)).

    Args:
        rep_in, rep_out: the declared representations (as for :class:`SoftMLP`).
        groups: the candidate groups (the exact path is committed to one of them).
        **kwargs: the :class:`SoftMLP` settings of both paths (hidden, layers, ...).
    """

    def __init__(self, rep_in, rep_out, groups: list[str], **kwargs):
        super().__init__()
        self.free = SoftMLP(rep_in, rep_out, **kwargs)
        self.exact = SoftMLP(rep_in, rep_out, **kwargs)
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
        """The free path's projection penalties (the exact path has none for its group)."""
        return self.free.penalties(groups)

    def penalty(self, group: Group | str) -> Tensor:
        return self.free.penalty(group)

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
