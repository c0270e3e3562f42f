"""The invariant-equivariant autoencoder: an invariant embedding phi(x) and a rotation psi(x).

``psi`` is the learned image sampler in canonical mode (:class:`LearnedImageSampler`, one
deterministic rotation per image, equivariant: ``psi(rot_a . x) = a + psi(x)``); ``phi`` is a
CNN encoder of the canonical image ``psi(x)^-1 . x`` (invariant up to resampling). The decoder
reconstructs the canonical image from ``phi(x)`` and ``psi(x)`` turns it back:

    loss = || psi(x) . dec(phi(x)) - x ||^2 + lam * penalty(psi(x))

The default penalty (``"ce"``) is the cross-entropy of psi's orientation logits (one per
lifted rotation ``2 pi j / n``) toward a von Mises bump ``softmax(kappa cos(2 pi j / n))``
at the identity. Because the logits of ``rot_m . x`` are those of ``x`` rolled by ``m``,
this asks psi to pick each training image's own pose among its n turned copies, a strong,
well-conditioned signal; the smooth target keeps the softmax a bump whose circular mean (the
angle of psi) moves continuously between the n lifted rotations (a one-hot target makes
the logits sharp and the angle snaps to multiples of 2 pi / n). The regression
penalties ``"square"``, ``angle^2 / 2``, and ``"cos"``, ``1 - cos angle``, are kept for
comparison: in a probe they moved psi far more slowly).

The penalty pulls psi toward the identity, so that the canonical pose is the centre of each
orbit's distribution of poses (without it any equivariant psi reconstructs equally well, and
the angles, hence the levels, are unidentifiable).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps.fields import FieldType
from lps.groups import Angle, get_group
from lps.groups.image import rotate_image
from lps.samplers import build_sampler

_TYPES = {"img": FieldType.IMAGE}


class InvariantEquivariantAE(nn.Module):
    """phi / psi / decoder for (B, C, S, S) images with S divisible by 4.

    Args:
        channels, size: the images'. embed_dim: size of phi(x). hidden: CNN width.
        group: ``"image-SO(2)"`` (default) or a C_n name for psi.
        orientations: lifting orientations of psi (SO(2)). penalty: ``lam`` above.
        psi_pool: psi sees the image average-pooled by this factor (2: 28 px -> 14 px;
            pooling aligned 2 x 2 blocks commutes with quarter turns), 4x cheaper.
        psi_readout: SO(2) angle from the main peak of the orientation softmax (``"mode"``,
            the default) or from the whole softmax (``"mean"``); see
            :class:`~lps.samplers.LearnedImageSampler`. The mean cancels for shapes seen in
            several poses (C2/C4 data, digits alike under half turns).
    """

    def __init__(
        self,
        channels: int = 1,
        size: int = 28,
        embed_dim: int = 32,
        hidden: int = 32,
        group: str = "image-SO(2)",
        orientations: int = 8,
        sampler_hidden: int = 16,
        penalty: float = 1.0,
        psi_pool: int = 2,
        penalty_kind: str = "ce",
        kappa: float = 3.0,
        psi_readout: str = "mode",
    ):
        super().__init__()
        if size % 4 or size % psi_pool:
            raise ValueError(f"size must be divisible by 4 and psi_pool, got {size}")
        if penalty_kind not in ("ce", "square", "cos"):
            raise ValueError(f"penalty_kind must be 'ce', 'square' or 'cos', got {penalty_kind!r}")
        self.psi_pool, self.penalty_kind, self.kappa = psi_pool, penalty_kind, kappa
        self.channels, self.size, self.penalty = channels, size, penalty
        self.group = get_group(group)
        args = {"hidden": sampler_hidden, "in_channels": channels, "pool": psi_pool}
        if self.group.order is None:
            args["orientations"], args["readout"] = orientations, psi_readout
        self.psi_net = build_sampler("canonical", self.group, **args)
        s4 = size // 4
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, 2 * hidden, 3, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * hidden * s4 * s4, embed_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(embed_dim, 2 * hidden * s4 * s4),
            nn.ReLU(),
            nn.Unflatten(1, (2 * hidden, s4, s4)),
            nn.ConvTranspose2d(2 * hidden, hidden, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(hidden, channels, 4, 2, 1),
        )

    def _check(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[-2:] != (self.size,) * 2:
            raise ValueError(
                f"images: expected (B, {self.channels}, {self.size}, {self.size}), "
                f"got {tuple(x.shape)}"
            )

    def psi(self, x: Tensor) -> Tensor:
        """(B,) the canonicalizing rotation's angle in radians, in (-pi, pi]."""
        return self.psi_logits(x)[0]

    def psi_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The angle of psi (B,) and the sampler's orientation logits (B, n)."""
        self._check(x)
        net = self.psi_net
        img = net.image({"img": x}, _TYPES)
        zero = torch.zeros(x.shape[0], net.noise_dim, device=x.device)
        with torch.autocast(device_type=x.device.type, enabled=False):
            logits = net.logits(img, zero, 1).float()
        if self.group.order is None:
            vec = net.vector(logits)
            a = torch.atan2(vec[:, 1], vec[:, 0])
        else:
            a = self.group.from_index(logits.argmax(-1)).angle
        return math.pi - torch.remainder(math.pi - a, 2 * math.pi), logits

    def canonical(self, x: Tensor, angle: Tensor | None = None) -> Tensor:
        """(B, C, S, S) the standardized images ``psi(x)^-1 . x``."""
        angle = self.psi(x) if angle is None else angle
        return self._turn(x, -angle)

    def _turn(self, x: Tensor, angle: Tensor) -> Tensor:
        if self.group.order is None:
            return rotate_image(x, angle.to(x.dtype), exact_quarters=False)
        return self.group.act(Angle(angle), x, FieldType.IMAGE)

    def phi(self, x: Tensor, angle: Tensor | None = None) -> Tensor:
        """(B, embed_dim) the invariant embedding."""
        return self.encoder(self.canonical(x, angle))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Embedding, angle, reconstruction and the loss terms."""
        angle, logits = self.psi_logits(x)
        z = self.phi(x, angle)
        recon = self._turn(torch.sigmoid(self.decoder(z)), angle)
        rec = F.mse_loss(recon, x)
        if self.penalty_kind == "ce":  # toward a von Mises bump at the identity
            n = logits.shape[-1]
            theta = torch.arange(n, device=x.device, dtype=logits.dtype) * (2 * math.pi / n)
            target = torch.softmax(self.kappa * torch.cos(theta), -1).expand_as(logits)
            pen = F.cross_entropy(logits, target)
        elif self.penalty_kind == "cos":
            pen = (1 - torch.cos(angle)).mean()
        else:  # squared angle (radians, in (-pi, pi]): its pull does not vanish near pi
            pen = (angle**2).mean() / 2
        return {
            "embedding": z,
            "angle": angle,
            "recon": recon,
            "recon_loss": rec,
            "penalty": pen,
            "loss": rec + self.penalty * pen,
        }


def train_autoencoder(
    model: InvariantEquivariantAE,
    x: Tensor,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    cosine: bool = False,
) -> list[float]:
    """Adam on unlabelled images (N, C, S, S); returns the mean loss of each epoch.
    ``cosine``: the learning rate decays to 0 over the epochs on a half cosine."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(x.shape[0] / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)) if cosine else 1.0
    )
    history = []
    for _ in range(epochs):
        model.train()
        perm, total = torch.randperm(x.shape[0], generator=gen), 0.0
        for i in range(0, x.shape[0], batch_size):
            out = model(x[perm[i : i + batch_size]])
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            sched.step()
            total += float(out["loss"].detach()) * min(batch_size, x.shape[0] - i)
        history.append(total / x.shape[0])
    return history


@torch.no_grad()
def encode(model: InvariantEquivariantAE, x: Tensor, batch: int = 256) -> tuple[Tensor, Tensor]:
    """(N, embed_dim) embeddings and (N,) angles in degrees of images (N, C, S, S)."""
    model.eval()
    zs, angles = [], []
    for i in range(0, x.shape[0], batch):
        a = model.psi(x[i : i + batch])
        zs.append(model.phi(x[i : i + batch], a))
        angles.append(a * (180.0 / math.pi))
    return torch.cat(zs), torch.cat(angles).double()
