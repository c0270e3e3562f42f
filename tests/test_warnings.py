"""Users see only lps's own output: no third-party deprecation noise on the command line."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_lps_command_prints_no_future_warning():
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "lps", "check", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: lps check" in proc.stdout
    assert "FutureWarning" not in proc.stderr, proc.stderr


def test_only_the_import_is_silenced():
    """The filter is scoped to torch_geometric's import: the same warning raised later shows."""
    import lps  # noqa: F401
    from lps._imports import JIT_SCRIPT_DEPRECATED

    assert not any(
        f[1] is not None and f[1].pattern == JIT_SCRIPT_DEPRECATED for f in warnings.filters
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        warnings.warn(
            "`torch.jit.script` is deprecated. (raised by user code)", FutureWarning, stacklevel=1
        )
        warnings.warn("some other deprecation", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == [
        "`torch.jit.script` is deprecated. (raised by user code)",
        "some other deprecation",
    ]
