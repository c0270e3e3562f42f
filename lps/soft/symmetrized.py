"""Baselines through :func:`lps.symmetrize`: an MLP made O(3)-equivariant by frame averaging
or by the learned sampler, on flat inputs declared as a :class:`~lps.soft.Rep`.

The flat input ``(B, rep_in.dim)`` is read as per-node fields for ``lps.symmetrize``:
``"T0"`` scalars as an invariant ``(B, n0)`` field and ``"T1"`` vectors as a ``position``
field ``(B, n1, 3)`` (the inertia layout ``"5xT0 + 5xT1"``). The base MLP sees the
canonicalized fields and returns one output block per sample in the canonical frame; the
wrapper turns it back with the sample's matrix ``A = s R`` (``"T1"``: ``A y``; ``"T2"``:
``A Y A^T``; ``"T0"``: ``y``) and averages over the samples, so the prediction is exactly
(frame, enumerated) or in expectation (learned sampler) equivariant.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lps.fields import FieldType
from lps.soft.reps import Rep
from lps.symmetrize import symmetrize

__all__ = ["SymmetrizedMLP"]


class _Base(nn.Module):
    def __init__(self, n0: int, n1: int, out_dim: int, width: int, layers: int):
        super().__init__()
        dims = [n0 + 3 * n1] + [width] * layers
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            mods += [nn.Linear(a, b), nn.SiLU()]
        self.net = nn.Sequential(*mods, nn.Linear(dims[-1], out_dim))

    def forward(self, s: Tensor, v: Tensor) -> Tensor:
        return self.net(torch.cat([s, v.flatten(1)], 1))


class SymmetrizedMLP(nn.Module):
    """``(B, rep_in.dim) -> (B, rep_out.dim)``, an MLP symmetrized over ``group``.

    Args:
        rep_in: ``"<n0>xT0 + <n1>xT1"`` (scalars first, then vectors).
        rep_out: one block, ``"1xT0"``, ``"1xT1"`` or ``"1xT2"``.
        group: a group acting on ``position`` fields (``"O(3)"``, ``"SO(3)"``).
        sampler: ``"frame"`` (the enumerated PCA frame, 8 elements) or ``"learned"``.
        n_samples: k for the learned sampler (the frame's k is its own).
        width, layers: the base MLP.
    """

    def __init__(self, rep_in, rep_out, group="O(3)", sampler="frame", n_samples=4,
                 width=128, layers=2, sampler_args=None):  # fmt: skip
        super().__init__()
        rep_in, rep_out = Rep(rep_in), Rep(rep_out)
        names = [str(b) for _, b in rep_in.blocks]
        if names not in (["T0", "T1"], ["T1"]) or len(rep_out.blocks) != 1:
            raise ValueError(
                f"SymmetrizedMLP: rep_in must be '<n>xT0 + <m>xT1' or '<m>xT1' and rep_out "
                f"one block, got {rep_in} -> {rep_out}"
            )
        mul, out = rep_out.blocks[0]
        if mul != 1 or str(out) not in ("T0", "T1", "T2"):
            raise ValueError(f"SymmetrizedMLP: rep_out must be 1xT0, 1xT1 or 1xT2, got {rep_out}")
        self.n0 = rep_in.blocks[0][0] if names[0] == "T0" else 0
        self.n1 = rep_in.blocks[-1][0]
        self.rank = out.rank
        self.rep_in, self.rep_out = rep_in, rep_out
        self.aux_loss: Tensor | float = 0.0
        base = _Base(self.n0, self.n1, rep_out.dim, width, layers)
        self.model = symmetrize(base, group, {"s": "invariant", "v": "position"}, "invariant",
                                sampler, n_samples=n_samples,
                                sampler_args=sampler_args)  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        s, v = x[:, : self.n0], x[:, self.n0 :].reshape(b, self.n1, 3)
        out = self.model(s=s, v=v, return_samples=True)
        self.aux_loss = out.aux_loss  # the learned sampler's auxiliary losses (0: frame)
        y = out.samples  # (B, k, rep_out.dim) in each sample's canonical frame
        k = y.shape[1]
        eye = torch.eye(3, dtype=x.dtype, device=x.device).expand(b * k, 1, 3, 3)
        group = self.model.group
        a = group.act(out.element, eye.contiguous(), FieldType.NODE_VECTOR)[:, 0]
        a = a.transpose(-1, -2).reshape(b, k, 3, 3)  # column c: g . e_c
        if self.rank == 1:
            y = (a @ y[..., None])[..., 0]
        elif self.rank == 2:
            y = (a @ y.reshape(b, k, 3, 3) @ a.transpose(-1, -2)).reshape(b, k, 9)
        w = out.weights
        if w is None:
            return y.mean(1)
        return (y * w.to(y.dtype)[..., None]).sum(1)
