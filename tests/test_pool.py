"""The table scripts' worker pools (lps.experiments.pool)."""

from __future__ import annotations

import pytest

from lps.experiments.pool import SerialPool, job_pool


def test_serial_pool_is_lazy_and_in_order() -> None:
    seen = []

    def f(i: int) -> int:
        seen.append(i)
        return i * i

    with job_pool(1) as pool:
        assert isinstance(pool, SerialPool)
        it = pool.map(f, [3, 1, 2])
        assert seen == []  # nothing runs until asked: each result can be saved as it comes
        assert next(it) == 9 and seen == [3]
        assert list(it) == [1, 4]


def test_process_pool_keeps_the_order() -> None:
    with job_pool(2) as pool:
        assert list(pool.map(abs, [-3, 1, -2])) == [3, 1, 2]


def test_bad_job_count_is_named() -> None:
    with pytest.raises(ValueError, match="jobs must be >= 1, got 0"):
        job_pool(0)
