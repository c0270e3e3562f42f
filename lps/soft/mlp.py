"""An MLP whose layers map between declared representations of O(3) x Scale.

Each hidden layer is ``Linear -> (+ bilinear) -> gated nonlinearity`` (the EMLP block):

- :class:`RepLinear`: a plain dense ``W x + b`` between two :class:`~lps.soft.reps.Rep`; it
  knows its representations, so ``penalty(G)`` is ``1/2 ||W - P_G W||^2 + 1/2 ||b - P_G b||^2``
  and ``project_(G)`` makes it exactly G-equivariant.
- :class:`RepBilinear`: an e3nn tensor product of the hidden features with themselves,
  restricted to paths whose degrees add up (deg out = deg a + deg b), so it is exactly
  O(3)- and Scale-equivariant; it gives the network products such as ``m r r^T``.
- :class:`GatedNonlinearity`: SiLU on invariant scalars (``0e``, degree 0), every other block
  multiplied by the sigmoid of its own invariant gate scalar (extra outputs of the linear).

With every linear layer projected onto G (a subgroup of O(3) x Scale) the whole network is
G-equivariant; unprojected, it is an ordinary MLP that the soft penalties pull towards the
equivariant ones.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import Tensor, nn

from lps.groups import Group, get_group
from lps.soft.batched import layer_projector
from lps.soft.projection import project_bias, project_weight, projection_penalty
from lps.soft.reps import Block, Rep, group_matrices

__all__ = [
    "GatedNonlinearity",
    "RepBilinear",
    "RepLinear",
    "ScaleFeatures",
    "SoftMLP",
    "check_candidate",
]


def check_candidate(group: Group | str, *reps: Rep) -> Group:
    """The group, after checking that it acts on the declared representations (a subgroup
    of O(3) x Scale acting on 3-d vectors); a clear ``ValueError`` otherwise."""
    group = get_group(group)
    group_matrices(group, 2)  # raises for a group that does not act on 3-d vectors
    return group


class RepLinear(nn.Module):
    """``W x + b`` from ``rep_in`` to ``rep_out`` (dense; the representations only declare how
    G acts, for the penalty and the projection)."""

    def __init__(self, rep_in: Rep | str, rep_out: Rep | str, bias: bool = True):
        super().__init__()
        self.rep_in, self.rep_out = Rep(rep_in), Rep(rep_out)
        bound = 1.0 / math.sqrt(self.rep_in.dim)
        self.weight = nn.Parameter(torch.empty(self.rep_out.dim, self.rep_in.dim))
        nn.init.uniform_(self.weight, -bound, bound)
        self.bias = nn.Parameter(torch.zeros(self.rep_out.dim)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight, self.bias)

    def penalty(self, group: Group | str) -> Tensor:
        """``1/2 ||W - P W||^2 + 1/2 ||b - P b||^2`` for group ``group``."""
        return projection_penalty(self.weight, self.bias, group, self.rep_out, self.rep_in)

    def penalties(self, groups: list[str]) -> Tensor:
        """(G,) the penalties of all ``groups`` at once (:mod:`lps.soft.batched`)."""
        proj = layer_projector(groups, self.rep_out, self.rep_in, self.weight.dtype,
                               self.weight.device)  # fmt: skip
        return proj.penalties(self.weight, self.bias)

    @torch.no_grad()
    def project_(self, group: Group | str) -> RepLinear:
        """Replace ``W, b`` by their projections (the layer becomes G-equivariant)."""
        self.weight.copy_(project_weight(self.weight, group, self.rep_out, self.rep_in))
        if self.bias is not None:
            self.bias.copy_(project_bias(self.bias, group, self.rep_out))
        return self

    def extra_repr(self) -> str:
        return f"{self.rep_in} -> {self.rep_out}"


def _gated(block: Block) -> bool:
    return not (block.irrep == "0e" and block.degree == 0)


class GatedNonlinearity(nn.Module):
    """SiLU on invariant scalars; every other block copy times ``sigmoid(gate)``, with one
    gate scalar per gated copy appended after the features."""

    def __init__(self, rep: Rep):
        super().__init__()
        self.rep = rep
        self.n_gates = sum(mul for mul, b in rep.blocks if _gated(b))

    def forward(self, feats: Tensor, gates: Tensor) -> Tensor:
        out, g = [], 0
        for sl, mul, b in self.rep.slices():
            x = feats[..., sl]
            if not _gated(b):
                out.append(nn.functional.silu(x))
                continue
            gate = torch.sigmoid(gates[..., g : g + mul]).repeat_interleave(b.dim, -1)
            out.append(x * gate)
            g += mul
        return torch.cat(out, -1)


class RepBilinear(nn.Module):
    """Degree-matched e3nn tensor product of a hidden representation with itself."""

    def __init__(self, rep: Rep):
        super().__init__()
        irreps = rep.irreps
        instr = []
        for i, (_, a) in enumerate(rep.blocks):
            for j, (_, b) in enumerate(rep.blocks[i:], start=i):
                for k, (_, c) in enumerate(rep.blocks):
                    ir_a, ir_b, ir_c = (o3.Irrep(x.irrep) for x in (a, b, c))
                    if ir_c in ir_a * ir_b and c.degree == a.degree + b.degree:
                        instr.append((i, j, k, "uvw", True))
        self.tp = (
            o3.TensorProduct(irreps, irreps, irreps, instr, irrep_normalization="component")
            if instr
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x) if self.tp is None else self.tp(x, x)


class ScaleFeatures(nn.Module):
    """Appends, for every copy of a non-scalar block of degree d != 0, its unit direction
    (the same block at degree 0) and its norm (``0e`` at degree d).

    ``(B, rep_in.dim) -> (B, rep_in.dim + extra.dim)`` with ``self.rep_out = rep_in + extra``.
    Both are exact functions of the input that transform as declared under O(3) x Scale
    (``|s R x| = s^d |x|``, ``(s R x) / |s R x| = R x / |x|``), so a Scale-projected network
    can still reach degree-0 outputs (e.g. cosine similarities) from degree-1 inputs.
    """

    def __init__(self, rep_in: Rep):
        super().__init__()
        self.picks = [(sl, mul, b) for sl, mul, b in rep_in.slices() if b.degree and b.dim > 1]
        units = [(mul, Block(b.irrep, b.rank, 0)) for _, mul, b in self.picks]
        norms = [(mul, Block("0e", 0, b.degree)) for _, mul, b in self.picks]
        self.rep_out = Rep(rep_in.blocks + units + norms)

    def forward(self, x: Tensor) -> Tensor:
        units, norms = [], []
        for sl, mul, b in self.picks:
            v = x[..., sl].unflatten(-1, (mul, b.dim))
            n = v.pow(2).sum(-1, keepdim=True).add(1e-12).sqrt()
            units.append((v / n).flatten(-2))
            norms.append(n.squeeze(-1))
        return torch.cat([x, *units, *norms], -1)


class SoftMLP(nn.Module):
    """An MLP from ``rep_in`` to ``rep_out`` through ``layers`` hidden layers of ``hidden``.

    Args:
        rep_in, rep_out: the input and output representations (e.g. ``"5xT0 + 5xT1"``,
            ``"1xT2"``); inputs are flat (B, rep_in.dim) tensors in that layout.
        hidden: the hidden representation, irreps with degrees (e.g.
            ``"32x0e + 16x1o@1 + 8x0e@2 + 8x1e@2 + 8x2e@2"``).
        bilinear: add the degree-matched tensor product in each hidden layer.
        scale_features: feed the first layer :class:`ScaleFeatures` of the input too (unit
            directions and norms), so that Scale-equivariant models are not constant on
            outputs whose degree no polynomial of the inputs has.
    """

    def __init__(
        self,
        rep_in: Rep | str,
        rep_out: Rep | str,
        hidden: Rep | str = "32x0e + 16x1o@1 + 8x0e@2 + 8x1e@2 + 8x2e@2",
        layers: int = 2,
        bilinear: bool = True,
        scale_features: bool = False,
    ):
        super().__init__()
        if layers < 1:
            raise ValueError(f"SoftMLP: layers must be >= 1, got {layers}")
        self.rep_in, self.rep_out, self.hidden = Rep(rep_in), Rep(rep_out), Rep(hidden)
        _ = self.hidden.irreps  # hidden blocks must be irreps (for the tensor product)
        gates = sum(mul for mul, b in self.hidden.blocks if _gated(b))
        gate_rep = Rep(f"{gates}x0e") if gates else Rep([])
        self.blocks = nn.ModuleList()
        self.features = ScaleFeatures(self.rep_in) if scale_features else None
        rep = self.rep_in if self.features is None else self.features.rep_out
        for _ in range(layers):
            block = nn.ModuleDict(
                {
                    "linear": RepLinear(rep, self.hidden + gate_rep),
                    "act": GatedNonlinearity(self.hidden),
                }
            )
            if bilinear:
                block["bilinear"] = RepBilinear(self.hidden)
            self.blocks.append(block)
            rep = self.hidden
        self.head = RepLinear(self.hidden, self.rep_out)

    def linears(self) -> list[RepLinear]:
        """Every linear layer (the ones the projection penalty acts on)."""
        return [b["linear"] for b in self.blocks] + [self.head]

    def forward(self, x: Tensor) -> Tensor:
        d = self.hidden.dim
        if self.features is not None:
            x = self.features(x)
        for block in self.blocks:
            h = block["linear"](x)
            feats, gates = h[..., :d], h[..., d:]
            if "bilinear" in block:
                feats = feats + block["bilinear"](feats)
            x = block["act"](feats, gates)
        return self.head(x)

    def check_group(self, group: Group | str) -> Group:
        """The group, checked to act on this model's representations."""
        return check_candidate(group, self.rep_in, self.rep_out, self.hidden)

    def penalty(self, group: Group | str) -> Tensor:
        """Sum over the linear layers of the projection penalty for ``group``."""
        return sum(lin.penalty(group) for lin in self.linears())

    def penalties(self, groups: list[str]) -> dict[str, Tensor]:
        """``{group: penalty}`` for all ``groups``, computed together (one matmul per block
        type pair and layer); equal to :meth:`penalty` per group."""
        if not groups:
            return {}
        total = sum(lin.penalties(list(groups)) for lin in self.linears())
        return {g: total[i] for i, g in enumerate(groups)}

    @torch.no_grad()
    def project_(self, group: Group | str) -> SoftMLP:
        """Project every linear layer onto ``group`` (the network becomes G-equivariant)."""
        for lin in self.linears():
            lin.project_(group)
        return self
