"""The learned image sampler for C_n (n in 2, 4, 8) and image-SO(2): a small C_n-equivariant
CNN that maps an image plus invariant noise to a rotation.

Network (plain torch, no e2cnn/escnn):

1. Lifting: a shared CNN (3x3 convolutions, ReLU, 2x2 average pooling, a 4 x 4 pooled map
   and a linear layer) runs on the ``n`` rotated copies ``rot(-2 pi j / n) . x``, giving
   features ``F_j`` (M, n, C).
   This is the lifting group convolution followed by invariant pooling, written by turning
   the input instead of the filters, so any CNN works and for C_2/C_4 the copies are exact
   pixel permutations: ``F_j(rot_m . x) = F_{j - m}(x)`` bit for bit.
2. C_n group convolutions: circular convolutions over the orientation axis, on ``F`` and the
   invariant noise ``z`` broadcast over orientations, giving one logit per rotation (M, n).
3. Output. C_n: the element ``2 pi j* / n`` with ``j* = argmax(logits / tau + gumbel)``, and a
   straight-through softmax (``Angle.soft``) for the gradient. image-SO(2): the equivariant
   2-vector ``v = sum_j softmax(logits / tau)_j (cos, sin)(2 pi j / n)`` and the angle
   ``atan2(v)``
   (equivariant exactly for turns by ``2 pi / n``, up to resampling between them). With
   ``readout="mode"`` the angle is a mean shift on the softmax (von Mises kernel), started
   at the argmax orientation: one peak of a multimodal softmax, the centre of a broad one.
   The full mean cancels when an image scores alike in several poses (a shape seen in all
   four right-angle poses: four equal peaks, v ~ 0 and an arbitrary angle); the mode picks
   one of them, equivariantly (ties aside).

Noise: invariant Gaussian ``z`` (M, noise_dim), untouched by rotations, and for C_n a Gumbel
vector (M, n) that turns with the input (rolled by ``m`` for ``rot_m``), so in coupled-noise
mode one sample is exactly equivariant. ``canonical=True`` zeroes both (deterministic, k = 1).

Partial symmetrization: :meth:`LearnedImageSampler.set_levels` gives a per-input level
function. ``"interval"`` levels ``x -> theta(x)`` (radians, (B,), in [0, pi]): each sample
``g`` is the canonical rotation composed with a uniform turn within ``[-theta(x), theta(x)]``.
``"cyclic"`` levels ``x -> n(x)`` (orders, (B,), positive integers): a turn by a uniform
multiple of ``2 pi / n(x)``, the average over the C_n subgroup (:mod:`lps.levels`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps.fields import FieldType
from lps.groups import Angle, Group
from lps.groups.image import rotate_image
from lps.samplers.base import Sampler, SamplerOutput, UnsupportedGroupError, repeat_rows
from lps.samplers.settings import READOUTS

LEVEL_KINDS = ("interval", "cyclic")  # partial mode: a half-width, or a C_n order
# readout="mode": mean shift on the orientation softmax with a von Mises kernel of this
# concentration (kappa 2: a peak half a turn away weighs e^-4 of one at the centre).
MODE_KAPPA, MODE_STEPS = 2.0, 16


class RotatedCNN(nn.Module):
    """Features (M, n, hidden) of the ``n`` rotated copies of (M, C, H, W) images.

    3x3 convolutions (ReLU, 2x2 average pooling while the side is >= 8), then adaptive
    average pooling to 4 x 4 and a linear layer: the features keep *where* strokes are, so
    an upright 9 and an upside-down one (a 6) get different logits.
    """

    def __init__(
        self, in_channels: int, hidden: int, layers: int, pool: int = 1, blur: float = 0.0
    ):
        super().__init__()
        self.pool = pool
        kernel = None
        if blur > 0:  # a 5 x 5 Gaussian: symmetric under quarter turns and reflections
            r = torch.arange(-2, 3, dtype=torch.float32)
            g = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * blur**2))
            kernel = (g / g.sum()).expand(in_channels, 1, 5, 5).clone()
        self.register_buffer("kernel", kernel)
        convs, c = [], in_channels
        for _ in range(layers):
            convs.append(nn.Conv2d(c, hidden, 3, padding=1))
            c = hidden
        self.convs = nn.ModuleList(convs)
        self.out = nn.Linear(hidden * 16, hidden)

    def forward(self, x: Tensor, n: int) -> Tensor:
        m = x.shape[0]
        if self.kernel is not None:  # the same blur for every copy, the resampled ones too
            x = F.conv2d(x, self.kernel.to(x.dtype), padding=2, groups=x.shape[1])
        turns = [
            rotate_image(x, torch.full((m,), -2 * math.pi * j / n, dtype=x.dtype, device=x.device))
            for j in range(n)
        ]
        h = torch.stack(turns, 1).flatten(0, 1)  # (M * n, C, H, W), orientation-minor
        if self.pool > 1:  # after turning: the pooling hides the interpolation's blur
            h = F.avg_pool2d(h, self.pool)
        for conv in self.convs:
            h = F.relu(conv(h))
            if h.shape[-1] >= 8:
                h = F.avg_pool2d(h, 2)
        h = F.adaptive_avg_pool2d(h, 4).flatten(1)
        return F.relu(self.out(h)).view(m, n, -1)


class LearnedImageSampler(Sampler):
    """C_n / image-SO(2) sampler: rotated-copy CNN, C_n group convolutions, invariant noise.

    Args:
        group: ``C2``, ``C4``, ``C8`` or ``image-SO(2)``.
        in_channels: total channels of the image inputs it reads.
        hidden: CNN width; layers: CNN depth; noise_dim: invariant noise channels.
        tau: softmax temperature of the C_n logits; orientations: n of the lifting for
            image-SO(2) (a multiple of 4, so quarter turns are exact).
        canonical: zero noise, one deterministic sample.
        image_fields: the image inputs it reads (default: all).
        pool: average-pool each turned copy by this factor before the CNN (sides must be
            divisible by it: aligned blocks keep quarter turns exact); 2 makes the network
            4x cheaper and hides most of the resampling blur of the non-quarter turns (a
            network can otherwise tell the sharp quarter-turn copies from the blurred ones).
        dtype: network dtype (fp32 default: for C2/C4 the rotated copies are exact pixel
            permutations, so the scores of ``rot_m . x`` are bitwise those of ``x``).
        readout: image-SO(2) angle from the whole softmax (``"mean"``) or from its main
            peak (``"mode"``: a mean shift started at the argmax orientation).
    """

    def __init__(
        self,
        group: Group,
        in_channels: int,
        hidden: int = 16,
        layers: int = 2,
        noise_dim: int = 4,
        noise_scale: float = 1.0,
        tau: float = 1.0,
        orientations: int = 16,
        canonical: bool = False,
        image_fields: list[str] | None = None,
        pool: int = 1,
        dtype: torch.dtype = torch.float32,
        readout: str = "mean",
    ):
        super().__init__(group)
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if group.kind != "image_rotation":
            raise UnsupportedGroupError(
                f"LearnedImageSampler needs an image rotation group (C2, C4, C8, image-SO(2)), "
                f"got {group.name}"
            )
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
        self.order = group.order
        self.n = group.order if group.order is not None else orientations
        if group.order is None and orientations % 4:
            raise ValueError(f"orientations must be a multiple of 4, got {orientations}")
        self.in_channels, self.noise_dim, self.noise_scale = in_channels, noise_dim, noise_scale
        self.tau, self.image_fields, self.pool, self.readout = tau, image_fields, pool, readout
        self.deterministic = self.canonical = canonical
        # Resampled turns blur: blur every copy first so that the network cannot tell the
        # sharp quarter-turn copies from the others (a shortcut it otherwise learns).
        self.cnn = RotatedCNN(in_channels, hidden, layers, pool, 0.0 if group.grid_exact else 1.0)
        self.mix = nn.Conv1d(hidden + noise_dim, hidden, 3, padding=1, padding_mode="circular")
        self.head = nn.Conv1d(hidden, 1, 3, padding=1, padding_mode="circular")
        self.level_fn: Callable[[Tensor], Tensor] | None = None
        self.level_kind = "interval"
        self.to(dtype)

    def set_levels(
        self, level_fn: Callable[[Tensor], Tensor] | None, kind: str = "interval"
    ) -> None:
        """Partial mode: ``level_fn`` maps the (B, C, H, W) image to its level (B,).

        ``kind="interval"``: a half-width theta in radians in [0, pi]; samples turn uniformly
        within +-theta around the canonical pose. ``kind="cyclic"``: an order n (a positive
        integer); samples turn by ``2 pi j / n``, j uniform in 0..n-1 (a discrete C_n level).
        Either way the sampler is no longer deterministic (k samples). None restores full
        symmetrization (and a canonical sampler's single deterministic sample)."""
        if kind not in LEVEL_KINDS:
            raise ValueError(f"unknown level kind {kind!r}; expected one of {LEVEL_KINDS}")
        self.level_fn, self.level_kind = level_fn, kind
        self.deterministic = self.canonical and level_fn is None

    # Inputs --------------------------------------------------------------------------------

    def image(self, inputs: dict[str, Tensor], types: dict[str, FieldType]) -> Tensor:
        """(B, C, H, W): the image inputs it reads, concatenated along channels, checked."""
        names = self.image_fields or [n for n, t in types.items() if t == FieldType.IMAGE]
        if not names:
            raise ValueError(f"{self.group.name} learned sampler: no input of type 'image'")
        for name in names:
            x = inputs[name]
            if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
                raise ValueError(
                    f"field {name!r}: the {self.group.name} sampler needs square images "
                    f"(B, C, H, W) with H == W, got {tuple(x.shape)}"
                )
        x = torch.cat([inputs[n] for n in names], 1)
        if x.shape[-1] % self.pool:
            raise ValueError(
                f"fields {names}: image side {x.shape[-1]} is not divisible by the sampler's "
                f"pool={self.pool}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"fields {names}: the {self.group.name} sampler was built for {self.in_channels} "
                f"image channel(s), got {x.shape[1]} (shape {tuple(x.shape)})"
            )
        return x

    # Noise ---------------------------------------------------------------------------------

    def sample_noise(self, inputs, types, mask, k, generator=None) -> tuple[Tensor, Tensor]:
        """Invariant Gaussian noise (B * k, noise_dim) and Gumbel noise (B * k, n) (zero when
        canonical), plus (B * k,) uniforms for the partial mode."""
        x = self.image(inputs, types)
        m, dev = x.shape[0] * k, x.device
        z = self.noise_scale * torch.randn(m, self.noise_dim, device=dev, generator=generator)
        u = torch.rand(m, self.n, device=dev, generator=generator).clamp(1e-9, 1 - 1e-9)
        gumbel = -torch.log(-torch.log(u))
        if self.canonical or self.order is None:
            gumbel = torch.zeros_like(gumbel)
        if self.canonical:
            z = torch.zeros_like(z)
        partial = torch.rand(m, device=dev, generator=generator) - 0.5
        return z, gumbel, partial

    def transform_noise(self, h: Angle, noise, k):
        z, gumbel, partial = noise
        if self.order is None:
            return z, gumbel, partial
        shift = repeat_rows(self.group.index(h), k)  # rot_m . x shifts the logits by m
        idx = (torch.arange(self.n, device=gumbel.device)[None] - shift[:, None]) % self.n
        return z, torch.gather(gumbel, 1, idx), partial

    # Sampling ------------------------------------------------------------------------------

    def logits(self, x: Tensor, z: Tensor, k: int) -> Tensor:
        """(B * k, n) logits of the rotations ``2 pi j / n`` for images (B, ...) and noise z."""
        dtype = next(self.parameters()).dtype
        x = x.to(dtype)
        # Divide by the root-mean-square pixel value (an invariant): the same logits in any units.
        rms = x.pow(2).mean((1, 2, 3), keepdim=True).sqrt()
        x = x / torch.where(rms > 0, rms, torch.ones_like(rms))
        feats = self.cnn(x, self.n)  # (B, n, hidden), shared by the k samples
        feats = repeat_rows(feats, k)
        zz = z.to(dtype)[:, None, :].expand(-1, self.n, -1)
        h = torch.cat([feats, zz], -1).transpose(1, 2)  # (M, C, n)
        return self.head(F.relu(self.mix(h))).squeeze(1)

    def vector(self, logits: Tensor) -> Tensor:
        """(M, 2) the equivariant 2-vector ``sum_j softmax(logits / tau)_j (cos, sin)(2 pi j
        / n)`` (image-SO(2)). The softmax picks the main peak: the plain first Fourier
        coefficient of the logits cancels out for two peaks half a turn apart (an upright
        digit and its upside-down copy score alike early in training). ``readout="mode"``:
        the same sum with the softmax times a von Mises kernel around ``mu``, ``mu`` moved
        to the sum's angle ``MODE_STEPS`` times from the argmax orientation (mean shift)."""
        w = torch.softmax(logits / self.tau, -1)
        theta = torch.arange(self.n, device=w.device, dtype=w.dtype) * (2 * math.pi / self.n)
        unit = torch.stack([theta.cos(), theta.sin()], -1)  # (n, 2)
        if self.readout == "mean":
            return w @ unit
        mu = theta[logits.argmax(-1)][:, None]
        for _ in range(MODE_STEPS):
            k = w * torch.exp(MODE_KAPPA * (torch.cos(theta[None] - mu) - 1))
            vec = (k / k.sum(-1, keepdim=True)) @ unit
            mu = torch.atan2(vec[:, 1], vec[:, 0])[:, None]
        return vec

    def sample(self, inputs, types, mask, k, noise, edge_index=None) -> SamplerOutput:
        z, gumbel, partial = noise
        x = self.image(inputs, types)
        logits = self.logits(x, z, k).float()
        diag: dict[str, Tensor] = {}
        if self.order is not None:
            y = logits / self.tau + gumbel.float()
            j = torch.argmax(y, -1)
            soft = torch.softmax(y, -1)
            g = self.group.from_index(j)
            if torch.is_grad_enabled() and soft.requires_grad:
                g = Angle(g.angle, soft)
            ent = -(soft * soft.clamp_min(1e-12).log()).sum(-1).mean()
            diag["entropy"] = ent.detach()
        else:
            vec = self.vector(logits)
            g = Angle(torch.remainder(torch.atan2(vec[:, 1], vec[:, 0]), 2 * math.pi))
            diag["vector_norm"] = vec.norm(dim=-1).mean().detach()
        if self.level_fn is not None:
            g = self._partial(g, x, partial, k)
        return SamplerOutput(g, diagnostics=diag)

    def _partial(self, g: Angle, x: Tensor, partial: Tensor, k: int) -> Angle:
        """The canonical rotation composed with a uniform turn in +-theta(x) (radians), or
        with a uniform multiple of 2 pi / n(x) (cyclic levels)."""
        fn, self.level_fn = self.level_fn, None  # the level may call this sampler's psi
        try:
            level = fn(x).to(g.angle.dtype).view(-1)
        finally:
            self.level_fn = fn
        if level.shape[0] != x.shape[0]:
            raise ValueError(f"level function returned {tuple(level.shape)} for batch {x.shape[0]}")
        u = partial.to(level.dtype) + 0.5  # uniform in [0, 1), invariant noise
        if self.level_kind == "cyclic":
            bad = ~torch.isfinite(level) | (level < 1) | ((level - level.round()).abs() > 1e-6)
            if bool(bad.any()):
                raise ValueError(
                    f"cyclic level function must return orders n >= 1 (integers), "
                    f"got {float(level[bad][0]):.4g}"
                )
            n = repeat_rows(level.round(), k)
            j = torch.minimum(torch.floor(u * n), n - 1)
            turn = j * (2 * math.pi) / n
        else:
            bad = (level < 0) | (level > math.pi + 1e-6)
            if bool(bad.any()):
                raise ValueError(
                    f"level function must return levels in [0, pi] radians ([0, 180] degrees), "
                    f"got {float(level[bad][0]):.4g}"
                )
            turn = repeat_rows(level, k) * (2 * u - 1)
        if self.order is not None:  # C_n: the nearest allowed turn
            turn = torch.round(turn / self.group.step) * self.group.step
        angle = torch.remainder(g.angle + turn, 2 * math.pi)
        return Angle(angle)  # no straight-through here: the canonicalizer is trained first
