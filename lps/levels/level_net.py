"""The level network theta(x): invariant by construction (a function of the invariant
embedding phi(x) only), regressed on the pseudo-labels of :mod:`lps.levels.pseudo`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Largest C_n order the discrete level network predicts.
MAX_ORDER = 8


class LevelNetwork(nn.Module):
    """theta(phi) for embeddings (B, D).

    ``kind`` ``uniform``/``gaussian``: a level in degrees, ``180 * sigmoid(.)`` in [0, 180];
    ``discrete``: logits (B, 8) over the orders n = 1..8 (:meth:`level` gives n).
    """

    def __init__(self, embed_dim: int, kind: str = "uniform", hidden: int = 64):
        super().__init__()
        if kind not in ("uniform", "gaussian", "discrete"):
            raise ValueError(f"kind must be uniform, gaussian or discrete, got {kind!r}")
        self.kind = kind
        out = MAX_ORDER if kind == "discrete" else 1
        self.net = nn.Sequential(
            nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, out),
        )  # fmt: skip

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(z)
        return out if self.kind == "discrete" else 180.0 * torch.sigmoid(out.squeeze(-1))

    def level(self, z: Tensor) -> Tensor:
        """(B,) degrees for uniform/gaussian, the order n (float) for discrete."""
        out = self(z)
        return (out.argmax(-1) + 1).double() if self.kind == "discrete" else out.double()


def fit_level_network(
    net: LevelNetwork,
    z: Tensor,
    target: Tensor,
    epochs: int = 200,
    lr: float = 3e-3,
    batch_size: int = 128,
    seed: int = 0,
) -> float:
    """Fit on embeddings (N, D) and pseudo-labels (N,) (degrees, or orders for discrete);
    returns the last epoch's mean loss (MSE in degrees^2, or cross-entropy)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    z, target = z.detach().float(), target.detach()
    loss_sum = 0.0
    for _ in range(epochs):
        perm, loss_sum = torch.randperm(z.shape[0], generator=gen), 0.0
        for i in range(0, z.shape[0], batch_size):
            idx = perm[i : i + batch_size]
            out = net(z[idx])
            if net.kind == "discrete":
                loss = F.cross_entropy(out, target[idx].long() - 1)
            else:
                loss = F.mse_loss(out, target[idx].float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
    return loss_sum / z.shape[0]
