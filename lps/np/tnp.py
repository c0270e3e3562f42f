"""Transformer neural processes: TNP (not equivariant) and TE-TNP (translation equivariant).

Tokens: one per context point and one per target. Each layer lets every token attend to the
context tokens plus one learned null token (so an empty context is the prior predictive);
targets never attend to each other (the TNP-D layout), and the target tokens give a Gaussian.

- TNP embeds ``(x, y, is_context)``: absolute positions, no symmetry.
- TE-TNP embeds only ``(y, is_context)`` and adds to each attention logit a learned function
  of the difference ``x_i - x_j``, so the model depends on positions only through
  differences: exactly translation equivariant. Its approximately equivariant version adds
  learnable fixed inputs ``W b(x_i)`` (:class:`~lps.relax.FixedInputs`, zero outside the
  training region, dropped per task) to the token embeddings.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lps.np.base import GaussianHead, check_inputs
from lps.relax.fixed_inputs import FixedInputs


class Attention(nn.Module):
    """Multi-head attention of queries (B, Nq, C) over keys (B, Nk, C) plus a null key, with
    an optional additive logit ``bias`` (B, H, Nq, Nk) and key mask (B, Nk)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads, self.head_dim = heads, width // heads
        self.q, self.kv = nn.Linear(width, width), nn.Linear(width, 2 * width)
        self.null_kv = nn.Parameter(torch.zeros(2, heads, 1, self.head_dim))
        self.null_bias = nn.Parameter(torch.zeros(heads, 1, 1))
        self.out = nn.Linear(width, width)

    def forward(self, q: Tensor, k: Tensor, mask: Tensor, bias: Tensor | None = None) -> Tensor:
        b, nq, c = q.shape
        split = lambda t: t.view(b, t.shape[1], self.heads, self.head_dim).transpose(1, 2)  # noqa: E731
        qh = split(self.q(q))
        kh, vh = (split(t) for t in self.kv(k).chunk(2, -1))
        logits = qh @ kh.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, H, Nq, Nk)
        if bias is not None:
            logits = logits + bias
        logits = logits.masked_fill(~mask[:, None, None, :], float("-inf"))
        null = (qh @ self.null_kv[0].transpose(-1, -2)) / math.sqrt(self.head_dim)
        logits = torch.cat([logits, null + self.null_bias], -1)
        attn = logits.softmax(-1)
        values = torch.cat([vh, self.null_kv[1].expand(b, -1, -1, -1)], 2)
        return self.out((attn @ values).transpose(1, 2).reshape(b, nq, c))


class Block(nn.Module):
    """Pre-norm attention to the context, then an MLP; both residual."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.mlp = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )

    def forward(self, h: Tensor, nc: int, mask: Tensor, bias: Tensor | None) -> Tensor:
        x = self.norm1(h)
        h = h + self.attn(x, x[:, :nc], mask, bias)
        return h + self.mlp(self.norm2(h))


class TNP(nn.Module):
    """Transformer neural process (``equivariant=False``) or TE-TNP (``equivariant=True``).

    Args:
        width, heads, layers: the transformer's size.
        equivariant: attention on differences ``x_i - x_j`` instead of embedded positions.
        fixed: fixed inputs added to the tokens (TE-TNP only; None: the strict model).
        rel_hidden: width of the MLP of ``x_i - x_j`` giving each head's logit bias.
        dim: the dimension of the inputs ``x`` (1 for the GP tasks, 2 for the terrain).
    """

    def __init__(
        self,
        width: int = 64,
        heads: int = 4,
        layers: int = 4,
        equivariant: bool = False,
        fixed: FixedInputs | None = None,
        rel_hidden: int = 16,
        dim: int = 1,
    ):
        super().__init__()
        if fixed is not None and not equivariant:
            raise ValueError("fixed inputs relax an equivariant model: use equivariant=True")
        if fixed is not None and fixed.dim != dim:
            raise ValueError(f"fixed inputs of dimension {fixed.dim} for inputs of dimension {dim}")
        self.equivariant, self.heads, self.fixed, self.dim = equivariant, heads, fixed, dim
        self.embed = nn.Sequential(
            nn.Linear(2 if equivariant else 2 + dim, width), nn.GELU(), nn.Linear(width, width)
        )
        if equivariant:
            self.rel = nn.Sequential(
                nn.Linear(dim, rel_hidden), nn.GELU(), nn.Linear(rel_hidden, heads * layers)
            )
        if fixed is not None and fixed.count > 0:
            self.fixed_proj = nn.Linear(fixed.count, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = GaussianHead(width)

    def forward(
        self, xc: Tensor, yc: Tensor, xt: Tensor, mask: Tensor | None = None
    ) -> dict[str, Tensor]:
        mask = check_inputs(xc, yc, xt, mask, dim=self.dim)
        nc = xc.shape[1]
        x = torch.cat([xc, xt], 1)  # (B, Nc + Nt, d)
        y = torch.cat([yc * mask[..., None].to(yc.dtype), xt.new_zeros(xt.shape[:2] + (1,))], 1)
        flag = torch.cat([torch.ones_like(yc), y.new_zeros(xt.shape[:2] + (1,))], 1)
        parts = [y, flag] if self.equivariant else [x, y, flag]
        h = self.embed(torch.cat(parts, -1))
        if self.fixed is not None and self.fixed.count > 0:
            h = h + self.fixed_proj(self.fixed(x))
        biases = [None] * len(self.blocks)
        if self.equivariant and nc > 0:
            diff = x[:, :, None, :] - xc[:, None, :, :]  # (B, Nc + Nt, Nc, d)
            rel = self.rel(diff).permute(0, 3, 1, 2)  # (B, H * L, Nq, Nc)
            biases = list(rel.split(self.heads, 1))
        for block, bias in zip(self.blocks, biases):
            h = block(h, nc, mask, bias)
        return self.head(self.norm(h[:, nc:]))
