"""Level estimators on synthetic angles with known levels: within 2 degrees from 1,000."""

from __future__ import annotations

import pytest
import torch

from lps.levels import (
    check_level_degrees,
    discrete_level,
    gaussian_level,
    uniform_level_mean,
    uniform_level_ml,
    wrap_degrees,
)


def uniform(theta: float, seed: int, n: int = 1000) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * theta


def with_outliers(a: torch.Tensor, share: float, seed: int) -> torch.Tensor:
    """Replace a ``share`` of the angles by angles uniform over the full circle."""
    g = torch.Generator().manual_seed(seed + 1000)
    m = int(share * a.numel())
    a = a.clone()
    a[:m] = torch.rand(m, generator=g, dtype=torch.float64) * 360 - 180
    return a


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("theta", [5.0, 30.0, 60.0, 120.0, 180.0])
def test_uniform_ml_recovers_level(theta, seed) -> None:
    assert abs(uniform_level_ml(uniform(theta, seed)) - theta) < 2.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("theta", [5.0, 18.0, 36.0, 54.0])
def test_uniform_mean_recovers_level(theta, seed) -> None:
    """2 mean |angle|: standard error 2 theta / sqrt(12 * 1000) = 0.018 theta, so within
    2 degrees for levels up to about 60 (the ML estimator is the sharper one)."""
    assert abs(uniform_level_mean(uniform(theta, seed)) - theta) < 2.0


@pytest.mark.parametrize("theta", [18.0, 54.0, 90.0])
def test_trimmed_uniform_ignores_outliers(theta) -> None:
    """3% of the angles replaced by full-circle outliers: trimming 5% keeps the estimate
    within 3 degrees (the trimmed ML estimate is a quantile, noisier than the maximum)."""
    a = with_outliers(uniform(theta, 3), 0.03, 3)
    assert uniform_level_ml(a) > theta + 10  # the outliers break the untrimmed ML estimate
    assert abs(uniform_level_ml(a, trim=0.05) - theta) < 3.0
    assert abs(uniform_level_mean(a, trim=0.05) - theta) < 2.5


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("sigma", [3.0, 9.0, 27.0, 45.0])
def test_gaussian_recovers_sigma(sigma, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(1000, generator=g, dtype=torch.float64) * sigma
    assert abs(gaussian_level(a) - sigma) < 2.0
    assert abs(gaussian_level(a, trim=0.05) - sigma) < 2.0


def test_gaussian_trimmed_ignores_outliers() -> None:
    g = torch.Generator().manual_seed(4)
    a = with_outliers(torch.randn(1000, generator=g, dtype=torch.float64) * 18.0, 0.03, 4)
    assert gaussian_level(a) > 25.0
    assert abs(gaussian_level(a, trim=0.05) - 18.0) < 2.0


@pytest.mark.parametrize("n", range(1, 9))
def test_discrete_recovers_order(n) -> None:
    g = torch.Generator().manual_seed(n)
    a = torch.randint(0, n, (1000,), generator=g) * (360.0 / n)
    a = a + torch.randn(1000, generator=g) * 3.0
    assert discrete_level(a) == n
    assert discrete_level(with_outliers(a, 0.02, n), trim=0.05) == n


def test_discrete_unequal_weights() -> None:
    """C2 with 80% upright, 20% upside down is still C2, not C1."""
    a = torch.cat([torch.zeros(800), torch.full((200,), 180.0)]) + torch.randn(1000) * 2
    assert discrete_level(a) == 2


def test_wrap_and_bad_inputs() -> None:
    assert torch.allclose(wrap_degrees(torch.tensor([190.0, -190.0, 360.0, 180.0])),
                          torch.tensor([-170.0, 170.0, 0.0, 180.0]))  # fmt: skip
    with pytest.raises(ValueError, match="trim must be in"):
        uniform_level_ml(torch.zeros(3), trim=0.5)
    with pytest.raises(ValueError, match="empty"):
        gaussian_level(torch.zeros(0))
    with pytest.raises(ValueError, match="NaN"):
        uniform_level_mean(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="max_order"):
        discrete_level(torch.zeros(3), max_order=0)
    with pytest.raises(ValueError, match=r"theta: angle levels must lie in \[0, 180\].*200"):
        check_level_degrees(torch.tensor([10.0, 200.0]), "theta")
    with pytest.raises(ValueError, match=r"\[0, 180\].*-1"):
        check_level_degrees(-1.0)
    assert float(check_level_degrees(90.0)) == 90.0
