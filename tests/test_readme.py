"""Every command in README.md works from a clone (offline, on a CPU, from the repo root).

The commands are read from the README itself: the fenced ``bash`` blocks and the inline
code spans that start with a command. ``lps train`` runs for real with overrides that make
it take a second; the expensive commands (``lps evaluate`` of the shipped checkpoint,
``lps bench``, the table scripts) are checked as far as that is cheap: the paths they name
exist, their arguments parse, their config and overrides validate, ``--help`` works.
``pip install`` and ``pytest`` (this suite) are exempt. A README command this file does not
know how to check fails the test, so new commands get covered when they are added.
"""

from __future__ import annotations

import json
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest

from lps.cli import build_parser, main
from lps.train.config import load_config, packaged_config

pytestmark = pytest.mark.usefixtures("single_thread")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Appended to every README ``lps train``: the same experiment, two steps of a tiny model.
CHEAP_TRAIN = [
    "model.hidden=32",
    "symmetry.hidden=16",
    "symmetry.layers=1",
    "trainer.max_steps=2",
    "trainer.eval_every=2",
    "trainer.checkpoint_every=2",
    "trainer.log_every=1",
    "trainer.tracker=none",
    "trainer.progress=false",
    "data.num_train=16",
    "data.batch_size=8",
    "data.eval_batch_size=20",
    "symmetry.n_samples_eval=1",
    "eval.seeds=1",
    "eval.n_samples=1",
]

#: Tasks whose README commands are trained, with settings of their own that make them cheap,
#: by these test files (which name the config); here the README's config and overrides are
#: only loaded and checked, including the task's own ``task_args`` checks.
TRAINED_ELSEWHERE = {
    "soft_inertia": "tests/test_soft_train.py",
    "digits_rotated": "tests/test_train_digits.py",
    "digits_levels": "tests/test_train_digits.py",
    "np_gibbs": "tests/test_train_np.py",
    "digits_quadrants": "tests/test_marglik_train.py",
    "set_marglik": "tests/test_set_marglik_train.py",
}

#: Placeholders the README uses inside commands, and what a run substitutes for them.
PLACEHOLDERS = {"trainer.seed=S": "trainer.seed=0"}

#: Commands that set up an environment, install, or run this very suite.
EXEMPT = ("pip install", "python3 -m venv", ". .venv/bin/activate", "pytest")

_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")
_COMMAND_START = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S+\s+)*(?:lps|python3?|pip|accelerate)\s+\S")


def _fenced_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def readme_commands() -> list[str]:
    """The shell commands in README.md, in order, split at ``&&``, comments removed."""
    text = README.read_text()
    lines: list[str] = []
    for block in _fenced_blocks(text, "bash"):
        lines += [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`\n]+)`", prose):
        if _COMMAND_START.match(span):
            lines += [re.sub(r"\s+#.*$", "", span).strip()]
    commands = []
    for line in lines:
        commands += [part.strip() for part in line.split("&&") if part.strip()]
    return list(dict.fromkeys(commands))  # unique, in order


def _argv(command: str) -> list[str]:
    """The command's words without leading ``VAR=value`` environment assignments."""
    words = shlex.split(command)
    while words and _ENV.match(words[0]):
        words.pop(0)
    return words


def _is_synopsis(args: list[str]) -> bool:
    """A usage line such as ``lps train [CONFIG] [key=value ...]``."""
    return any("[" in a or a in ("CONFIG", "RUN_DIR", "...") for a in args)


def _help_exits_cleanly(call) -> None:
    with pytest.raises(SystemExit) as exit_info:
        call()
    assert exit_info.value.code in (0, None)


def _check_lps(args: list[str], tmp_path: Path, capsys, trained: dict[Path, str]) -> None:
    sub = args[0]
    if _is_synopsis(args):
        _help_exits_cleanly(lambda: main([sub, "--help"]))
        return
    parsed = build_parser().parse_args(args)  # every README command parses
    if sub == "train":
        config = [a for a in args[1:] if "=" not in a]
        for path in config:
            assert (ROOT / path).is_file(), f"README names a missing config {path}"
        overrides = [PLACEHOLDERS.get(a, a) for a in args[1:] if "=" in a]
        overrides = [a for a in overrides if not a.startswith("run_dir=")]
        full = load_config(config[0] if config else None, overrides)
        if full.task in TRAINED_ELSEWHERE:
            test_file = ROOT / TRAINED_ELSEWHERE[full.task]
            name = Path(config[0]).stem
            assert name in test_file.read_text(), f"{test_file.name} does not train {name}"
            return
        run_dir = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
        argv = ["train", *config, *overrides, *CHEAP_TRAIN, f"run_dir={run_dir}"]
        cfg = load_config(config[0] if config else None, argv[1 + len(config) :])
        resolved = (ROOT / config[0]).resolve() if config else packaged_config().resolve()
        if resolved in trained:  # the same YAML file already trained: validating is enough
            assert cfg.task == trained[resolved]
            return
        trained[resolved] = cfg.task
        assert main(argv) == 0, argv
        assert "test accuracy" in capsys.readouterr().out
        assert json.loads((run_dir / "metrics.json").read_text())["train"]["steps"] == 2
    elif sub == "evaluate":
        run_dir = ROOT / parsed.run_dir
        assert (run_dir / "checkpoints" / "best" / "model.safetensors").is_file()
        load_config(run_dir / "config.yaml", parsed.overrides)  # the overrides validate
    elif sub == "check":
        assert main(args) == 0
        assert "equivariant to tolerance" in capsys.readouterr().out
    elif sub == "bench":
        pass  # parsed above; `lps bench --quick` runs in tests/test_bench.py
    else:
        pytest.fail(f"README command `lps {' '.join(args)}` is not covered by this test")


def test_readme_has_the_commands_we_expect():
    commands = readme_commands()
    assert "lps train" in commands
    assert "lps train configs/exp_classify.yaml run_dir=/tmp/run trainer.max_steps=10" in commands
    assert any(c.startswith("python scripts/") for c in commands)
    assert any(c.startswith("lps evaluate lps/pretrained/") for c in commands)


def test_readme_commands_run_from_the_repo_root(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    trained: dict[Path, str] = {}  # config files already trained -> task
    for command in readme_commands():
        if command.startswith(EXEMPT):
            continue
        args = _argv(command)
        if args[0] == "lps":
            _check_lps(args[1:], tmp_path, capsys, trained)
        elif args[:3] == ["accelerate", "launch", "-m"] and args[3] == "lps":
            assert (ROOT / "lps" / "__main__.py").is_file()
            _check_lps(args[4:], tmp_path, capsys, trained)
        elif args[0] == "python" and args[1].startswith("scripts/"):
            script = ROOT / args[1]
            assert script.is_file(), f"README names a missing script {args[1]}"
            monkeypatch.setattr(sys, "argv", [str(script), "--help"])
            _help_exits_cleanly(lambda s=script: runpy.run_path(str(s), run_name="__main__"))
            capsys.readouterr()
        else:
            pytest.fail(f"README command `{command}` is not covered by this test")


def test_readme_python_examples_run():
    for block in _fenced_blocks(README.read_text(), "python"):
        exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})


def test_top_level_configs_are_the_packaged_configs():
    """``configs/`` is a link to ``lps/configs`` (one copy of each YAML, shipped in the wheel
    by the ``lps`` package-data in pyproject.toml), not a second set of files."""
    top, packaged = ROOT / "configs", ROOT / "lps" / "configs"
    assert top.is_symlink() and top.resolve() == packaged.resolve()
    names = sorted(p.name for p in packaged.glob("*.yaml"))
    assert "exp_classify.yaml" in names and len(names) > 10
    assert packaged_config().parent.resolve() == packaged.resolve()
    assert '"configs/*.yaml"' in (ROOT / "pyproject.toml").read_text()
