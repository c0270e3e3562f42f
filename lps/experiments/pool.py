"""Worker pools for the table scripts: ``jobs`` one-thread runs at a time, or this process."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

__all__ = ["SerialPool", "job_pool"]


class SerialPool:
    """``--jobs 1``: the runs in this process; ``map`` is lazy, so each result can be saved
    as it finishes (as with ``ProcessPoolExecutor.map``, results come in order)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def map(self, fn, items):
        return map(fn, items)


def job_pool(jobs: int) -> ProcessPoolExecutor | SerialPool:
    """A context manager with ``.map(fn, items)``: ``jobs`` worker processes, or this one."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    return ProcessPoolExecutor(jobs) if jobs > 1 else SerialPool()
