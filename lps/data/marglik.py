"""Offline data for layer-wise symmetry discovery (:mod:`lps.marglik`).

- :func:`digits_in_quadrants`: scikit-learn's bundled 8x8 digits, each pasted at a random
  position in a random quadrant of a ``canvas x canvas`` image (its top-left pixel near the
  quadrant's corner, the digit wrapping around the canvas border, as on a torus). Task ``"A"``:
  label = digit (invariant to circular shifts); task ``"B"``: label = digit + 10 * quadrant
  (40 classes; position matters).
- :func:`set_task`: sets of ``n`` points in R^2. Task ``"inv"``: label = sign of
  ``sum_i x_i0 x_i1`` (permutation invariant); task ``"order"``: label = whether the first
  half of the set has the larger sum of ``x_i0`` (not invariant).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["digits_in_quadrants", "set_task"]


def digits_in_quadrants(
    task: str,
    canvas: int = 16,
    test_fraction: float = 0.3,
    seed: int = 0,
    jitter: int = 4,
    copies: int = 1,
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``((x_train, y_train), (x_test, y_test))``: x ``(M, 1, canvas, canvas)`` in [0, 1].

    The 1797 digits are split into train and test (no digit image in both); each gets one
    random quadrant and a top-left pixel at a uniform offset in ``[0, jitter)^2`` from the
    quadrant's corner; rows and columns wrap around. ``copies > 1`` pastes every training
    digit ``copies - 1`` more times, each at its own random quadrant and offset (appended
    after the first pastes, so ``copies=1`` gives the same sets); the test set keeps one.
    """
    if task not in ("A", "B"):
        raise ValueError(f"digits_in_quadrants: task must be 'A' or 'B', got {task!r}")
    if canvas % 2 or canvas < 16:
        raise ValueError(f"digits_in_quadrants: canvas must be even and >= 16, got {canvas}")
    if not 1 <= jitter <= canvas // 2:
        raise ValueError(f"digits_in_quadrants: jitter must be in [1, {canvas // 2}], got {jitter}")
    if copies < 1:
        raise ValueError(f"digits_in_quadrants: copies must be >= 1, got {copies}")
    from sklearn.datasets import load_digits

    d = load_digits()
    img = torch.tensor(d.images, dtype=torch.float32) / 16.0  # (1797, 8, 8)
    lab = torch.tensor(d.target, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    m = len(img)
    x, y = _paste(img, lab, task, canvas, jitter, gen)
    perm = torch.randperm(m, generator=gen)
    n_test = int(round(test_fraction * m))
    te, tr = perm[:n_test], perm[n_test:]
    xs, ys = [x[tr]], [y[tr]]
    for _ in range(copies - 1):
        xc, yc = _paste(img[tr], lab[tr], task, canvas, jitter, gen)
        xs.append(xc)
        ys.append(yc)
    return (torch.cat(xs), torch.cat(ys)), (x[te], y[te])


def _paste(
    img: Tensor, lab: Tensor, task: str, canvas: int, jitter: int, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Digits ``(m, 8, 8)`` each at a random quadrant and offset: x ``(m, 1, canvas, canvas)``."""
    m = len(img)
    quad = torch.randint(0, 4, (m,), generator=gen)
    half = canvas // 2
    off = torch.randint(0, jitter, (m, 2), generator=gen)
    x = torch.zeros(m, 1, canvas, canvas)
    x[:, 0, :8, :8] = img
    for i in range(m):
        r = int((quad[i] // 2) * half + off[i, 0])
        c = int((quad[i] % 2) * half + off[i, 1])
        x[i] = torch.roll(x[i], (r, c), (1, 2))
    return x, (lab if task == "A" else lab + 10 * quad)


def set_task(
    task: str, n: int = 8, train: int = 2000, test: int = 1000, seed: int = 0
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``((x_train, y_train), (x_test, y_test))``: x ``(M, n, 2)`` Gaussian, binary labels."""
    if task not in ("inv", "order"):
        raise ValueError(f"set_task: task must be 'inv' or 'order', got {task!r}")
    if n < 2 or n % 2:
        raise ValueError(f"set_task: n must be even and >= 2, got {n}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(train + test, n, 2, generator=gen)
    if task == "inv":
        y = ((x[..., 0] * x[..., 1]).sum(1) > 0).long()
    else:
        y = (x[:, : n // 2, 0].sum(1) > x[:, n // 2 :, 0].sum(1)).long()
    return (x[:train], y[:train]), (x[train:], y[train:])
