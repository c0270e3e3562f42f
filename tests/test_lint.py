"""Lint and format checks run with the suite (ruff, configured in pyproject.toml)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    """ruff of the interpreter running the tests (not whatever `ruff` is first on PATH)."""
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed; install the test extras: pip install '.[test]'")
    return [sys.executable, "-m", "ruff"]


def test_ruff_check():
    proc = subprocess.run(
        [*_ruff(), "check", "lps", "tests", "scripts"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format():
    proc = subprocess.run(
        [*_ruff(), "format", "--check", "lps", "tests", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
